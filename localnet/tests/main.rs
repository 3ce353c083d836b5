//! localnet's test suite: production clients against the local chains.

mod evm;
mod grpc;
mod rpc;

/// program-test logs every instruction at debug level unless RUST_LOG says otherwise.
fn quiet_runtime_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("RUST_LOG").is_none() {
            // SAFETY: runs once, before program-test starts its logger.
            unsafe { std::env::set_var("RUST_LOG", "error") };
        }
    });
}
