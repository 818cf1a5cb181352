//! `hookgate tail`: prints what downstream teams receive (key, headers,
//! body) from a topic, from its end or its beginning, following it or not, so
//! nobody needs kcat to see hookgate's output.
//!
//! What it prints came from senders, a quarantine's forgeries included, so
//! control characters are written as visible escapes ([`Escaped`]: `\n`,
//! `\u{1b}`, `\u{9b}`): in keys and headers always (a newline there could
//! forge a record line, in a file as on a screen), in bodies when writing to
//! a terminal (an escape sequence could clear the screen or rewrite what is
//! shown; a body keeps its own line breaks). A body going to a file or a pipe
//! is written byte for byte, for `jq` and friends; `--raw` writes everything
//! as it is.

use std::borrow::Cow;
use std::io::Write;

use rdkafka::ClientConfig;
use rdkafka::message::{Headers, Message};

use crate::kafka::consume::{ReadError, Start, TopicReader};
use crate::pipeline::printable::Escaped;

/// What to read.
#[derive(Debug, Clone)]
pub struct TailRequest {
    /// Kafka client settings (bootstrap servers and security).
    pub client: ClientConfig,
    pub topic: String,
    pub from_beginning: bool,
    /// Keep waiting for new records; else stop at the end of every partition.
    pub follow: bool,
    /// Stop after this many records.
    pub max: Option<u64>,
    pub output: Output,
}

/// Where the records are written, which decides what is escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// A person's terminal: keys, headers and bodies escaped.
    Terminal,
    /// A file or a pipe: keys and headers escaped, bodies as they are.
    Plain,
    /// `--raw`: everything as it is.
    Raw,
}

impl Output {
    /// For standard output: `Raw` when asked, else as it is a terminal or not.
    pub fn stdout(raw: bool) -> Self {
        if raw {
            Self::Raw
        } else if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            Self::Terminal
        } else {
            Self::Plain
        }
    }
}

/// Why the topic could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TailError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("cannot write: {0}")]
    Output(#[from] std::io::Error),
}

/// Reads the topic, writing each record to `out`; returns how many.
pub fn tail(request: &TailRequest, out: &mut impl Write) -> Result<u64, TailError> {
    let start = if request.from_beginning {
        Start::Beginning
    } else {
        Start::End
    };
    let mut reader = TopicReader::open(
        request.client.clone(),
        &request.topic,
        start,
        request.follow,
    )?;
    let mut printed = 0;
    while request.max.is_none_or(|max| printed < max) {
        let Some(message) = reader.next_record() else {
            break;
        };
        print(&message, out, request.output)?;
        printed += 1;
    }
    Ok(printed)
}

fn print(message: &impl Message, out: &mut impl Write, output: Output) -> std::io::Result<()> {
    let field = |bytes| one_line(bytes, output);
    write!(
        out,
        "--- {} partition {} offset {}  key: ",
        message.topic(),
        message.partition(),
        message.offset(),
    )?;
    out.write_all(&field(message.key()))?;
    writeln!(out)?;
    if let Some(headers) = message.headers() {
        for header in headers.iter() {
            out.write_all(&field(Some(header.key.as_bytes())))?;
            out.write_all(b": ")?;
            out.write_all(&field(header.value))?;
            writeln!(out)?;
        }
    }
    writeln!(out)?;
    match (message.payload(), output) {
        (None, _) => out.write_all(b"(none)")?,
        (Some(body), Output::Raw | Output::Plain) => out.write_all(body)?,
        (Some(body), Output::Terminal) => body_for_terminal(body, out)?,
    }
    writeln!(out)?;
    out.flush()
}

/// A key, header name or value as it is printed: on one line, since nothing
/// in it may start another.
fn one_line(bytes: Option<&[u8]>, output: Output) -> Cow<'_, [u8]> {
    match bytes {
        None => Cow::Borrowed(b"(none)"),
        Some(bytes) if output == Output::Raw => Cow::Borrowed(bytes),
        Some(bytes) => Cow::Owned(Escaped(bytes).to_string().into_bytes()),
    }
}

/// A body for a terminal: its own lines kept, everything else a control
/// character could do written as an escape.
fn body_for_terminal(body: &[u8], out: &mut impl Write) -> std::io::Result<()> {
    for (n, line) in body.split(|&byte| byte == b'\n').enumerate() {
        if n > 0 {
            out.write_all(b"\n")?;
        }
        write!(out, "{}", Escaped(line))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::message::{Header, OwnedHeaders, OwnedMessage, Timestamp};

    fn forged() -> OwnedMessage {
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "http:x-note",
                value: Some(b"hi\n--- q partition 0 offset 99  key: admin".as_slice()),
            })
            .insert(Header {
                key: "http:x-csi",
                // U+009B (CSI) as UTF-8: what an HTTP header's obs-text can carry.
                value: Some(b"\xc2\x9b2J".as_slice()),
            });
        OwnedMessage::new(
            Some(b"{\"a\":1}\n\x1b[2J\x1b[Hforged".to_vec()),
            Some(b"github\x1b[8m".to_vec()),
            "q".into(),
            Timestamp::CreateTime(0),
            0,
            7,
            Some(headers),
        )
    }

    fn printed(output: Output) -> String {
        let mut out = Vec::new();
        print(&forged(), &mut out, output).expect("writes");
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn a_terminal_sees_no_control_characters_and_no_forged_record_line() {
        let shown = printed(Output::Terminal);
        assert!(
            !shown.contains('\x1b') && !shown.contains('\u{9b}'),
            "{shown:?}"
        );
        assert_eq!(
            shown.matches("\n--- ").count() + usize::from(shown.starts_with("--- ")),
            1
        );
        assert_eq!(
            shown,
            "--- q partition 0 offset 7  key: github\\u{1b}[8m\n\
             http:x-note: hi\\n--- q partition 0 offset 99  key: admin\n\
             http:x-csi: \\u{9b}2J\n\
             \n\
             {\"a\":1}\n\\u{1b}[2J\\u{1b}[Hforged\n"
        );
    }

    #[test]
    fn a_file_gets_bodies_byte_for_byte_and_headers_escaped() {
        let written = printed(Output::Plain);
        assert!(
            written.contains("http:x-note: hi\\n--- q partition 0 offset 99"),
            "{written:?}"
        );
        assert!(
            written.ends_with("{\"a\":1}\n\x1b[2J\x1b[Hforged\n"),
            "{written:?}"
        );
        let raw = printed(Output::Raw);
        assert!(raw.contains("key: github\x1b[8m\n"), "{raw:?}");
        assert!(raw.contains("http:x-csi: \u{9b}2J\n"), "{raw:?}");
    }
}
