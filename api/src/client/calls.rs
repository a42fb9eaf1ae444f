//! The endpoint calls of `Client`, one method per endpoint.

use super::{Client, ClientError, KvDeleteOptions, KvPutOptions, Query, QueryMeta, QueryOptions};
use crate::params::percent_encode_path;
use crate::reply;
use crate::types::{
    AgentSelf, CatalogService, DeregisterBody, HealthCheck, KvPair, Member, Node, NodeServices,
    RegisterBody, ServiceEntry,
};
use std::collections::BTreeMap;

impl Client {
    // ---- KV ----

    /// `GET /v1/kv/<key>`: the entry, or `None`.
    pub async fn kv_get(
        &self,
        key: &str,
        options: &QueryOptions,
    ) -> Result<(Option<KvPair>, QueryMeta), ClientError> {
        let path = format!("/v1/kv/{}", percent_encode_path(key));
        let (found, meta) = self
            .read::<Vec<KvPair>>(&path, Query::new(), options)
            .await?;
        Ok((found.and_then(|pairs| pairs.into_iter().next()), meta))
    }

    /// `GET /v1/kv/<prefix>?recurse`: every entry under the prefix (empty when none).
    pub async fn kv_list(
        &self,
        prefix: &str,
        options: &QueryOptions,
    ) -> Result<(Vec<KvPair>, QueryMeta), ClientError> {
        let path = format!("/v1/kv/{}", percent_encode_path(prefix));
        let query = vec![("recurse".to_owned(), String::new())];
        let (found, meta) = self.read(&path, query, options).await?;
        Ok((found.unwrap_or_default(), meta))
    }

    /// `GET /v1/kv/<prefix>?keys[&separator=]`.
    pub async fn kv_keys(
        &self,
        prefix: &str,
        separator: Option<&str>,
        options: &QueryOptions,
    ) -> Result<(Vec<String>, QueryMeta), ClientError> {
        let path = format!("/v1/kv/{}", percent_encode_path(prefix));
        let mut query = vec![("keys".to_owned(), String::new())];
        if let Some(separator) = separator {
            query.push(("separator".to_owned(), separator.to_owned()));
        }
        let (found, meta) = self.read(&path, query, options).await?;
        Ok((found.unwrap_or_default(), meta))
    }

    /// `PUT /v1/kv/<key>`: `true`, or `false` when a `cas` did not hold.
    pub async fn kv_put(
        &self,
        key: &str,
        value: &[u8],
        options: &KvPutOptions,
    ) -> Result<bool, ClientError> {
        let mut query = Query::new();
        if options.flags != 0 {
            query.push(("flags".to_owned(), options.flags.to_string()));
        }
        if let Some(cas) = options.cas {
            query.push(("cas".to_owned(), cas.to_string()));
        }
        let path = format!("/v1/kv/{}", percent_encode_path(key));
        let target = Self::encode(&path, &query);
        self.call(reqwest::Method::PUT, &target, Some(value.to_vec()))
            .await
    }

    /// `DELETE /v1/kv/<key>`: `true`, or `false` when a `cas` did not hold.
    pub async fn kv_delete(
        &self,
        key: &str,
        options: &KvDeleteOptions,
    ) -> Result<bool, ClientError> {
        let mut query = Query::new();
        if options.recurse {
            query.push(("recurse".to_owned(), String::new()));
        }
        if let Some(cas) = options.cas {
            query.push(("cas".to_owned(), cas.to_string()));
        }
        let path = format!("/v1/kv/{}", percent_encode_path(key));
        self.call(reqwest::Method::DELETE, &Self::encode(&path, &query), None)
            .await
    }

    // ---- Catalog ----

    /// `PUT /v1/catalog/register`.
    pub async fn catalog_register(&self, body: &RegisterBody) -> Result<bool, ClientError> {
        let json = reply::to_json(body, false);
        self.call(reqwest::Method::PUT, "/v1/catalog/register", Some(json))
            .await
    }

    /// `PUT /v1/catalog/deregister`.
    pub async fn catalog_deregister(&self, body: &DeregisterBody) -> Result<bool, ClientError> {
        let json = reply::to_json(body, false);
        self.call(reqwest::Method::PUT, "/v1/catalog/deregister", Some(json))
            .await
    }

    /// `GET /v1/catalog/datacenters`.
    pub async fn catalog_datacenters(&self) -> Result<Vec<String>, ClientError> {
        self.call(reqwest::Method::GET, "/v1/catalog/datacenters", None)
            .await
    }

    /// `GET /v1/catalog/nodes`.
    pub async fn catalog_nodes(
        &self,
        options: &QueryOptions,
    ) -> Result<(Vec<Node>, QueryMeta), ClientError> {
        self.read_found("/v1/catalog/nodes", Query::new(), options)
            .await
    }

    /// `GET /v1/catalog/services`: name → tags.
    pub async fn catalog_services(
        &self,
        options: &QueryOptions,
    ) -> Result<(BTreeMap<String, Vec<String>>, QueryMeta), ClientError> {
        self.read_found("/v1/catalog/services", Query::new(), options)
            .await
    }

    /// `GET /v1/catalog/service/<name>?tag=..` (every tag must match).
    pub async fn catalog_service(
        &self,
        name: &str,
        tags: &[&str],
        options: &QueryOptions,
    ) -> Result<(Vec<CatalogService>, QueryMeta), ClientError> {
        let path = format!("/v1/catalog/service/{}", percent_encode_path(name));
        self.read_found(&path, tag_query(tags), options).await
    }

    /// `GET /v1/catalog/node/<node>`: `None` for an unknown node.
    pub async fn catalog_node(
        &self,
        node: &str,
        options: &QueryOptions,
    ) -> Result<(Option<NodeServices>, QueryMeta), ClientError> {
        let path = format!("/v1/catalog/node/{}", percent_encode_path(node));
        self.read_found(&path, Query::new(), options).await
    }

    // ---- Health ----

    /// `GET /v1/health/service/<name>?tag=..[&passing]`.
    pub async fn health_service(
        &self,
        name: &str,
        tags: &[&str],
        passing: bool,
        options: &QueryOptions,
    ) -> Result<(Vec<ServiceEntry>, QueryMeta), ClientError> {
        let path = format!("/v1/health/service/{}", percent_encode_path(name));
        let mut query = tag_query(tags);
        if passing {
            query.push(("passing".to_owned(), String::new()));
        }
        self.read_found(&path, query, options).await
    }

    /// `GET /v1/health/checks/<service>`.
    pub async fn health_checks(
        &self,
        service: &str,
        options: &QueryOptions,
    ) -> Result<(Vec<HealthCheck>, QueryMeta), ClientError> {
        let path = format!("/v1/health/checks/{}", percent_encode_path(service));
        self.read_found(&path, Query::new(), options).await
    }

    /// `GET /v1/health/node/<node>`.
    pub async fn health_node(
        &self,
        node: &str,
        options: &QueryOptions,
    ) -> Result<(Vec<HealthCheck>, QueryMeta), ClientError> {
        let path = format!("/v1/health/node/{}", percent_encode_path(node));
        self.read_found(&path, Query::new(), options).await
    }

    /// `GET /v1/health/state/<state>` (`passing`, `warning`, `critical` or `any`).
    pub async fn health_state(
        &self,
        state: &str,
        options: &QueryOptions,
    ) -> Result<(Vec<HealthCheck>, QueryMeta), ClientError> {
        let path = format!("/v1/health/state/{}", percent_encode_path(state));
        self.read_found(&path, Query::new(), options).await
    }

    // ---- Status and agent ----

    /// `GET /v1/status/leader`: the leader's address, or `""`.
    pub async fn status_leader(&self) -> Result<String, ClientError> {
        self.call(reqwest::Method::GET, "/v1/status/leader", None)
            .await
    }

    /// `GET /v1/status/peers`.
    pub async fn status_peers(&self) -> Result<Vec<String>, ClientError> {
        self.call(reqwest::Method::GET, "/v1/status/peers", None)
            .await
    }

    /// `GET /v1/agent/self`.
    pub async fn agent_self(&self) -> Result<AgentSelf, ClientError> {
        self.call(reqwest::Method::GET, "/v1/agent/self", None)
            .await
    }

    /// `GET /v1/agent/members[?wan]`.
    pub async fn agent_members(&self, wan: bool) -> Result<Vec<Member>, ClientError> {
        let path = if wan {
            "/v1/agent/members?wan"
        } else {
            "/v1/agent/members"
        };
        self.call(reqwest::Method::GET, path, None).await
    }
}

fn tag_query(tags: &[&str]) -> Query {
    tags.iter()
        .map(|tag| ("tag".to_owned(), (*tag).to_owned()))
        .collect()
}
