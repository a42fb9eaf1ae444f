//! Sessions as `/v1/session/*` shows them, and the create body as Consul reads it.
//!
//! The create body is read field by field rather than through `folded_struct!`, because
//! Consul tells an absent `Checks` from a `"Checks": null` (any checks key at all drops the
//! default `serfHealth`), and `LockDelay` is a Go duration string or a number where values
//! below 1000 mean seconds (`FixupLockDelay`).

use crate::decode::{fold, DecodeError};
use crate::duration;
use legate_catalog as catalog;
use legate_catalog::{CheckId, NodeName, SessionBehavior, SessionId};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The check every session is bound to unless the creator names others.
pub const SERF_CHECK: &str = "serfHealth";
/// Consul's default lock-delay.
pub const DEFAULT_LOCK_DELAY_NS: u64 = 15_000_000_000;
/// Numeric lock-delays below this are seconds, not nanoseconds (Consul's
/// `lockDelayMinThreshold`: users send `5` meaning five seconds).
const LOCK_DELAY_SECONDS_BELOW: u64 = 1000;
/// The TTL bounds Consul's servers accept (`session_ttl_min` and `SessionTTLMax`).
pub const TTL_MIN_NS: i64 = 10_000_000_000;
pub const TTL_MAX_NS: i64 = 86_400_000_000_000;

/// A service check a session is bound to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct ServiceCheck {
    #[serde(rename = "ID")]
    pub id: String,
    pub namespace: String,
}

/// One session, as `/v1/session/info`, `list`, `node` and `renew` answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct SessionEntry {
    #[serde(rename = "ID")]
    pub id: String,
    pub name: String,
    pub node: String,
    /// Nanoseconds, as Go marshals a `time.Duration`.
    pub lock_delay: u64,
    pub behavior: String,
    #[serde(rename = "TTL")]
    pub ttl: String,
    /// `null` when empty, as Go marshals a nil slice.
    pub node_checks: Option<Vec<String>>,
    pub service_checks: Option<Vec<ServiceCheck>>,
    /// The legacy list, only when the creator sent one (`omitempty` in Consul).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<String>,
    pub create_index: u64,
    pub modify_index: u64,
}

fn non_empty<T>(list: Vec<T>) -> Option<Vec<T>> {
    (!list.is_empty()).then_some(list)
}

impl From<&catalog::Session> for SessionEntry {
    fn from(session: &catalog::Session) -> Self {
        let ids = |list: &[CheckId]| list.iter().map(|id| id.0.clone()).collect::<Vec<_>>();
        SessionEntry {
            id: session.id.0.clone(),
            name: session.name.clone(),
            node: session.node.0.clone(),
            lock_delay: session.lock_delay_ns,
            behavior: session.behavior.as_str().to_owned(),
            ttl: session.ttl.clone(),
            node_checks: non_empty(ids(&session.node_checks)),
            service_checks: non_empty(
                session
                    .service_checks
                    .iter()
                    .map(|check| ServiceCheck {
                        id: check.id.0.clone(),
                        namespace: check.namespace.clone(),
                    })
                    .collect(),
            ),
            checks: ids(&session.checks),
            create_index: session.indexes.create_index.0,
            modify_index: session.indexes.modify_index.0,
        }
    }
}

/// A create request as the typed client sends it; absent fields take Consul's defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct SessionRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// A Go duration (`"15s"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock_delay: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub behavior: Option<String>,
    #[serde(rename = "TTL", skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
    /// Present (even empty) replaces the default `serfHealth`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_checks: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_checks: Option<Vec<ServiceCheck>>,
}

/// `PUT /v1/session/create`'s answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SessionCreated {
    #[serde(rename = "ID")]
    pub id: String,
}

/// Why a create body was refused: a body that does not decode (400), or a value Consul's
/// servers refuse (500, with their text).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionBodyError {
    Decode(DecodeError),
    Refused(String),
}

fn decode_error(text: impl Into<String>) -> SessionBodyError {
    SessionBodyError::Decode(DecodeError(text.into()))
}

fn string_list(value: &Value, field: &str) -> Result<Vec<String>, SessionBodyError> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::String(text) => Ok(text.clone()),
                _ => Err(decode_error(format!("{field}: expected strings"))),
            })
            .collect(),
        _ => Err(decode_error(format!("{field}: expected a list"))),
    }
}

fn text(value: &Value, field: &str) -> Result<String, SessionBodyError> {
    match value {
        Value::Null => Ok(String::new()),
        Value::String(text) => Ok(text.clone()),
        _ => Err(decode_error(format!("{field}: expected a string"))),
    }
}

/// `LockDelay` as `FixupLockDelay` reads it.
fn lock_delay(value: &Value) -> Result<u64, SessionBodyError> {
    let nanos = match value {
        Value::Null => return Ok(0),
        Value::String(text) => {
            duration::parse(text).map_err(|error| decode_error(error.to_string()))?
        }
        Value::Number(number) => number
            .as_f64()
            .map(|float| float as i64)
            .ok_or_else(|| decode_error("LockDelay: not a number"))?,
        _ => return Err(decode_error("LockDelay: expected a duration")),
    };
    let nanos = u64::try_from(nanos).map_err(|_| decode_error("LockDelay: negative"))?;
    Ok(if nanos < LOCK_DELAY_SECONDS_BELOW {
        nanos * 1_000_000_000
    } else {
        nanos
    })
}

/// Checks a TTL as Consul's `Session.Apply` does, with its texts.
fn check_ttl(ttl: &str) -> Result<(), SessionBodyError> {
    if ttl.is_empty() {
        return Ok(());
    }
    let nanos = duration::parse(ttl).map_err(|error| {
        SessionBodyError::Refused(format!("Session TTL '{ttl}' invalid: {error}"))
    })?;
    if nanos != 0 && !(TTL_MIN_NS..=TTL_MAX_NS).contains(&nanos) {
        return Err(SessionBodyError::Refused(format!(
            "Invalid Session TTL '{nanos}', must be between [{}={}]",
            duration::format(TTL_MIN_NS),
            duration::format(TTL_MAX_NS)
        )));
    }
    Ok(())
}

/// The session a create request asks for, with Consul's defaults: this agent's node,
/// `serfHealth` unless any checks key is present, a 15 s lock-delay, `release`, no TTL.
/// `body` may be empty (all defaults). The id is left empty for the leader to assign.
pub fn session_from_body(
    body: &[u8],
    agent_node: &str,
) -> Result<catalog::Session, SessionBodyError> {
    let mut session = catalog::Session {
        node: NodeName::new(agent_node),
        lock_delay_ns: DEFAULT_LOCK_DELAY_NS,
        node_checks: vec![CheckId::new(SERF_CHECK)],
        ..catalog::Session::default()
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(session);
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|error| decode_error(error.to_string()))?;
    let Value::Object(fields) = value else {
        return Err(decode_error("expected a JSON object"));
    };
    let mut checks_given = false;
    let mut node_checks = Vec::new();
    for (key, value) in &fields {
        match fold(key).as_str() {
            "name" => session.name = text(value, "Name")?,
            "node" => {
                let node = text(value, "Node")?;
                if !node.is_empty() {
                    session.node = NodeName::new(node);
                }
            }
            "lockdelay" => session.lock_delay_ns = lock_delay(value)?,
            "behavior" => {
                session.behavior = match text(value, "Behavior")?.as_str() {
                    "" | "release" => SessionBehavior::Release,
                    "delete" => SessionBehavior::Delete,
                    other => {
                        return Err(SessionBodyError::Refused(format!(
                            "Invalid Behavior setting '{other}'"
                        )))
                    }
                }
            }
            "ttl" => session.ttl = text(value, "TTL")?,
            "checks" => {
                checks_given = true;
                session.checks = string_list(value, "Checks")?
                    .into_iter()
                    .map(CheckId::new)
                    .collect();
            }
            "nodechecks" => {
                checks_given = true;
                node_checks = string_list(value, "NodeChecks")?;
            }
            "servicechecks" => {
                checks_given = true;
                session.service_checks = service_checks(value)?;
            }
            _ => {}
        }
    }
    if checks_given {
        session.node_checks = node_checks.into_iter().map(CheckId::new).collect();
    }
    check_ttl(&session.ttl)?;
    Ok(session)
}

fn service_checks(value: &Value) -> Result<Vec<catalog::ServiceCheck>, SessionBodyError> {
    let Value::Array(items) = value else {
        return match value {
            Value::Null => Ok(Vec::new()),
            _ => Err(decode_error("ServiceChecks: expected a list")),
        };
    };
    items
        .iter()
        .map(|item| {
            let Value::Object(fields) = item else {
                return Err(decode_error("ServiceChecks: expected objects"));
            };
            let mut check = catalog::ServiceCheck::default();
            for (key, value) in fields {
                match fold(key).as_str() {
                    "id" => check.id = CheckId::new(text(value, "ID")?),
                    "namespace" => check.namespace = text(value, "Namespace")?,
                    _ => {}
                }
            }
            Ok(check)
        })
        .collect()
}

/// A session id from a path, as the handlers take it.
pub fn session_id(text: &str) -> SessionId {
    SessionId::new(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(body: &str) -> catalog::Session {
        session_from_body(body.as_bytes(), "agent-1").unwrap()
    }

    #[test]
    fn an_empty_body_takes_every_default() {
        let session = parse("");
        assert_eq!(session.node.as_str(), "agent-1");
        assert_eq!(session.node_checks, vec![CheckId::new("serfHealth")]);
        assert_eq!(session.lock_delay_ns, 15_000_000_000);
        assert_eq!(session.behavior, SessionBehavior::Release);
        assert_eq!(session.ttl, "");
    }

    #[test]
    fn any_checks_key_drops_serf_health_and_names_fold() {
        assert!(parse(r#"{"Checks":null}"#).node_checks.is_empty());
        assert!(parse(r#"{"checks":[]}"#).node_checks.is_empty());
        let session = parse(r#"{"checks":["a"],"nodechecks":["b"],"name":"x","ttl":"15s"}"#);
        assert_eq!(session.checks, vec![CheckId::new("a")]);
        assert_eq!(session.node_checks, vec![CheckId::new("b")]);
        assert_eq!((session.name.as_str(), session.ttl.as_str()), ("x", "15s"));
        let session = parse(r#"{"ServiceChecks":[{"ID":"svc","Namespace":""}]}"#);
        assert_eq!(session.service_checks[0].id.as_str(), "svc");
        assert!(session.node_checks.is_empty());
    }

    #[test]
    fn lock_delay_small_numbers_are_seconds() {
        assert_eq!(parse(r#"{"LockDelay":5}"#).lock_delay_ns, 5_000_000_000);
        assert_eq!(
            parse(r#"{"LockDelay":"15000ms"}"#).lock_delay_ns,
            15_000_000_000
        );
        assert_eq!(
            parse(r#"{"lockdelay":"20s"}"#).lock_delay_ns,
            20_000_000_000
        );
        assert_eq!(
            parse(r#"{"LockDelay":"999ns"}"#).lock_delay_ns,
            999_000_000_000
        );
        assert_eq!(
            parse(r#"{"LockDelay":2000000000}"#).lock_delay_ns,
            2_000_000_000
        );
        assert_eq!(parse(r#"{"LockDelay":"0s"}"#).lock_delay_ns, 0);
    }

    #[test]
    fn refusals_carry_consuls_texts() {
        let refused = |body: &str| match session_from_body(body.as_bytes(), "n") {
            Err(SessionBodyError::Refused(text)) => text,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            refused(r#"{"TTL":"5s"}"#),
            "Invalid Session TTL '5000000000', must be between [10s=24h0m0s]"
        );
        assert!(refused(r#"{"TTL":"soon"}"#).starts_with("Session TTL 'soon' invalid: "));
        assert_eq!(
            refused(r#"{"Behavior":"explode"}"#),
            "Invalid Behavior setting 'explode'"
        );
        assert!(matches!(
            session_from_body(b"[1]", "n"),
            Err(SessionBodyError::Decode(_))
        ));
    }

    #[test]
    fn entries_marshal_as_consul_does() {
        let session = catalog::Session {
            id: "s1".into(),
            node: "n1".into(),
            lock_delay_ns: 15_000_000_000,
            node_checks: vec!["serfHealth".into()],
            ..catalog::Session::default()
        };
        let value = serde_json::to_value(SessionEntry::from(&session)).unwrap();
        assert_eq!(
            value,
            json!({"ID":"s1","Name":"","Node":"n1","LockDelay":15000000000u64,
                   "Behavior":"release","TTL":"","NodeChecks":["serfHealth"],
                   "ServiceChecks":null,"CreateIndex":0,"ModifyIndex":0})
        );
    }
}
