//! Decoding request bodies the way Consul does: field names case-insensitive, snake_case
//! aliases accepted, `null` for any optional field, durations as Go strings or nanoseconds.
//!
//! Consul decodes with Go's `encoding/json` (which matches field names case-insensitively)
//! and, on the agent endpoints, translates snake_case keys first. Clients rely on both:
//! py-consul sends `tagged_addresses` and `enabletagoverride`, and the Go client sends
//! `"Check":null`. Lower-casing the whole document would be wrong, because map keys (`Meta`,
//! `NodeMeta`, `TaggedAddresses`, `Header`) keep their case. So the folding is
//! schema-aware: `folded_struct!` declares a struct whose generated `Deserialize` folds
//! only the *field names* it knows (lowercase, `_` and `-` dropped) and hands each value to
//! that field's own type, where maps stay maps. Unknown fields are skipped, as in Go.
//!
//! Every field is an `Option`, so "absent", `null` and "present" can be told apart where
//! Consul does (`Weights` defaults only when absent). The generated `Serialize` writes the
//! canonical PascalCase names and omits absent fields, so the typed client sends the same
//! shapes.

use crate::duration;
use serde::de::{self, DeserializeOwned, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Folds a JSON field name for matching: lower case, without `_` and `-`.
pub fn fold(name: &str) -> String {
    name.chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Decodes a JSON request body, with Consul's error text on failure.
pub fn json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, DecodeError> {
    serde_json::from_slice(body).map_err(|error| DecodeError(error.to_string()))
}

/// A body that is not the JSON the endpoint expects. Consul answers it with 400
/// `Request decode failed: <detail>`; nothing was changed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Request decode failed: {0}")]
pub struct DecodeError(pub String);

/// Declares a request struct decoded with folded field names.
///
/// ```ignore
/// folded_struct! {
///     pub struct Body {
///         node_meta: BTreeMap<String, String> => "NodeMeta",
///         check_id: String => "CheckID" | "id",
///     }
/// }
/// ```
///
/// Each field becomes `pub field: Option<Type>`; `"Wire"` is the name written on output and
/// matched (folded) on input, and `| "alias"` adds further names, written already folded
/// (lower case, without `_`).
#[macro_export]
macro_rules! folded_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$field_meta:meta])*
                $field:ident : $ty:ty => $wire:literal $(| $alias:literal)*
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Default, PartialEq)]
        pub struct $name {
            $( $(#[$field_meta])* pub $field: Option<$ty>, )*
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                use ::serde::ser::SerializeMap;
                let mut map = serializer.serialize_map(None)?;
                $(
                    if let Some(value) = &self.$field {
                        map.serialize_entry($wire, value)?;
                    }
                )*
                map.end()
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct FieldsVisitor;
                impl<'de> ::serde::de::Visitor<'de> for FieldsVisitor {
                    type Value = $name;
                    fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        f.write_str(concat!("a JSON object for ", stringify!($name)))
                    }
                    fn visit_map<A: ::serde::de::MapAccess<'de>>(self, mut map: A) -> Result<$name, A::Error> {
                        let mut out = $name::default();
                        while let Some(key) = map.next_key::<String>()? {
                            let folded = $crate::decode::fold(&key);
                            $(
                                if folded == $crate::decode::fold($wire) $(|| folded == $alias)* {
                                    out.$field = map.next_value()?;
                                    continue;
                                }
                            )*
                            map.next_value::<::serde::de::IgnoredAny>()?;
                        }
                        Ok(out)
                    }
                }
                deserializer.deserialize_map(FieldsVisitor)
            }
        }
    };
}

/// A duration in a request body: a Go duration string (`"10s"`) or integer nanoseconds, as
/// Go's `time.Duration` fields accept. Written back as a Go string.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GoDuration(pub i64);

impl GoDuration {
    /// The Go text (`"10s"`), or empty for zero, as Consul stores check intervals.
    pub fn text_or_empty(self) -> String {
        if self.0 == 0 {
            String::new()
        } else {
            duration::format(self.0)
        }
    }
}

/// Written as a Go duration string; read as one or as integer nanoseconds.
impl schemars::JsonSchema for GoDuration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "GoDuration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A Go duration: a string such as \"10s\", or integer nanoseconds",
            "type": ["string", "integer"]
        })
    }
}

impl Serialize for GoDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&duration::format(self.0))
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;
        impl Visitor<'_> for DurationVisitor {
            type Value = GoDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string such as \"10s\" or integer nanoseconds")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<GoDuration, E> {
                // An empty string means "unset" in Consul's definitions.
                if text.is_empty() {
                    return Ok(GoDuration(0));
                }
                duration::parse(text).map(GoDuration).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, nanos: i64) -> Result<GoDuration, E> {
                Ok(GoDuration(nanos))
            }
            fn visit_u64<E: de::Error>(self, nanos: u64) -> Result<GoDuration, E> {
                i64::try_from(nanos)
                    .map(GoDuration)
                    .map_err(|_| E::custom("duration out of range"))
            }
        }
        deserializer.deserialize_any(DurationVisitor)
    }
}

/// `deserialize_with` helper for response fields that an older server may send as `null`
/// (`"Tags": null`): null reads as the empty value.
pub fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    crate::folded_struct! {
        /// A test shape.
        pub struct Sample {
            node_meta: BTreeMap<String, String> => "NodeMeta",
            check_id: String => "CheckID" | "id",
            interval: GoDuration => "Interval",
            inner: Inner => "Inner",
            port: u16 => "Port",
        }
    }

    crate::folded_struct! {
        pub struct Inner {
            enable_tag_override: bool => "EnableTagOverride",
        }
    }

    #[test]
    fn folds_field_names_but_not_map_keys() {
        let body =
            br#"{"node_meta":{"Rack":"R1"},"CHECKID":"c","inner":{"enable_tag_override":true},
                        "unknown":[1,2],"PORT":80,"interval":"1m30s"}"#;
        let sample: Sample = json_body(body).unwrap();
        assert_eq!(sample.node_meta.unwrap()["Rack"], "R1");
        assert_eq!(sample.check_id.as_deref(), Some("c"));
        assert_eq!(sample.inner.unwrap().enable_tag_override, Some(true));
        assert_eq!(sample.port, Some(80));
        assert_eq!(sample.interval, Some(GoDuration(90_000_000_000)));
    }

    #[test]
    fn accepts_null_aliases_and_nanoseconds() {
        let sample: Sample =
            json_body(br#"{"Inner":null,"ID":"x","Interval":10000000000,"NodeMeta":null}"#)
                .unwrap();
        assert_eq!(sample.inner, None);
        assert_eq!(sample.node_meta, None);
        assert_eq!(sample.check_id.as_deref(), Some("x"));
        assert_eq!(sample.interval, Some(GoDuration(10_000_000_000)));
    }

    #[test]
    fn reports_bad_json_and_bad_durations() {
        let error = json_body::<Sample>(b"{not json").unwrap_err();
        assert!(error.to_string().starts_with("Request decode failed: "));
        assert!(json_body::<Sample>(br#"{"Interval":"soon"}"#).is_err());
        assert!(json_body::<Sample>(b"[]").is_err());
        assert!(json_body::<Sample>(br#"{"Port":"80"}"#).is_err());
    }

    #[test]
    fn serializes_canonical_names_and_skips_absent_fields() {
        let sample = Sample {
            check_id: Some("c".into()),
            interval: Some(GoDuration(15_000_000_000)),
            ..Sample::default()
        };
        let text = serde_json::to_string(&sample).unwrap();
        assert_eq!(text, r#"{"CheckID":"c","Interval":"15s"}"#);
    }
}
