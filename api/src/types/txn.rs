//! `/v1/txn` bodies and answers, as Consul's `agent/txn_endpoint.go` reads and writes them.
//!
//! The body is a JSON array of `{"KV":{...}}`, `{"Node":{...}}`, `{"Service":{...}}` or
//! `{"Check":{...}}` operations, field names matched case-insensitively as Go does, KV
//! values in base64. The answer is `{"Results":[...],"Errors":null}` (200) or
//! `{"Results":null,"Errors":[{"OpIndex":i,"What":"..."}]}` (409).

use super::registration::{check_node_id, CheckBody, ServiceBody};
use super::{HealthCheck, KvPair, Node, NodeService};
use crate::folded_struct;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use legate_catalog as catalog;
use legate_catalog::txn::{
    CatalogVerb, CheckOp, KvOp, KvVerb, NodeOp, ServiceOp, TxnError, TxnOp, TxnResult,
};
use legate_catalog::{Index, SessionId};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

/// Bytes sent as a base64 string, as Go encodes `[]byte`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Base64(pub Vec<u8>);

/// A base64 string.
impl schemars::JsonSchema for Base64 {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Base64".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string", "contentEncoding": "base64" })
    }
}

impl Serialize for Base64 {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Base64 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        STANDARD
            .decode(text.as_bytes())
            .map(Base64)
            .map_err(serde::de::Error::custom)
    }
}

folded_struct! {
    /// A KV operation.
    pub struct KvOpBody {
        verb: String => "Verb",
        key: String => "Key",
        value: Base64 => "Value",
        flags: u64 => "Flags",
        index: u64 => "Index",
        session: String => "Session",
    }
}

folded_struct! {
    /// A node as a transaction writes it.
    pub struct NodeBody {
        id: String => "ID",
        node: String => "Node",
        address: String => "Address",
        datacenter: String => "Datacenter",
        tagged_addresses: BTreeMap<String, String> => "TaggedAddresses",
        meta: BTreeMap<String, String> => "Meta",
        modify_index: u64 => "ModifyIndex",
    }
}

folded_struct! {
    pub struct NodeOpBody {
        verb: String => "Verb",
        node: NodeBody => "Node",
    }
}

folded_struct! {
    pub struct ServiceOpBody {
        verb: String => "Verb",
        node: String => "Node",
        service: ServiceBody => "Service",
    }
}

folded_struct! {
    pub struct CheckOpBody {
        verb: String => "Verb",
        check: CheckBody => "Check",
    }
}

folded_struct! {
    /// One operation: exactly one of its fields is set.
    pub struct TxnOpBody {
        kv: KvOpBody => "KV",
        node: NodeOpBody => "Node",
        service: ServiceOpBody => "Service",
        check: CheckOpBody => "Check",
    }
}

/// A body that cannot become operations, with the status Consul answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxnBodyError {
    /// 400.
    BadRequest(String),
    /// 409: operations that name no verb Consul knows, reported per operation.
    Conflict(Vec<TxnError>),
}

fn verb_error(at: usize, kind: &str, verb: &str) -> TxnError {
    TxnError::new(at, format!("unknown {kind} verb {verb:?}"))
}

impl TxnOpBody {
    /// The operation, or why operation `at` is refused.
    pub fn into_op(self, at: usize) -> Result<TxnOp, Result<TxnError, String>> {
        if let Some(kv) = self.kv {
            let verb_text = kv.verb.unwrap_or_default();
            let verb =
                KvVerb::parse(&verb_text).ok_or_else(|| Ok(verb_error(at, "KV", &verb_text)))?;
            return Ok(TxnOp::Kv(KvOp {
                verb,
                key: kv.key.unwrap_or_default(),
                value: kv.value.unwrap_or_default().0,
                flags: kv.flags.unwrap_or(0),
                index: Index(kv.index.unwrap_or(0)),
                session: SessionId::new(kv.session.unwrap_or_default()),
            }));
        }
        let catalog_verb = |kind: &str, verb: Option<String>| {
            let text = verb.unwrap_or_default();
            CatalogVerb::parse(&text).ok_or_else(|| Ok(verb_error(at, kind, &text)))
        };
        if let Some(op) = self.node {
            let verb = catalog_verb("Node", op.verb)?;
            let body = op.node.unwrap_or_default();
            let id = body.id.unwrap_or_default();
            if !id.is_empty() {
                check_node_id(&id).map_err(|error| Err(error.to_string()))?;
            }
            let node = catalog::Node {
                id,
                name: body.node.unwrap_or_default().into(),
                address: body.address.unwrap_or_default(),
                tagged_addresses: body.tagged_addresses.unwrap_or_default(),
                meta: body.meta.unwrap_or_default(),
                indexes: modified_at(body.modify_index),
            };
            return Ok(TxnOp::Node(Box::new(NodeOp { verb, node })));
        }
        if let Some(op) = self.service {
            let verb = catalog_verb("Service", op.verb)?;
            let node = op.node.unwrap_or_default();
            let body = op.service.unwrap_or_default();
            let modify_index = body.modify_index;
            let mut service = body
                .into_record(&node)
                .map_err(|error| Err(error.to_string()))?;
            service.indexes = modified_at(modify_index);
            return Ok(TxnOp::Service(Box::new(ServiceOp {
                verb,
                node: node.into(),
                service,
            })));
        }
        if let Some(op) = self.check {
            let verb = catalog_verb("Check", op.verb)?;
            let body = op.check.unwrap_or_default();
            let modify_index = body.modify_index;
            let node = body.node.clone().unwrap_or_default();
            let mut check = body
                .into_record(&node)
                .map_err(|error| Err(error.to_string()))?;
            check.indexes = modified_at(modify_index);
            return Ok(TxnOp::Check(Box::new(CheckOp { verb, check })));
        }
        Err(Ok(TxnError::new(at, "no operation specified")))
    }
}

fn modified_at(index: Option<u64>) -> catalog::RaftIndexes {
    catalog::RaftIndexes {
        create_index: Index::ZERO,
        modify_index: Index(index.unwrap_or(0)),
    }
}

/// Parses a whole body into operations.
pub fn ops_from_body(bodies: Vec<TxnOpBody>) -> Result<Vec<TxnOp>, TxnBodyError> {
    let mut ops = Vec::with_capacity(bodies.len());
    let mut errors = Vec::new();
    for (at, body) in bodies.into_iter().enumerate() {
        match body.into_op(at) {
            Ok(op) => ops.push(op),
            Err(Ok(error)) => errors.push(error),
            Err(Err(text)) => return Err(TxnBodyError::BadRequest(text)),
        }
    }
    if errors.is_empty() {
        Ok(ops)
    } else {
        Err(TxnBodyError::Conflict(errors))
    }
}

/// One result: exactly one field is set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TxnResultJson {
    #[serde(rename = "KV", skip_serializing_if = "Option::is_none")]
    pub kv: Option<KvPair>,
    #[serde(rename = "Node", skip_serializing_if = "Option::is_none")]
    pub node: Option<Node>,
    #[serde(rename = "Service", skip_serializing_if = "Option::is_none")]
    /// `structs.NodeService`, as Consul's transaction results carry it.
    pub service: Option<NodeService>,
    #[serde(rename = "Check", skip_serializing_if = "Option::is_none")]
    pub check: Option<HealthCheck>,
}

impl TxnResultJson {
    pub fn from_result(result: &TxnResult, datacenter: &str) -> TxnResultJson {
        match result {
            TxnResult::Kv(entry) => TxnResultJson {
                kv: Some(KvPair::from(entry)),
                ..TxnResultJson::default()
            },
            TxnResult::Node(node) => TxnResultJson {
                node: Some(Node::from_record(node, datacenter)),
                ..TxnResultJson::default()
            },
            TxnResult::Service(service) => TxnResultJson {
                service: Some(NodeService::from(&**service)),
                ..TxnResultJson::default()
            },
            TxnResult::Check(check) => TxnResultJson {
                check: Some(HealthCheck::from(&**check)),
                ..TxnResultJson::default()
            },
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct TxnErrorJson {
    pub op_index: u32,
    pub what: String,
}

/// The whole answer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct TxnResponse {
    pub results: Option<Vec<TxnResultJson>>,
    pub errors: Option<Vec<TxnErrorJson>>,
}

impl TxnResponse {
    pub fn of(answer: &Result<Vec<TxnResult>, Vec<TxnError>>, datacenter: &str) -> TxnResponse {
        match answer {
            Ok(results) => TxnResponse {
                results: Some(
                    results
                        .iter()
                        .map(|result| TxnResultJson::from_result(result, datacenter))
                        .collect(),
                ),
                errors: None,
            },
            Err(errors) => TxnResponse::failed(errors),
        }
    }

    pub fn failed(errors: &[TxnError]) -> TxnResponse {
        TxnResponse {
            results: None,
            errors: Some(
                errors
                    .iter()
                    .map(|error| TxnErrorJson {
                        op_index: error.op_index,
                        what: error.what.clone(),
                    })
                    .collect(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<Vec<TxnOp>, TxnBodyError> {
        let bodies: Vec<TxnOpBody> = serde_json::from_str(body).unwrap();
        ops_from_body(bodies)
    }

    #[test]
    fn kv_ops_decode_with_folded_names_and_base64_values() {
        let ops = parse(
            r#"[{"KV":{"Verb":"set","Key":"a","Value":"aGk=","Flags":3}},
                {"kv":{"verb":"check-index","key":"a","index":7}},
                {"KV":{"Verb":"lock","Key":"l","Session":"s"}}]"#,
        )
        .unwrap();
        let TxnOp::Kv(set) = &ops[0] else { panic!() };
        assert_eq!(
            (set.verb, set.value.as_slice(), set.flags),
            (KvVerb::Set, &b"hi"[..], 3)
        );
        let TxnOp::Kv(check) = &ops[1] else { panic!() };
        assert_eq!((check.verb, check.index), (KvVerb::CheckIndex, Index(7)));
        let TxnOp::Kv(lock) = &ops[2] else { panic!() };
        assert_eq!(lock.session.as_str(), "s");
    }

    #[test]
    fn unknown_verbs_are_reported_per_operation() {
        assert_eq!(
            parse(r#"[{"KV":{"Verb":"set","Key":"a"}},{"KV":{"Verb":"frob","Key":"b"}},{}]"#),
            Err(TxnBodyError::Conflict(vec![
                TxnError::new(1, "unknown KV verb \"frob\""),
                TxnError::new(2, "no operation specified"),
            ]))
        );
    }

    #[test]
    fn catalog_ops_carry_their_modify_index() {
        let ops = parse(
            r#"[{"Node":{"Verb":"cas","Node":{"Node":"n1","Address":"10.0.0.1","ModifyIndex":5}}},
                {"Service":{"Verb":"set","Node":"n1","Service":{"Service":"web","Port":80}}},
                {"Check":{"Verb":"delete-cas","Check":{"Node":"n1","CheckID":"c","ModifyIndex":9}}}]"#,
        )
        .unwrap();
        let TxnOp::Node(node) = &ops[0] else { panic!() };
        assert_eq!(node.node.indexes.modify_index, Index(5));
        let TxnOp::Service(service) = &ops[1] else {
            panic!()
        };
        assert_eq!(service.service.id.as_str(), "web");
        let TxnOp::Check(check) = &ops[2] else {
            panic!()
        };
        assert_eq!(check.check.indexes.modify_index, Index(9));
    }

    #[test]
    fn answers_have_consuls_shape() {
        let ok = TxnResponse::of(
            &Ok(vec![TxnResult::Kv(catalog::KvEntry {
                key: "a".into(),
                ..catalog::KvEntry::default()
            })]),
            "dc1",
        );
        let value = serde_json::to_value(&ok).unwrap();
        assert_eq!(value["Errors"], serde_json::Value::Null);
        assert_eq!(value["Results"][0]["KV"]["Key"], "a");
        assert_eq!(value["Results"][0]["KV"]["Value"], serde_json::Value::Null);
        assert!(value["Results"][0].get("Node").is_none());
        let failed = TxnResponse::failed(&[TxnError::new(2, "nope")]);
        assert_eq!(
            serde_json::to_value(&failed).unwrap(),
            serde_json::json!({"Results":null,"Errors":[{"OpIndex":2,"What":"nope"}]})
        );
    }
}
