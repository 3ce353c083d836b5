//! Postgres for `paywire up`: the server `DATABASE_URL` names, or a throwaway cluster made
//! with this machine's own `initdb`/`pg_ctl` in a temporary directory and removed on exit.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use tempfile::TempDir;

use anyhow::{bail, Context};

pub enum Postgres {
    External(String),
    Throwaway {
        url: String,
        /// Removed (after the drop stops the cluster) whether or not the cluster ever started.
        dir: TempDir,
        pg_ctl: PathBuf,
        as_user: Option<String>,
    },
}

impl Postgres {
    pub fn url(&self) -> &str {
        match self {
            Postgres::External(url) | Postgres::Throwaway { url, .. } => url,
        }
    }

    /// `database_url` if given; otherwise a new cluster on a free port.
    pub fn start(database_url: Option<String>, progress: &impl Fn(&str)) -> anyhow::Result<Self> {
        if let Some(url) = database_url {
            return Ok(Postgres::External(url));
        }
        let (initdb, pg_ctl) = binaries().context(
            "no DATABASE_URL and no PostgreSQL binaries (initdb, pg_ctl) found: set DATABASE_URL to a \
             Postgres you can use, or install PostgreSQL (Debian: apt install postgresql)",
        )?;
        // initdb refuses to run as root: run the cluster as the postgres system user then.
        let as_user = is_root().then(|| "postgres".to_string());
        let dir = localnet::files::temp_dir("paywire-pg-")?;
        if let Some(user) = &as_user {
            run(Command::new("chown").args([user.as_str(), &dir.path().display().to_string()]))?;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        progress(&format!(
            "creating a throwaway Postgres cluster in {} (port {port})",
            dir.path().display()
        ));
        // Owned from here on: if initdb or the start fails, the drop stops whatever started
        // and removes the directory.
        let postgres = Postgres::Throwaway {
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            dir,
            pg_ctl,
            as_user,
        };
        let Postgres::Throwaway {
            dir,
            pg_ctl,
            as_user,
            ..
        } = &postgres
        else {
            unreachable!("made just above")
        };
        let data = dir.path().join("data");
        run(command(as_user, &initdb).arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
        ]))?;
        run(command(as_user, pg_ctl)
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.path().join("log"))
            .arg("-o")
            .arg(format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1",
                dir.path().display()
            ))
            .args(["-w", "start"]))?;
        Ok(postgres)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Postgres::Throwaway {
            dir,
            pg_ctl,
            as_user,
            ..
        } = self
        {
            let _ = command(as_user, pg_ctl)
                .arg("-D")
                .arg(dir.path().join("data"))
                .args(["-m", "fast", "-w", "stop"])
                .output();
            // The TempDir field removes the directory once this returns.
        }
    }
}

fn command(as_user: &Option<String>, program: &Path) -> Command {
    match as_user {
        Some(user) => {
            let mut c = Command::new("runuser");
            c.args(["-u", user, "--"]).arg(program);
            c
        }
        None => Command::new(program),
    }
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let out = command
        .output()
        .with_context(|| format!("running {command:?}"))?;
    if !out.status.success() {
        bail!(
            "{command:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"))
}

/// `initdb` and `pg_ctl` from PATH or Debian's /usr/lib/postgresql/<version>/bin (newest).
fn binaries() -> Option<(PathBuf, PathBuf)> {
    let on_path = |name: &str| {
        std::env::split_paths(&std::env::var_os("PATH")?)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    };
    if let (Some(i), Some(p)) = (on_path("initdb"), on_path("pg_ctl")) {
        return Some((i, p));
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .map(|e| e.path().join("bin"))
        .collect();
    versions.sort();
    let bin = versions
        .into_iter()
        .rev()
        .find(|b| b.join("initdb").is_file() && b.join("pg_ctl").is_file())?;
    Some((bin.join("initdb"), bin.join("pg_ctl")))
}
