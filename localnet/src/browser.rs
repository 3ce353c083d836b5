//! Headless Chromium (Debian's `chromium`, or `PAYWIRE_CHROMIUM`) for tests of paywire's web
//! pages: the DOM of a page after its scripts ran.

use std::path::PathBuf;

use crate::LocalnetError;

/// The Chromium binary: `PAYWIRE_CHROMIUM`, else `/usr/bin/chromium`.
fn chromium() -> Result<PathBuf, LocalnetError> {
    let path = std::env::var_os("PAYWIRE_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/usr/bin/chromium".into());
    if path.exists() {
        Ok(path)
    } else {
        Err(LocalnetError::Invalid(format!(
            "{} not found: install Debian's chromium (`apt-get install chromium`, as .ci/run does) \
             or point PAYWIRE_CHROMIUM at a Chromium binary",
            path.display()
        )))
    }
}

/// Loads `url` in headless Chromium and returns the DOM once its scripts have run. Virtual
/// time (5 s) stops while requests are in flight, so answers of the page's API arrive first.
pub async fn rendered_dom(url: &str) -> Result<String, LocalnetError> {
    let profile = tempdir()?;
    let output = tokio::process::Command::new(chromium()?)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--dump-dom", url])
        .output()
        .await;
    let _ = std::fs::remove_dir_all(&profile);
    let output = output?;
    if !output.status.success() {
        return Err(LocalnetError::Invalid(format!(
            "chromium failed on {url}: {}",
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    String::from_utf8(output.stdout)
        .map_err(|e| LocalnetError::Invalid(format!("the DOM of {url} is not UTF-8: {e}")))
}

/// A fresh profile directory, so parallel runs never share Chromium's profile lock.
fn tempdir() -> Result<PathBuf, LocalnetError> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!("paywire-chromium-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
