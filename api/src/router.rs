//! The router: one entry point that parses a request into an `Endpoint`, checks its
//! method, and dispatches with `match` to the area that serves it.
//!
//! A single fallback handler rather than one axum route per path keeps Consul's mux
//! behaviour in one place: prefix endpoints whose argument may contain `/` (KV keys),
//! Consul's 404 texts, `405` with `Allow: OPTIONS,GET,...`, and `OPTIONS` answered from the
//! same method table. Other crates may still add axum routes to the returned `Router`;
//! they take precedence over the fallback.

use crate::backend::{AgentInfo, Backend, BackendError, Read};
use crate::body::{self, BodyError};
use crate::config::ApiConfig;
use crate::error::{allow_header, plain_text, ApiError};
use crate::event;
use crate::options::{remote_datacenter, RequestOptions};
use crate::params::{percent_decode, Params};
use crate::route::{unknown_path_text, Endpoint};
use crate::{agent, agent_check, agent_health, agent_maintenance, agent_membership};
use crate::{agent_metrics, coordinate, http_timing, query};
use crate::{agent_service, catalog, health, kv, session, status, txn};
use crate::{operator_autopilot, operator_keyring, operator_raft};
use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use bytes::Bytes;
use legate_catalog::{Command, Datacenter, Health, Outcome, Query, QueryResult};
use std::sync::Arc;

/// Builds the HTTP API over `backend`.
pub fn router<B: Backend>(backend: Arc<B>, config: ApiConfig) -> Router {
    let api = Arc::new(Api {
        backend,
        config,
        timings: http_timing::HttpTimings::default(),
    });
    Router::new().fallback(move |request: Request| {
        let api = api.clone();
        require_send(async move { api.handle(request).await })
    })
}

/// States where axum needs it that a handler future is `Send`, so that a future which is
/// not fails to compile here, with a readable error, rather than deep inside axum's bounds.
fn require_send<F: std::future::Future + Send>(future: F) -> F {
    future
}

/// What every handler works with: the backend and the configuration.
pub struct Api<B> {
    pub backend: Arc<B>,
    pub config: ApiConfig,
    /// `consul.api.http` handles, per route and method.
    pub timings: http_timing::HttpTimings,
}

/// A request after routing: decoded path, parsed query, headers and the unread body.
pub struct Incoming {
    pub method: Method,
    /// The client's address, when the server knows it (not in tests driving the router).
    pub peer: Option<std::net::IpAddr>,
    /// The percent-decoded path.
    pub path: String,
    pub params: Params,
    pub headers: HeaderMap,
    pub body: Body,
}

impl<B: Backend> Api<B> {
    async fn handle(&self, request: Request) -> Response {
        let timeout = self.config.request_timeout();
        match tokio::time::timeout(timeout, self.dispatch(request)).await {
            Ok(Ok(response)) => response,
            Ok(Err(error)) => error.into_response(),
            Err(_) => ApiError::TimedOut.into_response(),
        }
    }

    async fn dispatch(&self, request: Request) -> Result<Response, ApiError> {
        let (parts, body) = request.into_parts();
        let path = percent_decode(parts.uri.path(), false)
            .map_err(|error| ApiError::BadRequest(error.to_string()))?;
        let Some(endpoint) = Endpoint::parse(&path) else {
            return Ok(plain_text(StatusCode::NOT_FOUND, unknown_path_text(&path)));
        };
        // Records `consul.api.http` when the request ends, answered, failed or timed out.
        let _timing = self.timings.start(&parts.method, &endpoint);
        if let Some(methods) = endpoint.methods() {
            if parts.method == Method::OPTIONS {
                let mut response = Response::new(Body::empty());
                response
                    .headers_mut()
                    .insert(header::ALLOW, allow_header(methods));
                return Ok(response);
            }
            if !methods.contains(&parts.method) {
                return Err(ApiError::MethodNotAllowed {
                    method: parts.method,
                    allow: methods,
                });
            }
        }
        let params = Params::parse(parts.uri.query())
            .map_err(|error| ApiError::BadRequest(error.to_string()))?;
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<crate::server::PeerAddr>>()
            .map(|info| info.0 .0.ip());
        let request = Incoming {
            peer,
            method: parts.method,
            path,
            params,
            headers: parts.headers,
            body,
        };
        match endpoint {
            Endpoint::Index => Ok(plain_text(
                StatusCode::OK,
                "Legate Agent: the web UI is not available; the HTTP API is under /v1/.",
            )),
            Endpoint::Kv(key) => kv::handle(self, key, request).await,
            Endpoint::CatalogRegister => catalog::register(self, request).await,
            Endpoint::CatalogDeregister => catalog::deregister(self, request).await,
            Endpoint::CatalogDatacenters => catalog::datacenters(self, request).await,
            Endpoint::CatalogNodes => catalog::nodes(self, request).await,
            Endpoint::CatalogServices => catalog::services(self, request).await,
            Endpoint::CatalogService(name) => catalog::service(self, name, request).await,
            Endpoint::CatalogConnect(name) => catalog::connect(self, name, request).await,
            Endpoint::CatalogNode(node) => catalog::node(self, node, request).await,
            Endpoint::HealthService(name) => health::service(self, name, request).await,
            Endpoint::HealthConnect(name) => health::connect(self, name, request).await,
            Endpoint::HealthChecks(name) => health::checks(self, name, request).await,
            Endpoint::HealthNode(node) => health::node(self, node, request).await,
            Endpoint::HealthState(state) => health::state(self, state, request).await,
            Endpoint::StatusLeader => status::leader(self, request).await,
            Endpoint::StatusPeers => status::peers(self, request).await,
            Endpoint::AgentSelf => agent::self_info(self, request).await,
            Endpoint::AgentMembers => agent::members(self, request).await,
            Endpoint::AgentServices => agent_service::list(self, request).await,
            Endpoint::AgentService(id) => agent_service::one(self, id, request).await,
            Endpoint::AgentServiceRegister => agent_service::register(self, request).await,
            Endpoint::AgentServiceDeregister(id) => {
                agent_service::deregister(self, id, request).await
            }
            Endpoint::AgentServiceMaintenance(id) => {
                agent_maintenance::service(self, id, request).await
            }
            Endpoint::AgentMaintenance => agent_maintenance::node(self, request).await,
            Endpoint::AgentChecks => agent_check::list(self, request).await,
            Endpoint::AgentCheckRegister => agent_check::register(self, request).await,
            Endpoint::AgentCheckDeregister(id) => agent_check::deregister(self, id, request).await,
            Endpoint::AgentCheckPass(id) => {
                agent_check::mark(self, id, Health::Passing, request).await
            }
            Endpoint::AgentCheckWarn(id) => {
                agent_check::mark(self, id, Health::Warning, request).await
            }
            Endpoint::AgentCheckFail(id) => {
                agent_check::mark(self, id, Health::Critical, request).await
            }
            Endpoint::AgentCheckUpdate(id) => agent_check::update(self, id, request).await,
            Endpoint::AgentHealthServiceId(id) => agent_health::by_id(self, id, request).await,
            Endpoint::AgentHealthServiceName(name) => {
                agent_health::by_name(self, name, request).await
            }
            Endpoint::AgentJoin(address) => agent_membership::join(self, address, request).await,
            Endpoint::AgentLeave => agent_membership::leave(self, request).await,
            Endpoint::AgentForceLeave(node) => {
                agent_membership::force_leave(self, node, request).await
            }
            Endpoint::OperatorRaftConfiguration => {
                operator_raft::configuration(self, request).await
            }
            Endpoint::OperatorRaftPeer => operator_raft::remove_peer(self, request).await,
            Endpoint::OperatorRaftTransferLeader => {
                operator_raft::transfer_leader(self, request).await
            }
            Endpoint::OperatorAutopilotConfiguration => {
                operator_autopilot::configuration(self, request).await
            }
            Endpoint::OperatorAutopilotHealth => operator_autopilot::health(self, request).await,
            Endpoint::OperatorAutopilotState => operator_autopilot::state(self, request).await,
            Endpoint::OperatorKeyring => operator_keyring::handle(self, request).await,
            Endpoint::SessionCreate => session::create(self, request).await,
            Endpoint::SessionDestroy(id) => session::destroy(self, id, request).await,
            Endpoint::SessionRenew(id) => session::renew(self, id, request).await,
            Endpoint::SessionInfo(id) => session::info(self, id, request).await,
            Endpoint::SessionNode(node) => session::node(self, node, request).await,
            Endpoint::SessionList => session::list(self, request).await,
            Endpoint::Txn => txn::handle(self, request).await,
            Endpoint::EventFire(name) => event::fire(self, name, request).await,
            Endpoint::EventList => event::list(self, request).await,
            Endpoint::AgentMetrics => agent_metrics::metrics(self, request).await,
            Endpoint::CoordinateDatacenters => coordinate::datacenters(self, request).await,
            Endpoint::CoordinateNodes => coordinate::nodes(self, request).await,
            Endpoint::CoordinateNode(node) => coordinate::node(self, node, request).await,
            Endpoint::CoordinateUpdate => coordinate::update(self, request).await,
            Endpoint::Query => query::list(self, request).await,
            Endpoint::QueryItem(rest) => query::item(self, rest, request).await,
            Endpoint::OpenApi => Ok(crate::openapi::answer()),
        }
    }

    pub fn info(&self) -> AgentInfo {
        self.backend.agent_info()
    }

    /// Parses the common query options of `request`.
    pub fn options(&self, request: &Incoming) -> Result<RequestOptions, ApiError> {
        RequestOptions::parse(
            &request.params,
            &request.headers,
            &self.config,
            &mut rand::thread_rng(),
        )
    }

    /// The datacenter an answer describes: the one asked for, or this agent's.
    pub fn answer_datacenter(&self, options: &RequestOptions) -> String {
        match &options.datacenter {
            Some(dc) => dc.to_string(),
            None => self.info().datacenter.to_string(),
        }
    }

    /// Refuses `?dc=` naming another datacenter, for the operator calls whose backend
    /// method serves only this one: Consul's answer when no route leads there.
    pub fn require_local_datacenter(&self, params: &Params) -> Result<(), ApiError> {
        match params.non_empty("dc") {
            Some(dc) if dc != self.info().datacenter.as_str() => {
                Err(ApiError::Backend(BackendError::NoPathToDatacenter))
            }
            _ => Ok(()),
        }
    }

    /// Runs a read through the backend with the request's options.
    pub async fn read(
        &self,
        options: &RequestOptions,
        query: Query,
    ) -> Result<Read<QueryResult>, ApiError> {
        let local = self.info().datacenter;
        let read = self
            .backend
            .read(options.read_options(&local), query)
            .await?;
        Ok(read)
    }

    /// Applies a command in `datacenter` (`None` or this agent's: locally).
    pub async fn write(
        &self,
        datacenter: Option<Datacenter>,
        command: Command,
    ) -> Result<Outcome, ApiError> {
        let local = self.info().datacenter;
        let target = remote_datacenter(datacenter.as_ref(), &local);
        Ok(self.backend.write(target, command).await?)
    }

    /// Reads a JSON request body of at most `max_request_body` bytes.
    pub async fn json_body(&self, request: Incoming) -> Result<Bytes, ApiError> {
        let limit = self.config.max_request_body;
        body::read_limited(
            request.body,
            &request.headers,
            limit,
            self.config.max_discarded_body,
        )
        .await
        .map_err(|error| match error {
            BodyError::TooLarge { length } => ApiError::TooLarge(format!(
                "Request body({length} bytes) too large, max size: {limit} bytes"
            )),
            BodyError::Read(text) => ApiError::BadRequest(format!("Request decode failed: {text}")),
        })
    }
}

/// The answer of a query whose result has another shape than its endpoint expects: a
/// backend bug, never a client error.
pub fn unexpected(result: &QueryResult) -> ApiError {
    let shape = match result {
        QueryResult::Kv(_) => "Kv",
        QueryResult::Keys(_) => "Keys",
        QueryResult::Nodes(_) => "Nodes",
        QueryResult::Services(_) => "Services",
        QueryResult::ServiceRecords(_) => "ServiceRecords",
        QueryResult::Instances(_) => "Instances",
        QueryResult::NodeServices(_) => "NodeServices",
        QueryResult::Checks(_) => "Checks",
        QueryResult::AutopilotConfig(_) => "AutopilotConfig",
        QueryResult::Sessions(_) => "Sessions",
        QueryResult::Txn(_) => "Txn",
        QueryResult::Coordinates(_) => "Coordinates",
        QueryResult::PreparedQueries(_) => "PreparedQueries",
    };
    ApiError::Backend(crate::backend::BackendError::Internal(format!(
        "unexpected query result shape {shape}"
    )))
}
