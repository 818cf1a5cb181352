//! `hookgate tail`: prints what downstream teams receive (key, headers,
//! body) from a topic, from its end or its beginning, following it or not, so
//! nobody needs kcat to see hookgate's output.
//!
//! What it prints came from senders, a quarantine's forgeries included, so
//! control characters are written as visible escapes (`\x1b`, `\u{9b}`):
//! in keys and headers always (a newline there could forge a record line, in
//! a file as on a screen), in bodies when writing to a terminal (an escape
//! sequence could clear the screen or rewrite what is shown). A body going to
//! a file or a pipe is written byte for byte, for `jq` and friends; `--raw`
//! writes everything as it is.

use std::borrow::Cow;
use std::io::Write;

use rdkafka::ClientConfig;
use rdkafka::message::{Headers, Message};

use crate::consume::{ReadError, Start, TopicReader};

/// What to read.
#[derive(Debug, Clone)]
pub struct TailRequest {
    pub brokers: String,
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
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", &request.brokers);
    let start = if request.from_beginning {
        Start::Beginning
    } else {
        Start::End
    };
    let mut reader = TopicReader::open(client, &request.topic, start, request.follow)?;
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
        (Some(body), Output::Terminal) => {
            out.write_all(escaped(&String::from_utf8_lossy(body), Keep::LinesAndTabs).as_bytes())?
        }
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
        Some(bytes) => Cow::Owned(
            escaped(&String::from_utf8_lossy(bytes), Keep::Nothing)
                .into_owned()
                .into_bytes(),
        ),
    }
}

/// Which control characters `escaped` lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keep {
    Nothing,
    /// `\n` and `\t`: a body's own layout, which moves nothing on a screen
    /// that a newline does not.
    LinesAndTabs,
}

/// `text` with each C0 control, DEL and C1 control written as a visible
/// escape: `\n`, `\r`, `\t`, `\x1b`, `\x7f`, `\u{9b}`.
fn escaped(text: &str, keep: Keep) -> Cow<'_, str> {
    let kept = |c: char| keep == Keep::LinesAndTabs && matches!(c, '\n' | '\t');
    if !text.chars().any(|c| c.is_control() && !kept(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            c if !c.is_control() || kept(c) => out.push(c),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x80 => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::message::{Header, OwnedHeaders, OwnedMessage, Timestamp};

    #[test]
    fn controls_become_visible_escapes() {
        assert_eq!(escaped("plain text ✓", Keep::Nothing), "plain text ✓");
        assert_eq!(
            escaped("\x1b[2J\x1b]0;owned\x07", Keep::Nothing),
            "\\x1b[2J\\x1b]0;owned\\x07"
        );
        assert_eq!(escaped("a\r\nb\tc\x7f", Keep::Nothing), "a\\r\\nb\\tc\\x7f");
        assert_eq!(escaped("\u{9b}2J\u{85}", Keep::Nothing), "\\u{9b}2J\\u{85}");
        assert_eq!(
            escaped("{\n\t\"a\": 1\r\n}\x1b[H", Keep::LinesAndTabs),
            "{\n\t\"a\": 1\\r\n}\\x1b[H"
        );
    }

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
            "--- q partition 0 offset 7  key: github\\x1b[8m\n\
             http:x-note: hi\\n--- q partition 0 offset 99  key: admin\n\
             http:x-csi: \\u{9b}2J\n\
             \n\
             {\"a\":1}\n\\x1b[2J\\x1b[Hforged\n"
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
