//! A prepared query's definition: the request body as clients send it (field names folded,
//! as Go decodes them), the canonical form the catalog stores as JSON, Consul's checks, and
//! the JSON a read answers.

use crate::decode::DecodeError;
use crate::error::ApiError;
use crate::folded_struct;
use legate_catalog::{PreparedQuery, RaftIndexes};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

folded_struct! {
    /// `POST /v1/query` and `PUT /v1/query/<id>`.
    pub struct QueryBody {
        id: String => "ID",
        name: String => "Name",
        session: String => "Session",
        token: String => "Token",
        template: TemplateBody => "Template",
        service: ServiceBody => "Service",
        dns: DnsBody => "DNS",
    }
}

folded_struct! {
    pub struct TemplateBody {
        kind: String => "Type",
        regexp: String => "Regexp",
        remove_empty_tags: bool => "RemoveEmptyTags",
    }
}

folded_struct! {
    pub struct ServiceBody {
        service: String => "Service",
        failover: FailoverBody => "Failover",
        ignore_check_ids: Vec<String> => "IgnoreCheckIDs",
        only_passing: bool => "OnlyPassing",
        near: String => "Near",
        tags: Vec<String> => "Tags",
        node_meta: BTreeMap<String, String> => "NodeMeta",
        service_meta: BTreeMap<String, String> => "ServiceMeta",
        connect: bool => "Connect",
        peer: String => "Peer",
        sameness_group: String => "SamenessGroup",
    }
}

folded_struct! {
    pub struct FailoverBody {
        nearest_n: i64 => "NearestN",
        datacenters: Vec<String> => "Datacenters",
        targets: Vec<TargetBody> => "Targets",
    }
}

folded_struct! {
    pub struct TargetBody {
        peer: String => "Peer",
        datacenter: String => "Datacenter",
    }
}

folded_struct! {
    pub struct DnsBody {
        ttl: String => "TTL",
    }
}

/// The template kind Consul knows.
pub const NAME_PREFIX_MATCH: &str = "name_prefix_match";

/// What the catalog stores as the query's `definition` (and what execution reads).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Definition {
    pub token: String,
    pub template: TemplateDef,
    pub service: ServiceDef,
    #[serde(rename = "DNS")]
    pub dns: DnsDef,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TemplateDef {
    #[serde(rename = "Type")]
    pub kind: String,
    pub regexp: String,
    pub remove_empty_tags: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ServiceDef {
    pub service: String,
    pub failover: FailoverDef,
    #[serde(rename = "IgnoreCheckIDs")]
    pub ignore_check_ids: Vec<String>,
    pub only_passing: bool,
    pub near: String,
    pub tags: Vec<String>,
    pub node_meta: BTreeMap<String, String>,
    pub service_meta: BTreeMap<String, String>,
    pub connect: bool,
    pub peer: String,
    pub sameness_group: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct FailoverDef {
    #[serde(rename = "NearestN")]
    pub nearest_n: i64,
    pub datacenters: Vec<String>,
    pub targets: Vec<TargetDef>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TargetDef {
    pub peer: String,
    pub datacenter: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DnsDef {
    #[serde(rename = "TTL")]
    pub ttl: String,
}

/// A prepared query as `GET /v1/query[/<id>]` and `explain` show it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct QueryJson {
    #[serde(rename = "ID")]
    pub id: String,
    pub name: String,
    pub session: String,
    #[serde(flatten)]
    pub definition: Definition,
    pub create_index: u64,
    pub modify_index: u64,
}

impl QueryJson {
    /// The stored query as clients read it; a definition this build cannot read (it never
    /// writes one) shows as empty rather than failing the whole listing.
    pub fn from_stored(query: &PreparedQuery) -> QueryJson {
        QueryJson {
            id: query.id.clone(),
            name: query.name.clone(),
            session: query
                .session
                .as_ref()
                .map(|session| session.to_string())
                .unwrap_or_default(),
            definition: Definition::from_stored(query),
            create_index: query.indexes.create_index.0,
            modify_index: query.indexes.modify_index.0,
        }
    }
}

impl Definition {
    pub fn from_stored(query: &PreparedQuery) -> Definition {
        serde_json::from_str(&query.definition).unwrap_or_default()
    }

    /// Whether this is a template (any `Template.Type`).
    pub fn is_template(&self) -> bool {
        !self.template.kind.is_empty()
    }
}

/// A checked body: what the catalog stores for it. Refusals are 400s with Consul's text.
pub fn parse(body: &[u8], id: &str) -> Result<PreparedQuery, ApiError> {
    let body: QueryBody = crate::decode::json_body(body)
        .map_err(|error: DecodeError| ApiError::BadRequest(error.to_string()))?;
    let service = body.service.unwrap_or_default();
    let failover = service.failover.unwrap_or_default();
    let template = body.template.unwrap_or_default();
    let definition = Definition {
        token: body.token.unwrap_or_default(),
        template: TemplateDef {
            kind: template.kind.unwrap_or_default(),
            regexp: template.regexp.unwrap_or_default(),
            remove_empty_tags: template.remove_empty_tags.unwrap_or_default(),
        },
        service: ServiceDef {
            service: service.service.unwrap_or_default(),
            failover: FailoverDef {
                nearest_n: failover.nearest_n.unwrap_or_default(),
                datacenters: failover.datacenters.unwrap_or_default(),
                targets: failover
                    .targets
                    .unwrap_or_default()
                    .into_iter()
                    .map(|target| TargetDef {
                        peer: target.peer.unwrap_or_default(),
                        datacenter: target.datacenter.unwrap_or_default(),
                    })
                    .collect(),
            },
            ignore_check_ids: service.ignore_check_ids.unwrap_or_default(),
            only_passing: service.only_passing.unwrap_or_default(),
            near: service.near.unwrap_or_default(),
            tags: service.tags.unwrap_or_default(),
            node_meta: service.node_meta.unwrap_or_default(),
            service_meta: service.service_meta.unwrap_or_default(),
            connect: service.connect.unwrap_or_default(),
            peer: service.peer.unwrap_or_default(),
            sameness_group: service.sameness_group.unwrap_or_default(),
        },
        dns: DnsDef {
            ttl: body.dns.and_then(|dns| dns.ttl).unwrap_or_default(),
        },
    };
    check(&definition).map_err(ApiError::BadRequest)?;
    let session = body.session.filter(|session| !session.is_empty());
    Ok(PreparedQuery {
        id: id.to_owned(),
        name: body.name.unwrap_or_default(),
        session: session.map(Into::into),
        template: definition.is_template(),
        definition: serde_json::to_string(&definition).unwrap_or_default(),
        indexes: RaftIndexes::default(),
    })
}

/// Consul's checks (`parseQuery`), in its words.
fn check(definition: &Definition) -> Result<(), String> {
    let template = &definition.template;
    match template.kind.as_str() {
        "" | NAME_PREFIX_MATCH => {}
        other => return Err(format!("Bad Template.Type '{other}'")),
    }
    if !template.regexp.is_empty() {
        regex::Regex::new(&template.regexp).map_err(|error| format!("Bad Regexp: {error}"))?;
    }
    let service = &definition.service;
    if service.service.is_empty() {
        return Err("Must provide a Service name to query".into());
    }
    if service.failover.nearest_n < 0 {
        return Err(format!(
            "Bad NearestN '{}', must be >= 0",
            service.failover.nearest_n
        ));
    }
    for target in &service.failover.targets {
        if !target.peer.is_empty() || !service.peer.is_empty() {
            return Err("Cluster peering is not supported by this agent".into());
        }
        if target.datacenter.is_empty() {
            return Err("Failover targets must name a Datacenter".into());
        }
    }
    if !service.sameness_group.is_empty() {
        return Err("Sameness groups are a Consul Enterprise feature".into());
    }
    let ttl = &definition.dns.ttl;
    if !ttl.is_empty() {
        let nanos =
            crate::duration::parse(ttl).map_err(|error| format!("Bad DNS TTL '{ttl}': {error}"))?;
        if nanos < 0 {
            return Err(format!("DNS TTL '{ttl}', must be >=0"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_bodies_parse_and_round_trip() {
        // py-consul's spelling: lower-case keys.
        let body = br#"{"name":"web","service":{"service":"web","onlypassing":true,
            "tags":["v1","!canary"],"failover":{"nearestn":2,"datacenters":["dc2"]}},
            "dns":{"ttl":"10s"},"template":{"type":"name_prefix_match"}}"#;
        let query = parse(body, "q1").unwrap();
        assert_eq!(query.name, "web");
        assert!(query.template);
        let definition = Definition::from_stored(&query);
        assert_eq!(definition.service.failover.nearest_n, 2);
        assert_eq!(definition.service.failover.datacenters, ["dc2"]);
        assert!(definition.service.only_passing);
        assert_eq!(definition.dns.ttl, "10s");
        let json = serde_json::to_value(QueryJson::from_stored(&query)).unwrap();
        assert_eq!(json["ID"], "q1");
        assert_eq!(json["Service"]["Failover"]["NearestN"], 2);
        assert_eq!(json["DNS"]["TTL"], "10s");
        assert_eq!(json["Template"]["Type"], "name_prefix_match");
        assert_eq!(json["Service"]["IgnoreCheckIDs"], serde_json::json!([]));
    }

    #[test]
    fn consuls_checks_refuse_what_consul_refuses() {
        for (body, text) in [
            (r#"{"Service":{}}"#, "Must provide a Service name to query"),
            (
                r#"{"Service":{"Service":"s","Failover":{"NearestN":-1}}}"#,
                "Bad NearestN '-1', must be >= 0",
            ),
            (
                r#"{"Service":{"Service":"s"},"Template":{"Type":"bogus"}}"#,
                "Bad Template.Type 'bogus'",
            ),
            (
                r#"{"Service":{"Service":"s"},"Template":{"Type":"name_prefix_match","Regexp":"("}}"#,
                "Bad Regexp",
            ),
            (
                r#"{"Service":{"Service":"s"},"DNS":{"TTL":"soon"}}"#,
                "Bad DNS TTL 'soon'",
            ),
        ] {
            let error = parse(body.as_bytes(), "q").unwrap_err().to_string();
            assert!(error.contains(text), "{body}: {error}");
        }
    }
}
