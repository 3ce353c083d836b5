//! Files that hold secrets, and the directories that hold them: key files are created 0600
//! (as the Solana CLI writes them) so no other user of the machine can read a key, and
//! temporary directories are removed by whoever owns them, on every path out.

use std::{
    fs::{DirBuilder, OpenOptions, Permissions},
    io::Write,
    os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};

use solana_keypair::Keypair;

use crate::LocalnetError;

/// Writes `contents` to `path`, readable and writable by its owner only (0600), also when the
/// file existed with wider permissions: they are narrowed before the secret is written.
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.set_permissions(Permissions::from_mode(0o600))?;
    file.write_all(contents)
}

/// [`write_private`] to `<path>.partial`, then renamed over `path`, so a reader never sees
/// half a file.
pub fn replace_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    write_private(Path::new(&partial), contents)?;
    std::fs::rename(&partial, path)
}

/// Writes `keypair` to `path` in the Solana CLI's format (a JSON array of the 64 secret-key
/// bytes), mode 0600.
pub fn write_keypair(path: &Path, keypair: &Keypair) -> Result<(), LocalnetError> {
    let bytes: Vec<u8> = keypair.to_bytes().to_vec();
    write_private(
        path,
        serde_json::to_string(&bytes)
            .expect("bytes serialize")
            .as_bytes(),
    )?;
    Ok(())
}

/// Creates `path` and its missing parents, each new one private to its owner (0700).
pub fn create_private_dir(path: &Path) -> std::io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(path)
}

/// A new directory `<temp dir>/<prefix>XXXXXX` (0700), removed with everything in it when the
/// returned handle is dropped.
pub fn temp_dir(prefix: &str) -> std::io::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(prefix)
        .permissions(Permissions::from_mode(0o700))
        .tempdir()
}

/// Where a [`crate::Localnet`] keeps its key files.
#[derive(Debug)]
pub enum DataDir {
    /// The caller's directory (created 0700 if missing), left in place when the chains stop.
    Kept(PathBuf),
    /// A fresh temporary directory, removed when the localnet that owns it is dropped.
    Temporary(tempfile::TempDir),
}

impl DataDir {
    /// A fresh temporary data directory named `<prefix>XXXXXX` (see [`temp_dir`]).
    pub fn temporary(prefix: &str) -> Result<Self, LocalnetError> {
        Ok(DataDir::Temporary(temp_dir(prefix)?))
    }

    pub fn path(&self) -> &Path {
        match self {
            DataDir::Kept(path) => path,
            DataDir::Temporary(dir) => dir.path(),
        }
    }
}
