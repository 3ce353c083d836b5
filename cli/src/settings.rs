//! The CLI's own config file, like the Solana CLI's: defaults for the cluster, the keypair,
//! the gateway and the ledger used by `chat`, `model`, `crank` and `audit`. A flag or an
//! environment variable wins over the file, the file over the built-in default.
//! `paywire config get|set` reads and writes it.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

pub const DEFAULT_RPC_URL: &str = "http://127.0.0.1:8899";
pub const DEFAULT_GATEWAY: &str = "http://127.0.0.1:8402";

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Solana JSON-RPC of the cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpc_url: Option<String>,
    /// A Solana CLI keypair file: the creator, the paying agent, the crank's fee payer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keypair: Option<PathBuf>,
    /// The gateway's base URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// Postgres holding the ledger.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
}

/// `$XDG_CONFIG_HOME/paywire/cli.toml`, else `~/.config/paywire/cli.toml`.
pub fn default_path() -> anyhow::Result<PathBuf> {
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(
            std::env::var_os("HOME").context("HOME is not set: pass --config <file>")?,
        )
        .join(".config"),
    };
    Ok(base.join("paywire/cli.toml"))
}

/// Solana CLI cluster monikers (`localhost`, `devnet`, `testnet`, `mainnet-beta`, or their
/// first letters) to their JSON-RPC URLs; anything else is taken as a URL.
pub fn cluster_url(moniker_or_url: &str) -> String {
    match moniker_or_url {
        "l" | "localhost" => DEFAULT_RPC_URL.into(),
        "d" | "devnet" => "https://api.devnet.solana.com".into(),
        "t" | "testnet" => "https://api.testnet.solana.com".into(),
        "m" | "mainnet-beta" => "https://api.mainnet-beta.solana.com".into(),
        url => url.into(),
    }
}

/// `~/…` as the home directory (config files are often written by hand).
fn expand_home(path: &Path) -> PathBuf {
    match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => path.to_path_buf(),
    }
}

impl Settings {
    /// The file at `path`; no file means no defaults.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let mut settings: Settings = toml::from_str(&text).with_context(|| {
            format!(
                "{} is not a paywire CLI config (keys: rpc_url, keypair, gateway, database_url); \
                 fix it or rewrite it with `paywire config set`",
                path.display()
            )
        })?;
        settings.keypair = settings.keypair.map(|k| expand_home(&k));
        Ok(settings)
    }

    /// Writes the file whole (through a temporary file, so a reader never sees half of it).
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        // 0600: it may hold a database password.
        localnet::files::replace_private(path, toml::to_string(self)?.as_bytes())
            .with_context(|| format!("writing {}", path.display()))
    }

    pub fn rpc_url(&self, flag: Option<String>) -> String {
        cluster_url(
            &flag
                .or_else(|| self.rpc_url.clone())
                .unwrap_or_else(|| DEFAULT_RPC_URL.into()),
        )
    }

    pub fn keypair(&self, flag: Option<PathBuf>) -> Option<PathBuf> {
        flag.or_else(|| self.keypair.clone())
    }

    /// The keypair, or an error saying how to give one.
    pub fn required_keypair(&self, flag: Option<PathBuf>) -> anyhow::Result<PathBuf> {
        self.keypair(flag).context(
            "this command signs: pass --keypair <file> (a Solana CLI keypair file) \
             or set a default with `paywire config set --keypair <file>`",
        )
    }

    pub fn gateway(&self, flag: Option<String>) -> String {
        flag.or_else(|| self.gateway.clone())
            .unwrap_or_else(|| DEFAULT_GATEWAY.into())
    }

    pub fn database_url(&self, flag: Option<String>) -> Option<String> {
        flag.or_else(|| self.database_url.clone())
    }
}
