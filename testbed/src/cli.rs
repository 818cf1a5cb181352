//! The `hookgate` binary, run as an operator runs it.

use std::path::PathBuf;
use std::process::{Command, Output};

/// The `hookgate` binary Cargo built beside the running test or bench
/// (`target/<profile>/hookgate`, where `CARGO_BIN_EXE_hookgate` points for
/// the root package's tests). `cargo test --workspace` builds it for the
/// load generator's tests too.
pub fn hookgate_binary() -> PathBuf {
    let running = std::env::current_exe().expect("the test's own path");
    // target/<profile>/deps/<test>-<hash>
    let profile_dir = running
        .parent()
        .and_then(std::path::Path::parent)
        .expect("a test binary under target/<profile>/deps");
    let binary = profile_dir.join(format!("hookgate{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.is_file(),
        "{} is missing: run the tests with `cargo test --workspace`, or `cargo build --bin hookgate` first",
        binary.display()
    );
    binary
}

/// `hookgate`, to be given its arguments.
pub fn hookgate_command() -> Command {
    Command::new(hookgate_binary())
}

/// `hookgate ARGS…`, run to its end.
pub fn hookgate(args: &[&str]) -> Ran {
    Ran::from(
        hookgate_command()
            .args(args)
            .output()
            .expect("hookgate runs"),
    )
}

/// How a command ended and what it printed.
#[derive(Debug)]
pub struct Ran {
    /// The exit code, -1 if a signal ended it.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn success(&self) -> bool {
        self.code == 0
    }

    /// Standard output, then standard error.
    pub fn printed(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

impl From<Output> for Ran {
    fn from(output: Output) -> Self {
        Self {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}
