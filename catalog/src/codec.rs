//! The durable encoding: how anything that outlives one process is written (Raft log entries,
//! snapshots, and messages between servers).
//!
//! The codec is `postcard` 1.x: compact, positional, with a wire format its authors froze at
//! 1.0, and maintained (bincode 1, used before, is not: RUSTSEC-2025-0141). Being positional,
//! it stores no field names, so a record is only readable by code that agrees on its layout.
//! Hence the rules every durable type follows:
//!
//! 1. Every durable value is wrapped in an enum whose variants are versions (`LogPayload::V1`,
//!    `SnapshotFormat::V1`, ...); postcard writes the variant number first, as a varint.
//! 2. A layout never changes in place. Adding, removing or reordering a field of a type that a
//!    versioned value embeds (a `Command`, a catalog record) means a new version variant whose
//!    types are new, plus a conversion from the old version, so a server reads what the
//!    previous release wrote. Appending a new variant to a plain enum (a new `Command`) is
//!    compatible: old bytes never name it.
//! 3. Byte fixtures pin every version (`catalog/tests/fixtures/`, the agent's raft fixtures):
//!    a test decodes the checked-in bytes and compares them with the value they must mean, and
//!    encodes that value and compares the bytes. A change that alters any encoding fails them;
//!    the fix is a new version, never new fixtures for the old one.
//! 4. What a log entry does to the store is part of its meaning: every server applies the
//!    same entries and must reach the same state. A release that changes the effect of
//!    existing bytes agrees with itself (a log replayed from scratch gives one state), but
//!    during a rolling upgrade its servers and the previous release's would diverge wherever
//!    the effect differs. Until servers gate such changes on every server's advertised
//!    version, each one is listed here, and a cluster is upgraded all at once (stop every
//!    server, start them on the new release) across it:
//!    - the store's clock follows a leader's clock set back by more than a second, taking
//!      running lock-delays with it (`Store::advance_clock`; before, it never went back).
//!      Only lock-delays running while a leader's stamps step back differ.

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io::Write;
use thiserror::Error;

/// Bytes that do not decode as the expected type: corrupt, truncated, or written by a layout
/// this build does not know. Nothing was changed; decoding the same bytes fails the same way.
#[derive(Debug, Error)]
#[error("undecodable bytes: {0}")]
pub struct DecodeError(#[from] postcard::Error);

/// A value that cannot be encoded, or a writer that failed while it was.
#[derive(Debug, Error)]
pub enum EncodeError {
    /// The writer failed; what it received so far is incomplete.
    #[error("writing encoded bytes: {0}")]
    Io(#[from] std::io::Error),
    /// The value has a shape the codec cannot write (a bug, not an input error).
    #[error("encoding: {0}")]
    Codec(#[from] postcard::Error),
}

/// Encodes `value` into a new buffer.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    // Every durable type is plain data (no maps with non-string keys skipped, no `flatten`),
    // which postcard always encodes; a failure here is a programming error.
    postcard::to_stdvec(value).expect("durable types always encode")
}

/// Decodes a whole buffer: trailing bytes are an error, so a truncated or concatenated
/// record is never taken for a valid one.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    let (value, rest) = postcard::take_from_bytes(bytes)?;
    if rest.is_empty() {
        Ok(value)
    } else {
        Err(DecodeError(postcard::Error::DeserializeBadEncoding))
    }
}

/// Encodes `value` straight into `writer`, without a whole-value buffer.
pub fn encode_into<T: Serialize + ?Sized>(
    value: &T,
    writer: impl Write,
) -> Result<(), EncodeError> {
    let mut counting = Counting {
        inner: writer,
        count: 0,
        error: None,
    };
    match postcard::to_io(value, &mut counting) {
        Ok(_) => Ok(()),
        Err(error) => Err(match counting.error.take() {
            Some(io) => EncodeError::Io(io),
            None => EncodeError::Codec(error),
        }),
    }
}

/// The number of bytes `encode(value)` would produce, computed without producing them.
pub fn encoded_size<T: Serialize + ?Sized>(value: &T) -> u64 {
    let mut counting = Counting {
        inner: std::io::sink(),
        count: 0,
        error: None,
    };
    postcard::to_io(value, &mut counting).expect("durable types always encode");
    counting.count
}

/// A writer that counts what passes through and keeps the inner writer's own error, which
/// postcard would otherwise replace with a generic one.
struct Counting<W> {
    inner: W,
    count: u64,
    error: Option<std::io::Error>,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        match self.inner.write(bytes) {
            Ok(written) => {
                self.count += written as u64;
                Ok(written)
            }
            Err(error) => {
                let kind = error.kind();
                self.error = Some(error);
                Err(kind.into())
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Byte fixtures: checked-in encodings that every later build must still decode to the same
/// value and still produce. Used by the catalog's and the agent's fixture tests.
pub mod fixture {
    use super::{decode, encode};
    use serde::de::DeserializeOwned;
    use serde::Serialize;
    use std::fmt::Debug;
    use std::path::Path;

    /// Hex, 32 bytes a line, so a diff of a fixture shows where the bytes moved.
    pub fn hex(bytes: &[u8]) -> String {
        let mut text = String::new();
        for (at, byte) in bytes.iter().enumerate() {
            text.push_str(&format!("{byte:02x}"));
            text.push(if at % 32 == 31 { '\n' } else { ' ' });
        }
        text.trim_end().to_owned() + "\n"
    }

    pub fn unhex(text: &str) -> Vec<u8> {
        text.split_whitespace()
            .map(|pair| u8::from_str_radix(pair, 16).expect("fixture is hex"))
            .collect()
    }

    /// The bytes of fixture `name` in `dir`. A missing fixture is written from `current` when
    /// `LEGATE_WRITE_FIXTURES` is set (for a NEW version or variant), and is a failure
    /// otherwise; an existing fixture is never rewritten, because old bytes must keep
    /// decoding.
    pub fn load(dir: &Path, name: &str, current: &[u8]) -> Vec<u8> {
        let path = dir.join(format!("{name}.hex"));
        match std::fs::read_to_string(&path) {
            Ok(text) => unhex(&text),
            Err(_) if std::env::var_os("LEGATE_WRITE_FIXTURES").is_some() => {
                std::fs::write(&path, hex(current)).expect("writing a new fixture");
                current.to_vec()
            }
            Err(error) => panic!(
                "fixture {} is missing ({error}); a new version or variant needs one: run \
                 once with LEGATE_WRITE_FIXTURES=1",
                path.display()
            ),
        }
    }

    /// Checks that `value` encodes to fixture `name` and that the fixture decodes to `value`.
    pub fn pin<T: Serialize + DeserializeOwned + PartialEq + Debug>(
        dir: &Path,
        name: &str,
        value: &T,
    ) {
        let encoded = encode(value);
        let stored = load(dir, name, &encoded);
        let decoded: T = decode(&stored)
            .unwrap_or_else(|error| panic!("fixture {name} no longer decodes: {error}"));
        assert_eq!(&decoded, value, "fixture {name} decodes to another value");
        assert_eq!(
            hex(&encoded),
            hex(&stored),
            "{name} no longer encodes as its fixture: a layout changed, which needs a new version"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_bytes_are_refused() {
        let mut bytes = encode(&(7u32, "x".to_owned()));
        assert_eq!(
            decode::<(u32, String)>(&bytes).unwrap(),
            (7, "x".to_owned())
        );
        bytes.push(0);
        assert!(decode::<(u32, String)>(&bytes).is_err());
        assert!(decode::<(u32, String)>(&bytes[..1]).is_err());
    }

    #[test]
    fn size_and_streamed_bytes_match_the_buffer() {
        let value = vec!["a".to_owned(); 300];
        let mut streamed = Vec::new();
        encode_into(&value, &mut streamed).unwrap();
        assert_eq!(streamed, encode(&value));
        assert_eq!(encoded_size(&value), streamed.len() as u64);
    }
}
