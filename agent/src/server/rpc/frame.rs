//! The framed transport's wire format: how server RPC messages travel on a TCP connection
//! without HTTP/2.
//!
//! Why: a call over hyper's HTTP/2 passes through the connection task and a stream task at
//! each end, and every such hand-off on the multi-thread runtime is a thread wake-up; a
//! server-to-server round trip cost about 160 µs at p50 on loopback against about 90 µs for
//! the same message framed by hand (`examples/rpc_roundtrip.rs`). Every Raft write and every
//! forwarded call pays it.
//!
//! The connection:
//! 1. The caller sends `hello()`: 24 bytes, the length of HTTP/2's client preface, so that a
//!    server of an earlier release (which speaks only HTTP/2 on this port) has read a whole
//!    preface, finds it wrong and closes the connection rather than wait for more. The caller
//!    then falls back to HTTP/2.
//! 2. A server that speaks the framing answers `answer(version)`: the framing version both
//!    speak (the lower of the two highest), or 0 when there is none and it then closes.
//! 3. Then frames, both ways: a 14-byte header (kind, flags, call id, body length; integers
//!    little-endian) and the body. A message (a codec-encoded `Request` or `Response`) longer
//!    than `CHUNK_BYTES` goes as several frames of one id, the last flagged `END`. Frames of
//!    different calls interleave, so a snapshot on its way does not hold up heartbeats.
//!
//! These bytes are pinned by fixtures in `fixtures.rs`: a later release must still open
//! connections this one understands.

use std::collections::HashMap;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt};

pub const MAGIC: [u8; 4] = *b"LRPC";
/// The highest framing version this build speaks.
pub const VERSION: u8 = 1;
pub const HELLO_BYTES: usize = 24;
pub const ANSWER_BYTES: usize = 8;
pub const HEADER_BYTES: usize = 14;
/// The largest body of one frame; longer messages are split.
pub const CHUNK_BYTES: usize = 64 << 10;
/// The `END` flag: the last frame of its message.
const END: u8 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Request = 1,
    Response = 2,
    /// A caller's keep-alive; the server answers `Pong` with the same id.
    Ping = 3,
    Pong = 4,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub kind: Kind,
    pub end: bool,
    pub id: u64,
    pub len: u32,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("not a legate rpc hello")]
    NotHello,
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    #[error("unknown frame flags {0:#x}")]
    UnknownFlags(u8),
    #[error("frame of {len} bytes, more than the {limit} allowed")]
    FrameTooLarge { len: u32, limit: usize },
    #[error("message of more than {limit} bytes refused")]
    MessageTooLarge { limit: usize },
    #[error("{pending} bytes of unfinished messages, more than the {limit} allowed")]
    TooMuchPending { pending: usize, limit: usize },
}

/// What the caller sends first: the magic, the highest framing version it speaks, and
/// zeros (reserved).
pub fn hello() -> [u8; HELLO_BYTES] {
    let mut bytes = [0; HELLO_BYTES];
    bytes[..4].copy_from_slice(&MAGIC);
    bytes[4] = VERSION;
    bytes
}

/// The caller's highest framing version, from its hello.
pub fn parse_hello(bytes: &[u8; HELLO_BYTES]) -> Result<u8, FrameError> {
    if bytes[..4] != MAGIC || bytes[4] == 0 {
        return Err(FrameError::NotHello);
    }
    Ok(bytes[4])
}

/// The server's answer: the version both will speak, 0 for none.
pub fn answer(caller_highest: u8) -> [u8; ANSWER_BYTES] {
    let mut bytes = [0; ANSWER_BYTES];
    bytes[..4].copy_from_slice(&MAGIC);
    bytes[4] = caller_highest.min(VERSION);
    bytes
}

/// The agreed version from a server's answer; `None` when the bytes are not an answer (an
/// HTTP/2-only server's GOAWAY, say) or name no common version.
pub fn parse_answer(bytes: &[u8; ANSWER_BYTES]) -> Option<u8> {
    (bytes[..4] == MAGIC && bytes[4] != 0 && bytes[4] <= VERSION).then_some(bytes[4])
}

impl Header {
    pub fn encode(&self) -> [u8; HEADER_BYTES] {
        let mut bytes = [0; HEADER_BYTES];
        bytes[0] = self.kind as u8;
        bytes[1] = if self.end { END } else { 0 };
        bytes[2..10].copy_from_slice(&self.id.to_le_bytes());
        bytes[10..14].copy_from_slice(&self.len.to_le_bytes());
        bytes
    }

    pub fn decode(bytes: &[u8; HEADER_BYTES]) -> Result<Header, FrameError> {
        let kind = match bytes[0] {
            1 => Kind::Request,
            2 => Kind::Response,
            3 => Kind::Ping,
            4 => Kind::Pong,
            other => return Err(FrameError::UnknownKind(other)),
        };
        if bytes[1] & !END != 0 {
            return Err(FrameError::UnknownFlags(bytes[1]));
        }
        let id = u64::from_le_bytes(bytes[2..10].try_into().expect("8 bytes"));
        let len = u32::from_le_bytes(bytes[10..14].try_into().expect("4 bytes"));
        Ok(Header {
            kind,
            end: bytes[1] & END != 0,
            id,
            len,
        })
    }
}

/// `message` as the frames that carry it, each a buffer of header and body ready to be
/// written in one go. An empty message is one empty frame.
pub fn frames(kind: Kind, id: u64, message: &[u8]) -> Vec<Vec<u8>> {
    let chunks: Vec<&[u8]> = if message.is_empty() {
        vec![&[]]
    } else {
        message.chunks(CHUNK_BYTES).collect()
    };
    let last = chunks.len() - 1;
    chunks
        .into_iter()
        .enumerate()
        .map(|(at, chunk)| {
            let header = Header {
                kind,
                end: at == last,
                id,
                len: chunk.len() as u32,
            };
            let mut frame = Vec::with_capacity(HEADER_BYTES + chunk.len());
            frame.extend_from_slice(&header.encode());
            frame.extend_from_slice(chunk);
            frame
        })
        .collect()
}

/// Reads one frame; `None` at a clean end of the stream (between frames).
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
) -> std::io::Result<Option<(Header, Vec<u8>)>> {
    let mut head = [0; HEADER_BYTES];
    match reader.read_exact(&mut head).await {
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(error) => return Err(error),
    }
    let header = Header::decode(&head).map_err(std::io::Error::other)?;
    if header.len as usize > CHUNK_BYTES {
        return Err(std::io::Error::other(FrameError::FrameTooLarge {
            len: header.len,
            limit: CHUNK_BYTES,
        }));
    }
    let mut body = vec![0; header.len as usize];
    reader.read_exact(&mut body).await?;
    Ok(Some((header, body)))
}

/// Messages being put back together from their frames, per call id, within limits on one
/// message and on everything unfinished at once.
#[derive(Debug)]
pub struct Assembly {
    partial: HashMap<u64, Vec<u8>>,
    pending: usize,
    message_limit: usize,
    pending_limit: usize,
}

impl Assembly {
    pub fn new(message_limit: usize, pending_limit: usize) -> Assembly {
        Assembly {
            partial: HashMap::new(),
            pending: 0,
            message_limit,
            pending_limit,
        }
    }

    /// Adds a frame's body; answers the whole message once its last frame is in.
    pub fn push(&mut self, header: &Header, body: Vec<u8>) -> Result<Option<Vec<u8>>, FrameError> {
        let so_far = self.partial.get(&header.id).map_or(0, Vec::len);
        if so_far + body.len() > self.message_limit {
            return Err(FrameError::MessageTooLarge {
                limit: self.message_limit,
            });
        }
        if header.end {
            let Some(mut message) = self.partial.remove(&header.id) else {
                // The common case: a message of one frame, never copied.
                return Ok(Some(body));
            };
            self.pending -= message.len();
            message.extend_from_slice(&body);
            return Ok(Some(message));
        }
        if self.pending + body.len() > self.pending_limit {
            return Err(FrameError::TooMuchPending {
                pending: self.pending + body.len(),
                limit: self.pending_limit,
            });
        }
        self.pending += body.len();
        self.partial
            .entry(header.id)
            .or_default()
            .extend_from_slice(&body);
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_and_refuse_unknown_kinds_and_flags() {
        let header = Header {
            kind: Kind::Response,
            end: true,
            id: 0x0102_0304_0506_0708,
            len: 65_536,
        };
        assert_eq!(Header::decode(&header.encode()), Ok(header));
        let mut bytes = header.encode();
        bytes[0] = 9;
        assert_eq!(Header::decode(&bytes), Err(FrameError::UnknownKind(9)));
        let mut bytes = header.encode();
        bytes[1] = 2;
        assert_eq!(Header::decode(&bytes), Err(FrameError::UnknownFlags(2)));
    }

    #[test]
    fn the_hello_is_as_long_as_an_http2_preface_and_differs_from_it() {
        let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
        assert_eq!(preface.len(), HELLO_BYTES);
        assert_ne!(&hello()[..4], &preface[..4]);
        assert_eq!(parse_hello(&hello()), Ok(VERSION));
        assert_eq!(
            parse_hello(preface.as_slice().try_into().unwrap()),
            Err(FrameError::NotHello)
        );
    }

    #[test]
    fn the_answer_settles_on_the_lower_version() {
        assert_eq!(parse_answer(&answer(7)), Some(VERSION));
        assert_eq!(parse_answer(&answer(1)), Some(1));
        assert_eq!(parse_answer(&answer(0)), None);
        // What an HTTP/2 server writes first (a SETTINGS or GOAWAY frame) is no answer.
        assert_eq!(parse_answer(&[0, 0, 8, 7, 0, 0, 0, 0]), None);
    }

    #[test]
    fn long_messages_split_into_chunks_and_reassemble_amid_other_calls() {
        let long: Vec<u8> = (0..CHUNK_BYTES * 2 + 10).map(|at| at as u8).collect();
        let long_frames = frames(Kind::Request, 7, &long);
        assert_eq!(long_frames.len(), 3);
        let short_frames = frames(Kind::Request, 8, b"hi");
        assert_eq!(short_frames.len(), 1);
        let empty = frames(Kind::Ping, 9, &[]);
        assert_eq!(
            empty,
            vec![Header {
                kind: Kind::Ping,
                end: true,
                id: 9,
                len: 0
            }
            .encode()
            .to_vec()]
        );

        let mut assembly = Assembly::new(1 << 20, 1 << 20);
        let mut done = Vec::new();
        // The short call's frame arrives between the long call's chunks.
        let order = [
            &long_frames[0],
            &short_frames[0],
            &long_frames[1],
            &long_frames[2],
        ];
        for frame in order {
            let header = Header::decode(frame[..HEADER_BYTES].try_into().unwrap()).unwrap();
            if let Some(message) = assembly
                .push(&header, frame[HEADER_BYTES..].to_vec())
                .unwrap()
            {
                done.push((header.id, message));
            }
        }
        assert_eq!(done, vec![(8, b"hi".to_vec()), (7, long)]);
        assert_eq!(assembly.pending, 0);
    }

    #[test]
    fn assembly_refuses_messages_and_backlogs_over_their_limits() {
        let chunk = vec![0; CHUNK_BYTES];
        let header = |id, end| Header {
            kind: Kind::Request,
            end,
            id,
            len: CHUNK_BYTES as u32,
        };
        let mut assembly = Assembly::new(CHUNK_BYTES * 2, CHUNK_BYTES * 3);
        assert_eq!(assembly.push(&header(1, false), chunk.clone()), Ok(None));
        assert!(matches!(
            assembly.push(&header(1, false), chunk.clone()),
            Ok(None)
        ));
        assert_eq!(
            assembly.push(&header(1, true), chunk.clone()),
            Err(FrameError::MessageTooLarge {
                limit: CHUNK_BYTES * 2
            })
        );
        assert_eq!(assembly.push(&header(2, false), chunk.clone()), Ok(None));
        assert!(matches!(
            assembly.push(&header(3, false), chunk),
            Err(FrameError::TooMuchPending { .. })
        ));
    }

    #[tokio::test]
    async fn frames_read_back_and_an_oversized_header_is_an_error() {
        let mut bytes = Vec::new();
        for frame in frames(Kind::Response, 3, b"abc") {
            bytes.extend_from_slice(&frame);
        }
        let mut reader = bytes.as_slice();
        let (header, body) = read_frame(&mut reader).await.unwrap().unwrap();
        assert_eq!(
            (header.id, header.end, body.as_slice()),
            (3, true, &b"abc"[..])
        );
        assert!(read_frame(&mut reader).await.unwrap().is_none());

        let huge = Header {
            kind: Kind::Request,
            end: true,
            id: 1,
            len: u32::MAX,
        }
        .encode();
        assert!(read_frame(&mut huge.as_slice()).await.is_err());
        // A stream cut inside a frame is an error, not a clean end.
        let cut = frames(Kind::Request, 1, b"abcdef").remove(0);
        assert!(read_frame(&mut &cut[..HEADER_BYTES + 2]).await.is_err());
    }
}
