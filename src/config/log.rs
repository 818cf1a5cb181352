//! `[log]`: the log's format, filter and how many accepted deliveries get a
//! line, set once at start-up.

use std::fmt;
use std::num::NonZeroU64;

use serde::{Deserialize, Serialize};

/// `[log]`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` for people, `json` or `logfmt` for log pipelines.
    pub format: LogFormat,
    /// A tracing filter such as `info` or `hookgate=debug`; `RUST_LOG` overrides it.
    pub level: String,
    /// Which accepted (and duplicate) deliveries get a log line: `all`,
    /// `none`, or `1/N` (one in N). Refusals are always logged.
    pub accepted: Sampling,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".into(),
            accepted: Sampling::All,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
    Logfmt,
}

/// `[log] accepted`: one line per accepted delivery costs a formatted line
/// at tens of thousands a second; a sample keeps the log readable and cheap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub enum Sampling {
    All,
    None,
    /// One line in this many.
    OneIn(NonZeroU64),
}

impl Sampling {
    /// One in how many gets a line: 1 for all, `None` for none.
    pub fn one_in(self) -> Option<NonZeroU64> {
        match self {
            Self::All => Some(NonZeroU64::MIN),
            Self::None => None,
            Self::OneIn(n) => Some(n),
        }
    }
}

impl TryFrom<String> for Sampling {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let refused = || {
            format!(
                "{text:?} is none of \"all\", \"none\" or \"1/N\" (one line in N, N at least 1)"
            )
        };
        match text.trim() {
            "all" => Ok(Self::All),
            "none" => Ok(Self::None),
            other => {
                let n = other.strip_prefix("1/").ok_or_else(refused)?;
                let n: NonZeroU64 = n.trim().parse().map_err(|_| refused())?;
                Ok(if n == NonZeroU64::MIN {
                    Self::All
                } else {
                    Self::OneIn(n)
                })
            }
        }
    }
}

impl From<Sampling> for String {
    fn from(sampling: Sampling) -> Self {
        sampling.to_string()
    }
}

impl fmt::Display for Sampling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::All => f.write_str("all"),
            Self::None => f.write_str("none"),
            Self::OneIn(n) => write!(f, "1/{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_reads_all_none_and_one_in_n_and_refuses_the_rest() {
        let read = |text: &str| Sampling::try_from(text.to_owned());
        assert_eq!(read("all"), Ok(Sampling::All));
        assert_eq!(read("none"), Ok(Sampling::None));
        assert_eq!(read("1/1"), Ok(Sampling::All));
        assert_eq!(
            read("1/100").map(Sampling::one_in),
            Ok(NonZeroU64::new(100))
        );
        for bad in ["1/0", "2/3", "half", "1/", "10%"] {
            let err = read(bad).expect_err(bad);
            assert!(err.contains("1/N"), "{err}");
        }
    }
}
