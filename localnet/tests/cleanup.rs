//! Nothing of a localnet outlives it: anvil dies with its owner (dropped, or panicking), a
//! temporary data directory goes with it, and every key file it writes is private (0600).

use std::{os::unix::fs::PermissionsExt, path::Path, time::Duration};

use localnet::{
    evm::{EvmConfig, EvmNode},
    DataDir, Localnet, LocalnetConfig, OwnedLocalnet,
};

fn config(evm: bool) -> LocalnetConfig {
    localnet::quiet_runtime_logs();
    LocalnetConfig::free_ports(Duration::from_millis(50), evm)
}

/// A localnet in a temporary data directory.
async fn start(evm: bool) -> OwnedLocalnet {
    let dir = DataDir::temporary("paywire-test-").unwrap();
    Localnet::start_in(dir, config(evm), |_| {}).await.unwrap()
}

/// Whether `pid` is a live (not zombie) anvil. Checked by name too, so a recycled pid is not
/// mistaken for it.
fn anvil_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // "<pid> (<comm>) <state> …"
    let (comm, state) = stat
        .split_once(" (")
        .and_then(|(_, rest)| rest.rsplit_once(") "))
        .map(|(comm, rest)| (comm, rest.chars().next()))
        .unwrap_or_default();
    comm == "anvil" && state != Some('Z')
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread")]
async fn dropping_a_localnet_kills_anvil_and_removes_its_temporary_data_dir() {
    let net = start(true).await;
    let pid = net.evm.as_ref().expect("anvil started").anvil_pid();
    let dir = net.data_dir().to_path_buf();
    assert!(anvil_alive(pid), "anvil {pid} runs while the localnet does");
    assert!(dir.join("payer.json").is_file());

    drop(net);
    // The drop kills and reaps anvil before it returns: no waiting.
    assert!(!anvil_alive(pid), "anvil {pid} outlived its localnet");
    assert!(!dir.exists(), "{} outlived its localnet", dir.display());
}

#[test]
fn anvil_dies_when_its_owner_panics() {
    let (tx, rx) = std::sync::mpsc::channel();
    let owner = std::thread::spawn(move || {
        tokio::runtime::Runtime::new().unwrap().block_on(async {
            let evm = EvmNode::start(EvmConfig {
                port: 0,
                anvil: None,
                block_time: None,
            })
            .await
            .unwrap();
            tx.send(evm.anvil_pid()).unwrap();
            panic!("the owner of anvil fails");
        })
    });
    assert!(owner.join().is_err(), "the owner panicked");
    let pid = rx.recv().unwrap();
    assert!(
        !anvil_alive(pid),
        "anvil {pid} outlived its panicking owner"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn key_files_written_by_localnet_are_private() {
    let net = start(false).await;
    assert_eq!(mode(net.data_dir()), 0o700, "the data directory");
    let s = &net.state.solana;
    let key_files = [
        &s.admin_keypair,
        &s.treasury_keypair,
        &s.payer_keypair,
        &s.facilitator_keypair,
    ];
    for path in key_files {
        assert_eq!(mode(path), 0o600, "{}", path.display());
    }
    let json_files = std::fs::read_dir(net.data_dir())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension() == Some("json".as_ref()))
        .count();
    assert_eq!(json_files, key_files.len(), "every key file is checked");

    // The helper every key writer uses narrows a file that existed readable by others.
    let existing = net.data_dir().join("existing.json");
    std::fs::write(&existing, "old").unwrap();
    std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(0o644)).unwrap();
    localnet::write_keypair(&existing, &solana_keypair::Keypair::new()).unwrap();
    assert_eq!(mode(&existing), 0o600);
    assert_eq!(
        localnet::read_keypair(&existing).unwrap().to_bytes().len(),
        64
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_start_removes_its_temporary_data_dir() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = DataDir::temporary("paywire-test-").unwrap();
    let path = dir.path().to_path_buf();
    let mut config = config(false);
    config.rpc_port = taken.local_addr().unwrap().port();
    let started = Localnet::start_in(dir, config, |_| {}).await;
    assert!(started.is_err(), "the JSON-RPC port is taken");
    assert!(
        !path.exists(),
        "{} outlived the failed start",
        path.display()
    );
}
