//! The endpoint calls of `Client`, one method per endpoint.

use super::{
    Client, ClientError, KvDeleteOptions, KvPutOptions, Query, QueryMeta, QueryOptions,
    CALL_TIMEOUT,
};
use crate::params::percent_encode_path;
use crate::reply;
use crate::types::{
    AgentSelf, AgentService, AgentServiceBody, CatalogService, CoordinateEntry, DatacenterMap,
    DeregisterBody, HealthCheck, KvPair, Member, Node, NodeServices, RegisterBody, ServiceEntry,
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
        if let Some(session) = &options.acquire {
            query.push(("acquire".to_owned(), session.clone()));
        }
        if let Some(session) = &options.release {
            query.push(("release".to_owned(), session.clone()));
        }
        if let Some(dc) = options.datacenter.as_ref().filter(|dc| !dc.is_empty()) {
            query.push(("dc".to_owned(), dc.clone()));
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
        if let Some(dc) = options.datacenter.as_ref().filter(|dc| !dc.is_empty()) {
            query.push(("dc".to_owned(), dc.clone()));
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

    /// `GET /v1/coordinate/nodes`.
    pub async fn coordinate_nodes(
        &self,
        options: &QueryOptions,
    ) -> Result<Vec<CoordinateEntry>, ClientError> {
        let (found, _) = self
            .read::<Vec<CoordinateEntry>>("/v1/coordinate/nodes", Query::new(), options)
            .await?;
        Ok(found.unwrap_or_default())
    }

    /// `GET /v1/coordinate/datacenters`.
    pub async fn coordinate_datacenters(&self) -> Result<Vec<DatacenterMap>, ClientError> {
        self.call(reqwest::Method::GET, "/v1/coordinate/datacenters", None)
            .await
    }

    /// `GET /v1/agent/self`.
    pub async fn agent_self(&self) -> Result<AgentSelf, ClientError> {
        self.call(reqwest::Method::GET, "/v1/agent/self", None)
            .await
    }

    /// `GET /v1/agent/members[?wan=1]` (`wan=1` as the Go client sends it: Consul ignores
    /// a bare `?wan`).
    pub async fn agent_members(&self, wan: bool) -> Result<Vec<Member>, ClientError> {
        let path = if wan {
            "/v1/agent/members?wan=1"
        } else {
            "/v1/agent/members"
        };
        self.call(reqwest::Method::GET, path, None).await
    }

    /// `GET /v1/agent/members[?wan=1]`, under the name the CLI and the Go client use.
    pub async fn members(&self, wan: bool) -> Result<Vec<Member>, ClientError> {
        self.agent_members(wan).await
    }

    // ---- Agent services, checks and maintenance ----

    /// `GET /v1/agent/services`: ID → service, as this agent holds them.
    pub async fn agent_services(&self) -> Result<BTreeMap<String, AgentService>, ClientError> {
        self.call(reqwest::Method::GET, "/v1/agent/services", None)
            .await
    }

    /// `GET /v1/agent/checks`: ID → check, as this agent holds them.
    pub async fn agent_checks(&self) -> Result<BTreeMap<String, HealthCheck>, ClientError> {
        self.call(reqwest::Method::GET, "/v1/agent/checks", None)
            .await
    }

    /// `PUT /v1/agent/service/register`.
    pub async fn agent_service_register(&self, body: &AgentServiceBody) -> Result<(), ClientError> {
        let json = reply::to_json(body, false);
        self.call_empty("/v1/agent/service/register", Some(json))
            .await
    }

    /// `PUT /v1/agent/service/deregister/<id>`.
    pub async fn agent_service_deregister(&self, id: &str) -> Result<(), ClientError> {
        let path = format!("/v1/agent/service/deregister/{}", percent_encode_path(id));
        self.call_empty(&path, None).await
    }

    /// `PUT /v1/agent/maintenance?enable=[&reason=]`. An empty reason leaves the agent to
    /// write its default note.
    pub async fn agent_node_maintenance(
        &self,
        enable: bool,
        reason: &str,
    ) -> Result<(), ClientError> {
        let query = maintenance_query(enable, reason);
        self.call_empty(&Self::encode("/v1/agent/maintenance", &query), None)
            .await
    }

    /// `PUT /v1/agent/service/maintenance/<id>?enable=[&reason=]`.
    pub async fn agent_service_maintenance(
        &self,
        id: &str,
        enable: bool,
        reason: &str,
    ) -> Result<(), ClientError> {
        let path = format!("/v1/agent/service/maintenance/{}", percent_encode_path(id));
        let query = maintenance_query(enable, reason);
        self.call_empty(&Self::encode(&path, &query), None).await
    }

    /// A `PUT` whose success has no body: agent writes answer 200 with nothing in it, so
    /// decoding it as JSON (as `call` does) would fail.
    pub(super) async fn call_empty(
        &self,
        path_and_query: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(), ClientError> {
        self.call_empty_with(reqwest::Method::PUT, path_and_query, body)
            .await
    }

    /// A call of any method whose success has no body.
    pub(super) async fn call_empty_with(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(), ClientError> {
        let response = self
            .send(method, path_and_query, body, CALL_TIMEOUT)
            .await?;
        if !response.status().is_success() {
            return Err(Self::fail(response).await);
        }
        Ok(())
    }
}

fn maintenance_query(enable: bool, reason: &str) -> Query {
    let mut query = vec![("enable".to_owned(), enable.to_string())];
    if !reason.is_empty() {
        query.push(("reason".to_owned(), reason.to_owned()));
    }
    query
}

fn tag_query(tags: &[&str]) -> Query {
    tags.iter()
        .map(|tag| ("tag".to_owned(), (*tag).to_owned()))
        .collect()
}
