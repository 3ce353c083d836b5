//! Which model-vault the local bank runs: the one compiled into this binary (native), or an SBF
//! build (`../shared/sbf/build.sh` writes `target/deploy/model_vault.so`), so a local run can
//! exercise the real binary: its compute budgets, its stack, its syscalls.

use std::{
    fmt,
    path::{Path, PathBuf},
    time::SystemTime,
};

use crate::LocalnetError;

/// Where an SBF build of model-vault is found, relative to a checkout.
pub const SBF_BUILD: &str = "target/deploy/model_vault.so";
/// The program's sources, relative to a checkout: an SBF build older than any of them is stale.
const SOURCES: &str = "programs/model-vault";

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ProgramBuild {
    /// model-vault as compiled into this binary, run by program-test as a builtin.
    #[default]
    Native,
    /// An SBF shared object, run by the bank's VM.
    Sbf(PathBuf),
}

impl ProgramBuild {
    /// Reads `--program`: `native`, `auto` (the SBF build of the checkout at `root` when it is
    /// newer than every source file of the program, else native), or the path of a `.so`.
    /// Returns the choice and, for the operator, why.
    pub fn choose(arg: &str, root: &Path) -> Result<(Self, String), LocalnetError> {
        match arg {
            "native" => Ok((ProgramBuild::Native, "native, as asked".into())),
            "auto" => Ok(Self::auto(root)),
            path => {
                let path = PathBuf::from(path);
                if !path.is_file() {
                    return Err(LocalnetError::Invalid(format!(
                        "--program {}: no such file (build one with ../shared/sbf/build.sh, or pass `native` or `auto`)",
                        path.display()
                    )));
                }
                Ok((ProgramBuild::Sbf(path), "as asked".into()))
            }
        }
    }

    fn auto(root: &Path) -> (Self, String) {
        let so = root.join(SBF_BUILD);
        let Some(built) = modified(&so) else {
            return (
                ProgramBuild::Native,
                format!("no SBF build at {SBF_BUILD}; ../shared/sbf/build.sh makes one"),
            );
        };
        match newest_source(&root.join(SOURCES)) {
            Some((changed, file)) if changed > built => (
                ProgramBuild::Native,
                format!(
                    "{SBF_BUILD} is older than {}; rebuild it with ../shared/sbf/build.sh",
                    file.strip_prefix(root).unwrap_or(&file).display()
                ),
            ),
            Some(_) => (ProgramBuild::Sbf(so), "newer than every source file".into()),
            None => (
                ProgramBuild::Sbf(so),
                format!("found no sources in {SOURCES} to check it against"),
            ),
        }
    }

    /// The ELF to load, checked to be one.
    pub(crate) fn elf(&self) -> Result<Option<Vec<u8>>, LocalnetError> {
        let ProgramBuild::Sbf(path) = self else {
            return Ok(None);
        };
        let elf = std::fs::read(path).map_err(|e| {
            LocalnetError::Invalid(format!("reading the SBF build {}: {e}", path.display()))
        })?;
        if !elf.starts_with(b"\x7fELF") {
            return Err(LocalnetError::Invalid(format!(
                "{} is not an ELF shared object: build it with ../shared/sbf/build.sh",
                path.display()
            )));
        }
        Ok(Some(elf))
    }
}

impl fmt::Display for ProgramBuild {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProgramBuild::Native => f.write_str("native"),
            ProgramBuild::Sbf(path) => write!(f, "SBF build {}", path.display()),
        }
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).ok()?.modified().ok()
}

/// The most recently modified file under `dir` (recursively), skipping build output.
fn newest_source(dir: &Path) -> Option<(SystemTime, PathBuf)> {
    let mut newest: Option<(SystemTime, PathBuf)> = None;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                if entry.file_name() != "target" {
                    pending.push(path);
                }
            } else if let Some(time) = modified(&path) {
                if newest.as_ref().is_none_or(|(t, _)| time > *t) {
                    newest = Some((time, path));
                }
            }
        }
    }
    newest
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn touch(path: &Path, at: SystemTime) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let file = std::fs::File::create(path).unwrap();
        file.set_modified(at).unwrap();
    }

    #[test]
    fn auto_takes_the_sbf_build_only_while_it_is_newer_than_the_sources() {
        let root = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let source = root.path().join(SOURCES).join("src/instructions/buy.rs");
        touch(&source, now - Duration::from_secs(60));

        let (build, why) = ProgramBuild::choose("auto", root.path()).unwrap();
        assert_eq!(build, ProgramBuild::Native);
        assert!(why.contains("no SBF build"), "{why}");

        let so = root.path().join(SBF_BUILD);
        touch(&so, now);
        let (build, _) = ProgramBuild::choose("auto", root.path()).unwrap();
        assert_eq!(build, ProgramBuild::Sbf(so.clone()));

        // A source edited after the build: the build no longer is the program.
        touch(&source, now + Duration::from_secs(1));
        let (build, why) = ProgramBuild::choose("auto", root.path()).unwrap();
        assert_eq!(build, ProgramBuild::Native);
        assert!(why.contains("src/instructions/buy.rs"), "{why}");

        // Asked by path, it is taken as it is; `native` is native.
        let (build, _) = ProgramBuild::choose(so.to_str().unwrap(), root.path()).unwrap();
        assert_eq!(build, ProgramBuild::Sbf(so));
        let (build, _) = ProgramBuild::choose("native", root.path()).unwrap();
        assert_eq!(build, ProgramBuild::Native);
    }

    #[test]
    fn a_missing_or_foreign_file_is_a_clear_error() {
        let root = tempfile::tempdir().unwrap();
        let err = ProgramBuild::choose("nope.so", root.path()).unwrap_err();
        assert!(err.to_string().contains("no such file"), "{err}");

        let text = root.path().join("model_vault.so");
        std::fs::write(&text, "not a program").unwrap();
        let (build, _) = ProgramBuild::choose(text.to_str().unwrap(), root.path()).unwrap();
        let err = build.elf().unwrap_err();
        assert!(err.to_string().contains("not an ELF"), "{err}");
    }
}
