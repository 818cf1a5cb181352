//! The `hookgate` binary's contract: `check-config` exits 0 with a summary, or 2
//! naming every bad field without printing secrets.

use std::process::Command;

fn hookgate(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .args(args)
        .output()
        .expect("hookgate runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn check_config_summarises_the_example() {
    let (code, stdout, _) = hookgate(&["check-config", "--config", "examples/hookgate.toml"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("configuration OK"), "{stdout}");
    assert!(
        stdout.contains("/webhooks/github") && stdout.contains("header:x-github-delivery"),
        "{stdout}"
    );
}

#[test]
fn check_config_names_every_bad_field_and_never_a_secret() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("sw.secret"), "whsec_not*base64*hunter2").expect("secret");
    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        r#"
        [kafka]
        brokers = "127.0.0.1:9092"
        [[sources]]
        name = "sw"
        path = "/sw"
        verifier = "standard-webhooks"
        secrets = ["file:sw.secret"]
        topic = "t"
        [[sources]]
        name = "gh"
        path = "/gh"
        verifier = "github"
        secrets = ["env:HOOKGATE_IT_SURELY_UNSET"]
        topic = "t"
        "#,
    )
    .expect("config");
    let (code, _, stderr) = hookgate(&[
        "check-config",
        "--config",
        config.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(
            "sources[0].secrets[0]: a Standard Webhooks secret is `whsec_` followed by base64"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "sources[1].secrets[0]: environment variable HOOKGATE_IT_SURELY_UNSET is not set"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "a secret leaked: {stderr}");
}

#[test]
fn help_documents_both_commands() {
    let (code, stdout, _) = hookgate(&["--help"]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("serve") && stdout.contains("check-config"),
        "{stdout}"
    );
}
