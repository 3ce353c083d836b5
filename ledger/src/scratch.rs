//! Throwaway databases for benchmarks: created on the server of a URL, dropped afterwards.

use sqlx::{Connection, PgConnection};

use crate::LedgerError;

pub struct ScratchDatabase {
    admin: PgConnection,
    name: String,
    /// The URL of the new database.
    pub url: String,
}

impl ScratchDatabase {
    /// Creates `<prefix>_<pid>` on the server `server_url` points at (needs CREATE DATABASE).
    pub async fn create(server_url: &str, prefix: &str) -> Result<Self, LedgerError> {
        let name = format!("{prefix}_{}", std::process::id());
        let mut admin =
            PgConnection::connect(server_url)
                .await
                .map_err(|e| LedgerError::Connect {
                    url: crate::redact(server_url),
                    source: e,
                })?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut admin)
            .await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await?;
        Ok(ScratchDatabase {
            url: with_database(server_url, &name),
            admin,
            name,
        })
    }

    pub async fn drop(mut self) -> Result<(), LedgerError> {
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut self.admin)
        .await?;
        Ok(())
    }
}

/// `url` pointing at database `name` instead.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let base = match base.rfind('/') {
        Some(slash) if slash > base.find("//").map_or(0, |i| i + 1) => &base[..slash],
        _ => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}
