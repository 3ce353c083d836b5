//! A [`Localnet`] that owns its data directory: tests and `paywire up` start one in a
//! temporary directory and nothing of it outlives them.

use std::{
    fs::Permissions,
    ops::{Deref, DerefMut},
    os::unix::fs::PermissionsExt,
};

use crate::{
    files::{create_private_dir, DataDir},
    Localnet, LocalnetConfig, LocalnetError, LocalnetState,
};

/// A running [`Localnet`] (it derefs to one) with its data directory. Dropping it stops the
/// chains first and then, if the directory is temporary, removes it.
pub struct OwnedLocalnet {
    // Declared first, so dropped first: anvil and the servers stop before their files go.
    net: Localnet,
    dir: DataDir,
}

impl Localnet {
    /// [`Localnet::start`] with its data in `dir` (which replaces `config.data_dir`): the
    /// directory is private (0700) and every key file in it 0600. A failed start removes a
    /// temporary `dir` too.
    pub async fn start_in(
        dir: DataDir,
        mut config: LocalnetConfig,
        progress: impl Fn(&str),
    ) -> Result<OwnedLocalnet, LocalnetError> {
        create_private_dir(dir.path())?;
        config.data_dir = dir.path().to_path_buf();
        let net = Localnet::start(config, progress).await?;
        protect_key_files(&net.state)?;
        Ok(OwnedLocalnet { net, dir })
    }
}

/// Narrows the key files `state` names to 0600. `Localnet::start` writes them with the
/// process's umask; inside the 0700 data directory nobody else could reach them meanwhile.
fn protect_key_files(state: &LocalnetState) -> Result<(), LocalnetError> {
    let s = &state.solana;
    for path in [
        &s.admin_keypair,
        &s.treasury_keypair,
        &s.payer_keypair,
        &s.facilitator_keypair,
    ] {
        std::fs::set_permissions(path, Permissions::from_mode(0o600))?;
    }
    Ok(())
}

impl LocalnetConfig {
    /// Free ports for every server, `slot_time` slots, anvil (found, or installed with npm) when
    /// `evm`, for [`Localnet::start_in`], which sets the data directory (left empty here: with
    /// [`Localnet::start`], set `data_dir` first).
    pub fn free_ports(slot_time: std::time::Duration, evm: bool) -> Self {
        LocalnetConfig {
            rpc_port: 0,
            grpc_port: 0,
            evm_port: 0,
            slot_time,
            program: Default::default(),
            evm,
            evm_block_time: None,
            anvil: None,
            data_dir: Default::default(),
        }
    }
}

impl OwnedLocalnet {
    /// The data directory (key files; the caller may add its own).
    pub fn data_dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Deref for OwnedLocalnet {
    type Target = Localnet;
    fn deref(&self) -> &Localnet {
        &self.net
    }
}

impl DerefMut for OwnedLocalnet {
    fn deref_mut(&mut self) -> &mut Localnet {
        &mut self.net
    }
}
