//! Secrets: where they come from (`env:NAME`, `file:PATH`) and a type that never prints them.

use std::fmt;
use std::path::{Path, PathBuf};

/// Key material for a signature scheme.
///
/// `Debug` is redacted and there is no `Display`, so a secret cannot reach a log
/// line, an error message or a panic by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Box<[u8]>);

impl Secret {
    /// Wraps raw key bytes.
    pub fn new(bytes: impl Into<Box<[u8]>>) -> Self {
        Self(bytes.into())
    }

    /// The key bytes, for keying a MAC. Never log what this returns.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Why a secret reference could not be resolved. Messages name the variable or
/// file, never the value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("expected `env:NAME` or `file:PATH` (secrets are never written inline in the config)")]
    UnknownScheme,
    #[error("environment variable {0} is not set")]
    EnvMissing(String),
    #[error("environment variable {0} is not valid UTF-8")]
    EnvNotUnicode(String),
    #[error("cannot read secret file {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the secret is empty")]
    Empty,
}

/// Resolves `env:NAME` or `file:PATH` (relative paths are taken from `base_dir`,
/// the config file's folder). Surrounding whitespace, such as the newline an editor
/// leaves at the end of a file, is not part of the secret.
pub fn resolve(reference: &str, base_dir: &Path) -> Result<Secret, SecretError> {
    let raw = if let Some(name) = reference.strip_prefix("env:") {
        std::env::var(name).map_err(|err| match err {
            std::env::VarError::NotPresent => SecretError::EnvMissing(name.to_owned()),
            std::env::VarError::NotUnicode(_) => SecretError::EnvNotUnicode(name.to_owned()),
        })?
    } else if let Some(path) = reference.strip_prefix("file:") {
        let path = base_dir.join(path);
        std::fs::read_to_string(&path).map_err(|source| SecretError::File { path, source })?
    } else {
        return Err(SecretError::UnknownScheme);
    };
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(SecretError::Empty);
    }
    Ok(Secret::new(trimmed.as_bytes()))
}

/// A setting that may be kept apart as a secret (a Kafka client property
/// such as `sasl.password`): `env:NAME` or `file:PATH` is read from there,
/// as text; any other value is the setting itself. The error never shows a
/// value.
pub fn resolve_setting(value: &str, base_dir: &Path) -> Result<String, String> {
    if !(value.starts_with("env:") || value.starts_with("file:")) {
        return Ok(value.to_owned());
    }
    let secret = resolve(value, base_dir).map_err(|err| err.to_string())?;
    String::from_utf8(secret.expose().to_vec())
        .map_err(|_| "the value is not UTF-8 text".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_key() {
        let secret = Secret::new(b"hunter2".as_slice());
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
        assert!(!format!("{:?}", vec![secret]).contains("hunter2"));
    }

    #[test]
    fn file_secrets_are_trimmed_and_relative_to_the_config() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("gh.secret"), "s3cret\n").expect("write");
        let secret = resolve("file:gh.secret", dir.path()).expect("resolves");
        assert_eq!(secret.expose(), b"s3cret");
    }

    #[test]
    fn bad_references_say_what_is_wrong_without_the_value() {
        assert!(matches!(
            resolve("hunter2", Path::new(".")),
            Err(SecretError::UnknownScheme)
        ));
        let err = resolve("env:HOOKGATE_TEST_SURELY_UNSET", Path::new(".")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable HOOKGATE_TEST_SURELY_UNSET is not set"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("empty"), "\n").expect("write");
        assert!(matches!(
            resolve("file:empty", dir.path()),
            Err(SecretError::Empty)
        ));
    }
}
