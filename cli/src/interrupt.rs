//! Ctrl-C, heard from the moment the process starts. tokio's `signal::ctrl_c()` only hears a
//! signal that arrives after it is first polled, and a command polls it only once it has
//! started its work: a Ctrl-C in between (a slow start, a busy machine) either killed the
//! process without its cleanup or, once any listener existed, was lost and left it running.

use std::sync::OnceLock;

use tokio::{
    signal::unix::{signal, SignalKind},
    sync::watch,
};

static INTERRUPTED: OnceLock<watch::Receiver<bool>> = OnceLock::new();

/// Starts listening for SIGINT. Call once, inside the runtime, before any command runs.
pub fn listen() -> std::io::Result<()> {
    // Registered now, not when first polled.
    let mut sigint = signal(SignalKind::interrupt())?;
    let (interrupted, receiver) = watch::channel(false);
    INTERRUPTED
        .set(receiver)
        .expect("interrupt::listen is called once");
    tokio::spawn(async move {
        sigint.recv().await;
        let _ = interrupted.send(true);
    });
    Ok(())
}

/// Resolves once Ctrl-C has been pressed — also if that was before this was called.
pub async fn ctrl_c() {
    let mut receiver = INTERRUPTED
        .get()
        .expect("interrupt::listen runs before any command")
        .clone();
    // An error means the listener is gone, which only happens once the runtime stops.
    let _ = receiver.wait_for(|&pressed| pressed).await;
}
