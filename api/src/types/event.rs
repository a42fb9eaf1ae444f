//! `Event`: a user event as `/v1/event/fire` answers it and `/v1/event/list` lists it.
//!
//! Consul writes its agent's `UserEvent` struct, which has no JSON tags: every field, with
//! `Payload` as base64 or `null` (a nil byte slice) and `LTime` 0 in the fire's answer.

use crate::backend::event::{EventId, UserEvent};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct Event {
    #[serde(rename = "ID")]
    pub id: String,
    pub name: String,
    #[serde(with = "payload")]
    #[schemars(with = "Option<String>")]
    pub payload: Option<Vec<u8>>,
    pub node_filter: String,
    pub service_filter: String,
    pub tag_filter: String,
    pub version: u32,
    #[serde(rename = "LTime")]
    pub ltime: u64,
}

impl From<&UserEvent> for Event {
    fn from(event: &UserEvent) -> Self {
        Event {
            id: event.id.to_string(),
            name: event.name.clone(),
            payload: event.payload.clone(),
            node_filter: event.node_filter.clone(),
            service_filter: event.service_filter.clone(),
            tag_filter: event.tag_filter.clone(),
            version: event.version,
            ltime: event.ltime,
        }
    }
}

impl Event {
    /// The blocking index this event's ID stands for (Go's `Event.IDToIndex`); `None` for an
    /// ID that is not a UUID.
    pub fn index(&self) -> Option<u64> {
        EventId::parse(&self.id).map(|id| id.index())
    }
}

mod payload {
    use super::*;

    pub fn serialize<S: Serializer>(value: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(bytes) => s.serialize_str(&STANDARD.encode(bytes)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(text) => STANDARD
                .decode(text.as_bytes())
                .map(Some)
                .map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::event::FireRequest;
    use serde_json::json;

    #[test]
    fn every_field_in_consuls_names() {
        let event = FireRequest {
            name: "deploy".into(),
            payload: Some(b"v2".to_vec()),
            node_filter: "web".into(),
            ..FireRequest::default()
        }
        .into_event(EventId::from_bytes([0x11; 16]))
        .unwrap();
        let wire = Event::from(&event);
        assert_eq!(
            serde_json::to_value(&wire).unwrap(),
            json!({"ID": "11111111-1111-1111-1111-111111111111", "Name": "deploy",
                   "Payload": "djI=", "NodeFilter": "web", "ServiceFilter": "",
                   "TagFilter": "", "Version": 1, "LTime": 0})
        );
        assert_eq!(wire.index(), Some(0));
        let back: Event = serde_json::from_value(serde_json::to_value(&wire).unwrap()).unwrap();
        assert_eq!(back, wire);
        let empty = Event::default();
        assert_eq!(
            serde_json::to_value(&empty).unwrap()["Payload"],
            json!(null)
        );
    }
}
