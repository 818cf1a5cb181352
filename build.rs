//! Build-time facts the binary reports, and features it must not lose.
//!
//! - `HOOKGATE_COMMIT`: the commit built (`hookgate_build_info{commit}`,
//!   `--version`), from `HOOKGATE_COMMIT` in the environment (set it where
//!   there is no `.git`, e.g. in an image build) or `git rev-parse`.
//! - librdkafka must be configured with libcurl: without it, OAUTHBEARER's
//!   OIDC token fetch is silently left out and `sasl.oauthbearer.method = oidc`
//!   fails on the machine it is deployed to, not here.

use std::env;
use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=HOOKGATE_COMMIT");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    println!("cargo:rustc-env=HOOKGATE_COMMIT={}", commit());
    require_oidc();
}

fn commit() -> String {
    // A commit is a word: whatever else would end up as a cargo directive.
    let word = |text: &str| -> String {
        text.trim()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .collect()
    };
    if let Ok(commit) = env::var("HOOKGATE_COMMIT")
        && !word(&commit).is_empty()
    {
        return word(&commit);
    }
    Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|commit| word(&commit))
        .filter(|commit| !commit.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// rdkafka-sys builds librdkafka in its `OUT_DIR` (passed here as
/// `DEP_RDKAFKA_ROOT`); its `config.h` says what configure found.
fn require_oidc() {
    let Ok(root) = env::var("DEP_RDKAFKA_ROOT") else {
        // Linked dynamically against a system librdkafka: nothing to read
        // here; `hookgate check-config` lists what that library has.
        return;
    };
    let config = Path::new(&root).join("config.h");
    println!("cargo:rerun-if-changed={}", config.display());
    let text = std::fs::read_to_string(&config).unwrap_or_else(|err| {
        panic!(
            "cannot read {} to check that librdkafka was built with libcurl: {err}",
            config.display()
        )
    });
    if !text.contains("#define WITH_OAUTHBEARER_OIDC 1") {
        panic!(
            "librdkafka was configured without libcurl, so this build would have no \
             OAUTHBEARER/OIDC support (see {}). Install libcurl's development files \
             (Debian: apt-get install libcurl4-openssl-dev; scripts/setup.sh does) and \
             run `cargo clean -p rdkafka-sys` before building again.",
            config.display()
        );
    }
}
