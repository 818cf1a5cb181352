//! `hookgate tail`: prints what downstream teams receive (key, headers,
//! body) from a topic, from its end or its beginning, following it or not, so
//! nobody needs kcat to see hookgate's output.

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
        print(&message, out)?;
        printed += 1;
    }
    Ok(printed)
}

fn print(message: &impl Message, out: &mut impl Write) -> std::io::Result<()> {
    let text = |bytes: Option<&[u8]>| {
        bytes.map_or_else(
            || "(none)".to_owned(),
            |b| String::from_utf8_lossy(b).into_owned(),
        )
    };
    writeln!(
        out,
        "--- {} partition {} offset {}  key: {}",
        message.topic(),
        message.partition(),
        message.offset(),
        text(message.key())
    )?;
    if let Some(headers) = message.headers() {
        for header in headers.iter() {
            writeln!(out, "{}: {}", header.key, text(header.value))?;
        }
    }
    writeln!(out)?;
    writeln!(out, "{}", text(message.payload()))?;
    out.flush()
}
