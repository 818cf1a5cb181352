//! The programs the tests run beside hookgate: where `scripts/setup.sh` put
//! them, and signals to the processes they start.

use std::path::PathBuf;
use std::process::{Child, Command};

/// A program `scripts/setup.sh` installs: `$env` if set, else on `PATH`, in
/// the project's tool folder (`$HOOKGATE_TOOLS` or `~/.cache/hookgate/tools`),
/// or where `cargo install` puts it.
pub fn installed(program: &str, env: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(env) {
        return PathBuf::from(path);
    }
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .chain(Some(tools_dir().join("bin")))
        .chain(cargo_home.map(|c| c.join("bin")))
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("{program} is not installed: run scripts/setup.sh"))
}

/// The project's tool folder, where `scripts/setup.sh` puts what it installs
/// from PyPI and npm: `$HOOKGATE_TOOLS`, else `~/.cache/hookgate/tools`.
pub fn tools_dir() -> PathBuf {
    std::env::var_os("HOOKGATE_TOOLS")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/hookgate/tools"))
        })
        .unwrap_or_else(|| PathBuf::from(".cache/hookgate/tools"))
}

/// `kill -SIGNAL` to a child process: `-STOP`, `-CONT`, `-TERM`, `-HUP`.
pub fn send_signal(child: &Child, signal: &str) {
    let pid = child.id().to_string();
    let status = Command::new("kill")
        .args([signal, &pid])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {signal} {pid}");
}
