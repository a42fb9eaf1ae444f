//! `KvPair`: one key as `/v1/kv` lists it, its value in base64.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use legate_catalog as catalog;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One KV entry. `Value` is base64, or `null` for an empty value (Consul stores an empty
/// PUT body as a nil slice, which Go prints as `null`; py-consul then returns `None`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct KvPair {
    pub key: String,
    pub create_index: u64,
    pub modify_index: u64,
    pub lock_index: u64,
    pub flags: u64,
    #[serde(with = "base64_value")]
    #[schemars(with = "Option<String>")]
    pub value: Option<Vec<u8>>,
    /// The session holding the lock; omitted when unlocked, as Consul does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
}

impl From<&catalog::KvEntry> for KvPair {
    fn from(entry: &catalog::KvEntry) -> Self {
        KvPair {
            key: entry.key.clone(),
            create_index: entry.indexes.create_index.0,
            modify_index: entry.indexes.modify_index.0,
            lock_index: entry.lock_index,
            flags: entry.flags,
            value: (!entry.value.is_empty()).then(|| entry.value.clone()),
            session: entry.session.clone().filter(|session| !session.is_empty()),
        }
    }
}

mod base64_value {
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
    use serde_json::json;

    #[test]
    fn value_is_base64_or_null_and_session_is_omitted() {
        let entry = catalog::KvEntry {
            key: "a".into(),
            value: b"hello".to_vec(),
            flags: 42,
            ..catalog::KvEntry::default()
        };
        let value = serde_json::to_value(KvPair::from(&entry)).unwrap();
        assert_eq!(
            value,
            json!({"Key":"a","CreateIndex":0,"ModifyIndex":0,"LockIndex":0,"Flags":42,
                   "Value":"aGVsbG8="})
        );
        let empty = catalog::KvEntry {
            key: "folder/".into(),
            ..catalog::KvEntry::default()
        };
        let value = serde_json::to_value(KvPair::from(&empty)).unwrap();
        assert_eq!(value["Value"], serde_json::Value::Null);
        let back: KvPair = serde_json::from_value(json!({"Key":"k","Value":"aGk="})).unwrap();
        assert_eq!(back.value.as_deref(), Some(&b"hi"[..]));
    }
}
