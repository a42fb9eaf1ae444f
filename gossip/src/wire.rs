//! Versioned encodings of what the core puts on the wire besides foca's
//! own packets: custom broadcasts (Serf's messages) and push-pull state.
//!
//! Both are `[WIRE_VERSION] ++ postcard(value)`. Postcard encodes an enum
//! variant as its index, so the byte after the version is the message
//! kind; new kinds must be appended, never reordered. Fixture tests pin
//! the bytes.

use serde::{Deserialize, Serialize};

use crate::identity::NodeId;

/// Version byte in front of every broadcast and push-pull payload.
pub const WIRE_VERSION: u8 = 1;

/// Largest push-pull frame (sealed) accepted or sent.
pub const MAX_PUSH_PULL_FRAME: usize = 4 * 1024 * 1024;

/// A Serf-level message carried as a foca custom broadcast (or sent to one member
/// directly).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Broadcast {
    /// A member's tags (`Tags::encode` bytes), versioned per generation.
    Tags {
        /// Member name.
        name: String,
        /// Identity generation the tags belong to.
        generation: u64,
        /// Bumped by every `set_tags`.
        version: u64,
        /// `Tags::encode` output.
        tags: Vec<u8>,
    },
    /// Leave intent: the member (generation) is leaving on purpose, so its
    /// coming "down" means Left, not Failed. Also sent by force-leave.
    Leave {
        /// Member name.
        name: String,
        /// Identity generation.
        generation: u64,
        /// Remove the member from member lists at once.
        prune: bool,
    },
    /// A user event.
    User {
        /// Lamport time.
        ltime: u64,
        /// Event name.
        name: String,
        /// Payload.
        payload: Vec<u8>,
    },
    /// "I probed `target` and it failed": an independent suspicion
    /// confirmation for Lifeguard's shrinking suspicion timeout.
    Suspect {
        /// Suspected member.
        target: String,
        /// Its generation.
        generation: u64,
        /// The incarnation under suspicion.
        incarnation: u16,
        /// Who suspects it.
        from: String,
    },
    /// The sender's network coordinate, sent directly to a member that just probed it
    /// (Serf carries it in the ack): the prober folds the round trip it measured into its
    /// own coordinate against this one. Never gossiped.
    Coordinate {
        /// The sender.
        name: String,
        /// Its coordinate.
        coordinate: crate::vivaldi::Coordinate,
    },
}

/// Why a payload could not be decoded. Nothing changed when this is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Empty input.
    #[error("empty payload")]
    Empty,
    /// A version byte this release does not know; the sender is newer.
    #[error("unknown wire version {0}")]
    Version(u8),
    /// The bytes do not decode.
    #[error("malformed payload: {0}")]
    Malformed(String),
    /// Larger than allowed.
    #[error("payload of {0} bytes exceeds the limit")]
    TooLarge(usize),
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = vec![WIRE_VERSION];
    // Serializing owned in-memory data into a Vec cannot fail.
    out.extend(postcard::to_allocvec(value).unwrap_or_default());
    out
}

pub(crate) fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, WireError> {
    match bytes.split_first() {
        None => Err(WireError::Empty),
        Some((&WIRE_VERSION, rest)) => {
            postcard::from_bytes(rest).map_err(|e| WireError::Malformed(e.to_string()))
        }
        Some((&v, _)) => Err(WireError::Version(v)),
    }
}

impl Broadcast {
    /// `[WIRE_VERSION] ++ postcard(self)`.
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    /// Inverse of [`Broadcast::encode`].
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        decode(bytes)
    }
}

/// One member in a push-pull state exchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushPullMember {
    /// foca identity.
    pub id: NodeId,
    /// foca incarnation.
    pub incarnation: u16,
    /// foca state: 0 alive, 1 suspect, 2 down.
    pub state: u8,
    /// Tags version and `Tags::encode` bytes, when known.
    pub tags: Option<(u64, Vec<u8>)>,
    /// A leave intent for this generation was seen.
    pub left: bool,
}

/// A full state exchange (memberlist's push-pull), sent over TCP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushPull {
    /// Sent by a joining node (as opposed to the periodic sync).
    pub join: bool,
    /// Sender's node name.
    pub from: String,
    /// Sender's user-event Lamport clock.
    pub event_ltime: u64,
    /// Every member the sender knows, itself included.
    pub members: Vec<PushPullMember>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Pins the broadcast encodings (version byte, kind index, fields).
    #[test]
    fn broadcast_fixtures() {
        let leave = Broadcast::Leave {
            name: "n1".into(),
            generation: 300,
            prune: true,
        };
        // version, kind 1, "n1", generation 300 (varint ac 02), prune
        assert_eq!(hex(&leave.encode()), "0101026e31ac0201");
        let user = Broadcast::User {
            ltime: 5,
            name: "deploy".into(),
            payload: b"v2".to_vec(),
        };
        // version, kind 2, ltime 5, "deploy", payload "v2"
        assert_eq!(hex(&user.encode()), "010205066465706c6f79027632");
        let suspect = Broadcast::Suspect {
            target: "b".into(),
            generation: 1,
            incarnation: 2,
            from: "a".into(),
        };
        // version, kind 3, "b", generation 1, incarnation 2, "a"
        assert_eq!(hex(&suspect.encode()), "0103016201020161");
        let tags = Broadcast::Tags {
            name: "a".into(),
            generation: 1,
            version: 2,
            tags: vec![1, 0],
        };
        // version, kind 0, "a", generation 1, version 2, 2 tag bytes
        assert_eq!(hex(&tags.encode()), "010001610102020100");
        let coordinate = Broadcast::Coordinate {
            name: "a".into(),
            coordinate: crate::vivaldi::Coordinate {
                vec: vec![0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
                error: 1.5,
                adjustment: 0.0,
                height: 0.25,
            },
        };
        // version, kind 4, "a", 8 components (f64 little-endian), error, adjustment, height
        assert_eq!(
            hex(&coordinate.encode()),
            concat!(
                "01",
                "04",
                "0161",
                "08",
                "000000000000e03f",
                "0000000000000000",
                "0000000000000000",
                "0000000000000000",
                "0000000000000000",
                "0000000000000000",
                "0000000000000000",
                "0000000000000000",
                "000000000000f83f",
                "0000000000000000",
                "000000000000d03f",
            )
        );
        for b in [leave, user, suspect, tags, coordinate] {
            assert_eq!(Broadcast::decode(&b.encode()).unwrap(), b);
        }
    }

    /// Pins the push-pull state encoding.
    #[test]
    fn push_pull_fixture() {
        let pp = PushPull {
            join: true,
            from: "a".into(),
            event_ltime: 3,
            members: vec![PushPullMember {
                id: NodeId {
                    name: "b".into(),
                    addr: "10.0.0.2:8301".parse().unwrap(),
                    generation: 1,
                },
                incarnation: 2,
                state: 1,
                tags: Some((4, vec![1, 0])),
                left: false,
            }],
        };
        let bytes = encode(&pp);
        assert_eq!(
            hex(&bytes),
            concat!(
                "01", // version
                "01", "0161", "03",   // join, from "a", event ltime 3
                "01",   // one member
                "0162", // name "b"
                "00", "0a000002", "ed40", // V4 10.0.0.2:8301 (varint)
                "01", "02", "01", // generation, incarnation, state suspect
                "01", "04", "020100", // Some((4, [1, 0]))
                "00",     // left
            )
        );
        assert_eq!(decode::<PushPull>(&bytes).unwrap(), pp);
    }

    #[test]
    fn decode_errors() {
        assert_eq!(Broadcast::decode(&[]), Err(WireError::Empty));
        assert_eq!(Broadcast::decode(&[7, 0]), Err(WireError::Version(7)));
        assert!(matches!(
            Broadcast::decode(&[1, 9]),
            Err(WireError::Malformed(_))
        ));
    }
}
