//! The Base side of localnet: anvil as a child process, with a USDC look-alike deployed
//! (`evm/TestUSDC.sol`, EIP-3009, EIP-712 domain "USD Coin" / "2", 6 decimals).

use std::{net::TcpListener, path::PathBuf, process::Stdio, time::Duration};

use alloy::{
    network::EthereumWallet,
    primitives::{Address, U256},
    providers::{Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
    sol,
};
use tokio::process::Command;
use x402::eip3009::{self, Signed};

use crate::{process::ChildGuard, LocalnetError};

sol!(
    #[allow(missing_docs, clippy::too_many_arguments)]
    #[sol(rpc)]
    TestUSDC,
    "evm/TestUSDC.json"
);

/// `payer` authorizes moving `value` of the local USDC at `usdc` to `to` until `valid_before`
/// (unix seconds), with a fresh random nonce.
pub async fn authorize(
    payer: &PrivateKeySigner,
    usdc: Address,
    to: Address,
    value: u64,
    valid_before: u64,
) -> Signed {
    let message = Signed::message(payer.address(), to, U256::from(value), 0, valid_before);
    let domain = eip3009::domain("USD Coin", "2", CHAIN_ID, usdc);
    Signed::sign(payer, message, &domain)
        .await
        .expect("a local key signs")
}

/// Submits `auth` through the `bytes signature` overload (the one x402 facilitators use).
pub fn settle<'a, P: Provider>(
    usdc: &'a TestUSDC::TestUSDCInstance<P>,
    auth: &Signed,
) -> alloy::contract::SolCallBuilder<&'a P, TestUSDC::transferWithAuthorization_0Call> {
    let m = &auth.message;
    usdc.transferWithAuthorization_0(
        m.from,
        m.to,
        m.value,
        m.validAfter,
        m.validBefore,
        m.nonce,
        auth.signature.clone(),
    )
}

/// Chain id of Base Sepolia, so x402 clients know the network (`eip155:84532`).
pub const CHAIN_ID: u64 = 84_532;
/// anvil's first development account (public knowledge; for local use only): deploys and mints.
pub const DEPLOYER_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

#[derive(Clone, Debug)]
pub struct EvmConfig {
    /// Port for anvil's JSON-RPC (0 picks a free one).
    pub port: u16,
    /// The anvil binary; `None` looks for it (see [`find_anvil`]).
    pub anvil: Option<PathBuf>,
    /// Mine a block this often, with every transaction sent meanwhile, as a real chain does;
    /// `None` mines one block per transaction, at once.
    pub block_time: Option<std::time::Duration>,
}

/// A running anvil with TestUSDC deployed. Dropping it kills anvil.
pub struct EvmNode {
    pub rpc_url: String,
    pub usdc: Address,
    pub deployer: PrivateKeySigner,
    anvil: ChildGuard,
}

impl EvmNode {
    pub async fn start(config: EvmConfig) -> Result<Self, LocalnetError> {
        let anvil = match config.anvil {
            Some(path) => path,
            None => find_or_install_anvil().await?,
        };
        let port = if config.port == 0 {
            free_port()?
        } else {
            config.port
        };
        let mut command = std::process::Command::new(&anvil);
        command
            .args([
                "--port",
                &port.to_string(),
                "--chain-id",
                &CHAIN_ID.to_string(),
                "--silent",
            ])
            .args(
                config
                    .block_time
                    .map(|t| ["--block-time".to_string(), t.as_secs_f64().to_string()])
                    .into_iter()
                    .flatten(),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            // anvil must not hold our stderr: a test runner waits for every holder to close it.
            .stderr(Stdio::null());
        let child = ChildGuard::spawn(&mut command)
            .map_err(|e| LocalnetError::Evm(format!("could not start {}: {e}", anvil.display())))?;
        let rpc_url = format!("http://127.0.0.1:{port}");
        let deployer: PrivateKeySigner = DEPLOYER_KEY.parse().expect("valid key");
        let provider = ProviderBuilder::new()
            .wallet(EthereumWallet::from(deployer.clone()))
            .connect_http(rpc_url.parse().expect("valid url"));
        wait_until_ready(&provider).await?;
        let usdc = TestUSDC::deploy(&provider)
            .await
            .map_err(|e| LocalnetError::Evm(format!("deploying TestUSDC: {e}")))?;
        Ok(EvmNode {
            rpc_url,
            usdc: *usdc.address(),
            deployer,
            anvil: child,
        })
    }

    /// anvil's process id (its process group too).
    pub fn anvil_pid(&self) -> u32 {
        self.anvil.pid()
    }

    /// Mints `amount` (base units) of TestUSDC to `to`.
    pub async fn mint_usdc(&self, to: Address, amount: u64) -> Result<(), LocalnetError> {
        let provider = ProviderBuilder::new()
            .wallet(EthereumWallet::from(self.deployer.clone()))
            .connect_http(self.rpc_url.parse().expect("valid url"));
        TestUSDC::new(self.usdc, &provider)
            .mint(to, U256::from(amount))
            .send()
            .await
            .map_err(|e| LocalnetError::Evm(format!("mint: {e}")))?
            .get_receipt()
            .await
            .map_err(|e| LocalnetError::Evm(format!("mint receipt: {e}")))?;
        Ok(())
    }
}

async fn wait_until_ready(provider: &impl Provider) -> Result<(), LocalnetError> {
    for _ in 0..100 {
        if provider.get_chain_id().await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(LocalnetError::Evm("anvil did not answer within 5 s".into()))
}

fn free_port() -> Result<u16, LocalnetError> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// anvil's npm packages, pinned: installed into paywire's home, never into a source tree.
const PACKAGE_JSON: &str = include_str!("../evm/package.json");
const PACKAGE_LOCK: &str = include_str!("../evm/package-lock.json");

/// Where paywire keeps what it installs for itself: `$PAYWIRE_HOME`, else `~/.paywire`.
pub fn home() -> Result<PathBuf, LocalnetError> {
    if let Some(dir) = std::env::var_os("PAYWIRE_HOME") {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME")
        .ok_or_else(|| LocalnetError::Evm("HOME is not set: set PAYWIRE_HOME".into()))?;
    Ok(PathBuf::from(home).join(".paywire"))
}

fn tools_dir() -> Result<PathBuf, LocalnetError> {
    Ok(home()?.join("tools/evm"))
}

/// [`find_anvil`], and if it finds none, installs the pinned npm packages (anvil among them)
/// into `<home>/tools/evm` — one process at a time — and looks again.
pub async fn find_or_install_anvil() -> Result<PathBuf, LocalnetError> {
    if let Ok(path) = find_anvil() {
        return Ok(path);
    }
    let dir = tools_dir()?;
    std::fs::create_dir_all(&dir)?;
    let lock = std::fs::File::create(dir.join(".install.lock"))?;
    // Held until `lock` drops: other processes wait here, then find what this one installed.
    let lock = tokio::task::spawn_blocking(move || lock.lock().map(|()| lock))
        .await
        .map_err(|e| LocalnetError::Evm(format!("waiting for the anvil install: {e}")))??;
    if let Ok(path) = find_anvil() {
        return Ok(path);
    }
    eprintln!(
        "anvil not found; installing it with `npm ci --prefix {}` …",
        dir.display()
    );
    std::fs::write(dir.join("package.json"), PACKAGE_JSON)?;
    std::fs::write(dir.join("package-lock.json"), PACKAGE_LOCK)?;
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--prefix"])
        .arg(&dir)
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .status()
        .await
        .map_err(|e| {
            LocalnetError::Evm(format!("could not run npm ({e}); install Node.js and npm"))
        })?;
    drop(lock);
    if !status.success() {
        return Err(LocalnetError::Evm(format!(
            "`npm ci --prefix {}` failed ({status}); is the npm registry reachable?",
            dir.display()
        )));
    }
    find_anvil()
}

/// anvil from `PAYWIRE_ANVIL`, else the binary npm installed under `<home>/tools/evm`, else
/// `PATH`. The npm package's `.bin/anvil` is a node shim that starts the real binary as a
/// grandchild, which killing the shim would orphan; so the platform package's binary is used
/// directly.
pub fn find_anvil() -> Result<PathBuf, LocalnetError> {
    if let Some(p) = std::env::var_os("PAYWIRE_ANVIL") {
        return Ok(PathBuf::from(p));
    }
    let packages = tools_dir()?.join("node_modules/@foundry-rs");
    let bundled = std::fs::read_dir(&packages)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin/anvil"))
        .find(|p| p.is_file());
    let on_path = || {
        std::env::var_os("PATH")
            .into_iter()
            .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .map(|dir| dir.join("anvil"))
            .find(|p| p.is_file())
    };
    bundled.or_else(on_path).ok_or_else(|| {
        LocalnetError::Evm(
            "anvil not found: `paywire localnet` installs it into ~/.paywire/tools/evm with npm; \
             or put anvil on PATH, or set PAYWIRE_ANVIL"
                .into(),
        )
    })
}
