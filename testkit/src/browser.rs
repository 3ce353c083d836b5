//! Headless Chromium (Debian's `chromium`, or `PAYWIRE_CHROMIUM`) for tests of paywire's web
//! pages: the DOM of a page after its scripts ran.

use std::path::PathBuf;

use localnet::LocalnetError;

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
/// Chromium runs in its own process group with a fresh profile: neither its helper processes
/// nor the profile outlive the call (or its cancellation).
pub async fn rendered_dom(url: &str) -> Result<String, LocalnetError> {
    // A fresh profile, so parallel runs never share Chromium's profile lock.
    let profile = localnet::files::temp_dir("paywire-chromium-")?;
    let child = tokio::process::Command::new(chromium()?)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--dump-dom", url])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()?;
    // Dropped after the browser exits, or when this future is: takes its helpers (zygote,
    // crashpad) along.
    let _group = child.id().map(KillGroup);
    let output = child.wait_with_output().await?;
    if !output.status.success() {
        return Err(LocalnetError::Invalid(format!(
            "chromium failed on {url}: {}",
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    String::from_utf8(output.stdout)
        .map_err(|e| LocalnetError::Invalid(format!("the DOM of {url} is not UTF-8: {e}")))
}

/// Kills the process group led by this process id when dropped.
struct KillGroup(u32);

impl Drop for KillGroup {
    fn drop(&mut self) {
        localnet::process::kill_group(self.0);
    }
}
