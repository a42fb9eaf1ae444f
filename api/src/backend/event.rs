//! User events: what `PUT /v1/event/fire/<name>` sends, how it travels over gossip, which
//! agents keep it, and the index `/v1/event/list` blocks on.
//!
//! Rules (Consul's `agent/user_event.go`, `agent/event_endpoint.go` and `api/event.go`):
//! 1. A fired event gets a random 128-bit ID written as a UUID, `Version` 1 and `LTime` 0;
//!    an agent lists it with the gossip Lamport time it arrived with.
//! 2. Filters are regular expressions matched anywhere in the text (Go's `MatchString`). A
//!    tag filter needs a service filter. An invalid one refuses the event with Consul's text.
//! 3. An agent keeps an event when the node filter matches its node name and, with a service
//!    filter, the ID of one of its own services matches it (Consul keys its local services by
//!    ID) and, with a tag filter too, one of that service's tags matches that.
//! 4. On gossip an event is a user event named `legate:event:<name>` whose payload is the
//!    versioned `Record`; gossip name plus payload must fit the 512 bytes serf allows by
//!    default, or the fire is refused with serf's text. The event name rides in the gossip
//!    name only, as the payload has no room to spare.
//! 5. Gossip events without that prefix are Legate's own (`_legate:keyring` and the like) and
//!    never user events, so no user event can be taken for one and no internal one is ever
//!    listed. A user may fire any name, `_`-prefixed ones included, as in Consul; `_rexec`
//!    (Consul's remote exec, which Legate does not run) is dropped on arrival, as Consul
//!    drops it with `disable_remote_exec`, its default.
//! 6. The list index is the last listed event's ID folded to 64 bits: the first 16 hex
//!    digits XOR the last 16 (Go's `Event.IDToIndex`); 1 when nothing is listed.

use legate_catalog::codec;
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::fmt;
use thiserror::Error;

/// Serf's default `UserEventSizeLimit`, which Consul keeps: gossip name plus payload.
pub const MAX_GOSSIP_EVENT: usize = 512;
/// The gossip name prefix that marks a user event (rule 4).
pub const GOSSIP_PREFIX: &str = "legate:event:";
/// The version of the events this agent fires (`Version` in the JSON).
pub const EVENT_VERSION: u32 = 1;
/// Consul's remote-exec event, never kept (rule 5).
pub const REMOTE_EXEC: &str = "_rexec";

/// An event's ID: 16 random bytes written as a lowercase UUID (Go's `uuid.GenerateUUID`
/// writes raw random bytes too, without version bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EventId([u8; 16]);

impl EventId {
    pub fn from_bytes(bytes: [u8; 16]) -> EventId {
        EventId(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Parses `8-4-4-4-12` hex digits, either case.
    pub fn parse(text: &str) -> Option<EventId> {
        let bytes = text.as_bytes();
        if bytes.len() != 36 || [8, 13, 18, 23].iter().any(|at| bytes[*at] != b'-') {
            return None;
        }
        let digits: Vec<u8> = bytes.iter().copied().filter(|b| *b != b'-').collect();
        if digits.len() != 32 {
            return None;
        }
        let mut out = [0u8; 16];
        for (at, pair) in digits.chunks(2).enumerate() {
            let pair = std::str::from_utf8(pair).ok()?;
            out[at] = u8::from_str_radix(pair, 16).ok()?;
        }
        Some(EventId(out))
    }

    /// Rule 6: the blocking index this ID stands for. The hex digits Go slices out
    /// (`id[0:8]+id[9:13]+id[14:18]` and `id[19:23]+id[24:36]`) are exactly the first and
    /// the last eight bytes.
    pub fn index(&self) -> u64 {
        let value = u128::from_be_bytes(self.0);
        ((value >> 64) as u64) ^ (value as u64)
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (at, byte) in self.0.iter().enumerate() {
            if matches!(at, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// One user event, as fired and as listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserEvent {
    pub id: EventId,
    pub name: String,
    /// `None` when the fire had no body (Consul lists `"Payload": null` then).
    pub payload: Option<Vec<u8>>,
    pub node_filter: String,
    pub service_filter: String,
    pub tag_filter: String,
    pub version: u32,
    /// The gossip Lamport time it arrived with; 0 in the answer to the fire.
    pub ltime: u64,
}

/// What a fire asks for, before it becomes an event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FireRequest {
    pub name: String,
    pub payload: Option<Vec<u8>>,
    pub node_filter: String,
    pub service_filter: String,
    pub tag_filter: String,
}

/// Why a fire was refused. Nothing was sent; the same request fails again. Consul answers
/// every one with a 500 and this text.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum EventError {
    #[error("User event missing name")]
    MissingName,
    #[error("Cannot provide tag filter without service filter")]
    TagWithoutService,
    #[error("Invalid node filter: {0}")]
    InvalidNodeFilter(String),
    #[error("Invalid service filter: {0}")]
    InvalidServiceFilter(String),
    #[error("Invalid tag filter: {0}")]
    InvalidTagFilter(String),
    /// Serf's text for an event over its limit (rule 4).
    #[error("user event exceeds configured limit of {MAX_GOSSIP_EVENT} bytes before encoding")]
    TooLarge,
}

/// A local service as the filters see it (rule 3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceTags {
    pub id: String,
    pub tags: Vec<String>,
}

impl ServiceTags {
    /// The filters' view of an agent's own services.
    pub fn of(services: Vec<legate_catalog::Service>) -> Vec<ServiceTags> {
        services
            .into_iter()
            .map(|service| ServiceTags {
                id: service.id.0,
                tags: service.tags,
            })
            .collect()
    }
}

/// The event as gossip carries it (rule 4); the name is in the gossip name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Record {
    V1 {
        id: [u8; 16],
        payload: Option<Vec<u8>>,
        node_filter: String,
        service_filter: String,
        tag_filter: String,
        version: u32,
    },
}

/// Why bytes that arrived as a user event are not one.
#[derive(Debug, Error)]
#[error("undecodable user event {name:?}: {source}")]
pub struct GossipDecodeError {
    pub name: String,
    #[source]
    pub source: codec::DecodeError,
}

fn compile(pattern: &str) -> Result<Option<Regex>, String> {
    if pattern.is_empty() {
        return Ok(None);
    }
    Regex::new(pattern)
        .map(Some)
        .map_err(|error| error.to_string())
}

impl FireRequest {
    /// Rules 1, 2 and 4: the event this request fires, with the ID `id`, or why not.
    pub fn into_event(self, id: EventId) -> Result<UserEvent, EventError> {
        if self.name.is_empty() {
            return Err(EventError::MissingName);
        }
        if !self.tag_filter.is_empty() && self.service_filter.is_empty() {
            return Err(EventError::TagWithoutService);
        }
        compile(&self.node_filter).map_err(EventError::InvalidNodeFilter)?;
        compile(&self.service_filter).map_err(EventError::InvalidServiceFilter)?;
        compile(&self.tag_filter).map_err(EventError::InvalidTagFilter)?;
        let event = UserEvent {
            id,
            name: self.name,
            payload: self.payload,
            node_filter: self.node_filter,
            service_filter: self.service_filter,
            tag_filter: self.tag_filter,
            version: EVENT_VERSION,
            ltime: 0,
        };
        if event.gossip_name().len() + event.encode().len() > MAX_GOSSIP_EVENT {
            return Err(EventError::TooLarge);
        }
        Ok(event)
    }
}

impl UserEvent {
    /// Rule 4: the gossip name.
    pub fn gossip_name(&self) -> String {
        format!("{GOSSIP_PREFIX}{}", self.name)
    }

    /// Rule 4: the gossip payload.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(&Record::V1 {
            id: self.id.0,
            payload: self.payload.clone(),
            node_filter: self.node_filter.clone(),
            service_filter: self.service_filter.clone(),
            tag_filter: self.tag_filter.clone(),
            version: self.version,
        })
    }

    /// Rules 4 and 5: the user event a gossip event carries, `Ok(None)` for one of Legate's
    /// internal events.
    pub fn from_gossip(
        gossip_name: &str,
        payload: &[u8],
        ltime: u64,
    ) -> Result<Option<UserEvent>, GossipDecodeError> {
        let Some(name) = gossip_name.strip_prefix(GOSSIP_PREFIX) else {
            return Ok(None);
        };
        let record = codec::decode::<Record>(payload).map_err(|source| GossipDecodeError {
            name: name.to_owned(),
            source,
        })?;
        let Record::V1 {
            id,
            payload,
            node_filter,
            service_filter,
            tag_filter,
            version,
        } = record;
        Ok(Some(UserEvent {
            id: EventId(id),
            name: name.to_owned(),
            payload,
            node_filter,
            service_filter,
            tag_filter,
            version,
            ltime,
        }))
    }

    /// Rule 3: whether the agent `node` with `services` keeps this event. A filter that does
    /// not compile (only a peer with another regex dialect could send one) keeps nothing.
    pub fn accepted_by(&self, node: &str, services: &[ServiceTags]) -> bool {
        if self.name == REMOTE_EXEC {
            return false;
        }
        let (Ok(node_filter), Ok(service_filter), Ok(tag_filter)) = (
            compile(&self.node_filter),
            compile(&self.service_filter),
            compile(&self.tag_filter),
        ) else {
            return false;
        };
        if node_filter.is_some_and(|filter| !filter.is_match(node)) {
            return false;
        }
        let Some(service_filter) = service_filter else {
            return true;
        };
        services.iter().any(|service| {
            service_filter.is_match(&service.id)
                && tag_filter
                    .as_ref()
                    .is_none_or(|filter| service.tags.iter().any(|tag| filter.is_match(tag)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(text: &str) -> EventId {
        EventId::parse(text).unwrap()
    }

    fn request(name: &str) -> FireRequest {
        FireRequest {
            name: name.into(),
            ..FireRequest::default()
        }
    }

    #[test]
    fn ids_fold_to_the_index_gos_id_to_index_computes() {
        // Go: lower = ParseUint("b54fe1107af5cafc", 16), upper = ParseUint("d1fbafc8ba432b1c",
        // 16), lower ^ upper (worked out digit for digit outside Rust).
        let event = id("b54fe110-7af5-cafc-d1fb-afc8ba432b1c");
        assert_eq!(event.index(), 7_256_511_592_453_824_992);
        assert_eq!(event.to_string(), "b54fe110-7af5-cafc-d1fb-afc8ba432b1c");
        assert_eq!(id("ffffffff-ffff-ffff-0000-000000000000").index(), u64::MAX);
        assert_eq!(id("00000000-0000-0001-0000-000000000001").index(), 0);
        assert_eq!(
            id("B54FE110-7AF5-CAFC-D1FB-AFC8BA432B1C"),
            event,
            "either case"
        );
        for bad in [
            "",
            "b54fe1107af5cafcd1fbafc8ba432b1c",
            "g54fe110-7af5-cafc-d1fb-afc8ba432b1c",
        ] {
            assert_eq!(EventId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_fire_is_validated_with_consuls_texts() {
        let fresh = EventId::from_bytes([7; 16]);
        let event = request("deploy").into_event(fresh).unwrap();
        assert_eq!((event.version, event.ltime, event.id), (1, 0, fresh));
        assert_eq!(request("").into_event(fresh), Err(EventError::MissingName));
        let tag_only = FireRequest {
            tag_filter: "v1".into(),
            ..request("x")
        };
        assert_eq!(
            tag_only.into_event(fresh).unwrap_err().to_string(),
            "Cannot provide tag filter without service filter"
        );
        let bad_node = FireRequest {
            node_filter: "(".into(),
            ..request("x")
        };
        assert!(bad_node
            .into_event(fresh)
            .unwrap_err()
            .to_string()
            .starts_with("Invalid node filter: "));
    }

    #[test]
    fn the_gossip_limit_counts_name_and_encoded_event() {
        let fresh = EventId::from_bytes([1; 16]);
        let with = |payload: usize| FireRequest {
            payload: Some(vec![b'x'; payload]),
            ..request("deploy")
        };
        // Find the largest payload that fits: everything around it is overhead.
        let largest = (0..MAX_GOSSIP_EVENT)
            .rev()
            .find(|size| with(*size).into_event(fresh).is_ok())
            .unwrap();
        assert!(largest > 400, "{largest}: the overhead stays small");
        let refused = with(largest + 1).into_event(fresh).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "user event exceeds configured limit of 512 bytes before encoding"
        );
        let event = with(largest).into_event(fresh).unwrap();
        assert_eq!(
            event.gossip_name().len() + event.encode().len(),
            MAX_GOSSIP_EVENT
        );
    }

    #[test]
    fn gossip_round_trip_and_bytes_are_pinned() {
        let event = UserEvent {
            id: EventId::from_bytes([0xab; 16]),
            name: "deploy".into(),
            payload: Some(b"v2".to_vec()),
            node_filter: "n".into(),
            service_filter: String::new(),
            tag_filter: String::new(),
            version: 1,
            ltime: 0,
        };
        let bytes = event.encode();
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        // Version 1, the 16 id bytes, Some("v2"), "n", "", "", version 1.
        assert_eq!(hex, format!("00{}01027632016e000001", "ab".repeat(16)));
        let back = UserEvent::from_gossip("legate:event:deploy", &bytes, 9)
            .unwrap()
            .unwrap();
        assert_eq!(back, UserEvent { ltime: 9, ..event });
        assert_eq!(
            UserEvent::from_gossip("_legate:keyring", b"anything", 1).unwrap(),
            None
        );
        assert!(UserEvent::from_gossip("legate:event:x", b"\xff", 1).is_err());
    }

    #[test]
    fn filters_match_node_service_id_and_tags() {
        let services = [
            ServiceTags {
                id: "web-1".into(),
                tags: vec!["primary".into(), "v2".into()],
            },
            ServiceTags {
                id: "db".into(),
                tags: vec!["replica".into()],
            },
        ];
        let event = |node: &str, service: &str, tag: &str| UserEvent {
            node_filter: node.into(),
            service_filter: service.into(),
            tag_filter: tag.into(),
            ..request("e")
                .into_event(EventId::from_bytes([0; 16]))
                .unwrap()
        };
        let accepted = |e: UserEvent| e.accepted_by("node-a", &services);
        assert!(accepted(event("", "", "")));
        assert!(accepted(event("node", "", "")), "unanchored");
        assert!(!accepted(event("^node$", "", "")));
        assert!(accepted(event("^node-(a|b)$", "", "")));
        assert!(accepted(event("", "web", "")));
        assert!(!accepted(event("", "^web$", "")), "matched against the ID");
        assert!(accepted(event("", "web", "^v2$")));
        assert!(
            !accepted(event("", "web", "replica")),
            "a tag of another service"
        );
        assert!(accepted(event("", ".", "replica")));
        assert!(
            !accepted(event("other", "web", "")),
            "every filter must hold"
        );
        assert!(!event("", "web", "").accepted_by("node-a", &[]));
        assert!(!UserEvent {
            name: REMOTE_EXEC.into(),
            ..event("", "", "")
        }
        .accepted_by("node-a", &services));
        assert!(!accepted(UserEvent {
            node_filter: "(".into(),
            ..event("", "", "")
        }));
    }
}
