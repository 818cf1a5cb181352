//! Text from a request, made safe to print: control characters are written
//! as escapes, so a body or header value can never start a new log line,
//! forge a record line in `hookgate tail`, or move a terminal's cursor.

use std::fmt;

/// Bytes shown as text: printable characters as they are, `\n`, `\r` and
/// `\t` escaped, other control characters (C0, DEL, C1) as `\u{..}`, and
/// bytes that are not UTF-8 as `\x..`. A backslash stays as it is, so JSON
/// bodies read as sent (a literal `\n` in a body then reads like an escaped
/// newline, which is ambiguous but cannot start a line).
#[derive(Debug, Clone, Copy)]
pub struct Escaped<'a>(pub &'a [u8]);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            let text = chunk.valid();
            let mut clean = 0;
            for (at, c) in text.char_indices() {
                if !c.is_control() {
                    continue;
                }
                f.write_str(&text[clean..at])?;
                clean = at + c.len_utf8();
                match c {
                    '\n' => f.write_str("\\n")?,
                    '\r' => f.write_str("\\r")?,
                    '\t' => f.write_str("\\t")?,
                    other => write!(f, "\\u{{{:x}}}", u32::from(other))?,
                }
            }
            f.write_str(&text[clean..])?;
            for byte in chunk.invalid() {
                write!(f, "\\x{byte:02x}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_nothing_else_changes() {
        let shown = |bytes: &[u8]| Escaped(bytes).to_string();
        assert_eq!(
            shown(br#"{"id":"evt_1","text":"h\u00e9"}"#),
            r#"{"id":"evt_1","text":"h\u00e9"}"#
        );
        assert_eq!(shown("café ✓".as_bytes()), "café ✓");
        assert_eq!(
            shown(b"a\nlevel=INFO forged\r\n"),
            "a\\nlevel=INFO forged\\r\\n"
        );
        assert_eq!(
            shown(b"\x1b[2J\x1b]0;title\x07"),
            "\\u{1b}[2J\\u{1b}]0;title\\u{7}"
        );
        assert_eq!(shown("\u{9b}31m\u{7f}".as_bytes()), "\\u{9b}31m\\u{7f}");
        assert_eq!(shown(b"ok\xff\xfe!"), "ok\\xff\\xfe!");
        assert!(
            (0u8..=255)
                .map(|b| shown(&[b]))
                .all(|s| s.chars().all(|c| !c.is_control())),
            "no byte comes out as a control character"
        );
    }
}
