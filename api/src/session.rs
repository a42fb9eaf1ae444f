//! `/v1/session/*`: create, destroy, renew, info, node and list, as Consul's
//! `agent/session_endpoint.go` serves them.
//!
//! Create and destroy are writes through the leader; the leader assigns the id. Renew goes
//! to the leader too, because only the leader keeps TTL timers, and answers 404 with
//! Consul's text for a session that no longer exists (clients take that as "lock lost").
//! Reads block on the sessions table's index and answer `[]` rather than 404.

use crate::backend::Backend;
use crate::error::ApiError;
use crate::options::remote_datacenter;
use crate::reply;
use crate::router::{unexpected, Api, Incoming};
use crate::types::session::{session_from_body, SessionBodyError, SessionCreated, SessionEntry};
use axum::http::StatusCode;
use axum::response::Response;
use legate_catalog::{Command, NodeName, Outcome, Query, QueryResult, SessionId};

fn missing_session() -> ApiError {
    ApiError::BadRequest("Missing session".into())
}

/// `PUT /v1/session/create` → `{"ID": "<uuid>"}`.
pub async fn create<B: Backend>(api: &Api<B>, request: Incoming) -> Result<Response, ApiError> {
    let options = api.options(&request)?;
    let node = api.info().node_name;
    let bytes = api.json_body(request).await?;
    let session = session_from_body(&bytes, &node).map_err(|error| match error {
        SessionBodyError::Decode(error) => ApiError::from(error),
        SessionBodyError::Refused(text) => ApiError::Refused(text),
    })?;
    let outcome = api
        .write(
            options.datacenter.clone(),
            Command::SessionCreate(Box::new(session)),
        )
        .await?;
    let Outcome::SessionCreated(id) = outcome else {
        return Err(ApiError::Refused(format!(
            "unexpected answer to a session create: {outcome:?}"
        )));
    };
    Ok(reply::json(&SessionCreated { id: id.0 }, options.pretty))
}

/// `PUT /v1/session/destroy/<id>` → `true`, also for an unknown session.
pub async fn destroy<B: Backend>(
    api: &Api<B>,
    id: String,
    request: Incoming,
) -> Result<Response, ApiError> {
    let options = api.options(&request)?;
    if id.is_empty() {
        return Err(missing_session());
    }
    api.write(
        options.datacenter.clone(),
        Command::SessionDestroy(SessionId::new(id)),
    )
    .await?;
    Ok(reply::json(&true, options.pretty))
}

/// `PUT /v1/session/renew/<id>` → `[Session]`, or 404 `Session id '<id>' not found`.
pub async fn renew<B: Backend>(
    api: &Api<B>,
    id: String,
    request: Incoming,
) -> Result<Response, ApiError> {
    let options = api.options(&request)?;
    if id.is_empty() {
        return Err(missing_session());
    }
    let local = api.info().datacenter;
    let target = remote_datacenter(options.datacenter.as_ref(), &local);
    match api
        .backend
        .renew_session(target, SessionId::new(id.clone()))
        .await?
    {
        Some(session) => Ok(reply::json(
            &vec![SessionEntry::from(&session)],
            options.pretty,
        )),
        None => Ok(crate::error::plain_text(
            StatusCode::NOT_FOUND,
            format!("Session id '{id}' not found"),
        )),
    }
}

/// `GET /v1/session/info/<id>` → `[Session]` or `[]`.
pub async fn info<B: Backend>(
    api: &Api<B>,
    id: String,
    request: Incoming,
) -> Result<Response, ApiError> {
    if id.is_empty() {
        return Err(missing_session());
    }
    let id = SessionId::new(id);
    list_of(api, Query::SessionGet { id }, request).await
}

/// `GET /v1/session/node/<node>` → that node's sessions.
pub async fn node<B: Backend>(
    api: &Api<B>,
    node: String,
    request: Incoming,
) -> Result<Response, ApiError> {
    if node.is_empty() {
        return Err(ApiError::BadRequest("Missing node name".into()));
    }
    let node = NodeName::new(node);
    list_of(api, Query::NodeSessions { node }, request).await
}

/// `GET /v1/session/list` → every session.
pub async fn list<B: Backend>(api: &Api<B>, request: Incoming) -> Result<Response, ApiError> {
    list_of(api, Query::Sessions, request).await
}

async fn list_of<B: Backend>(
    api: &Api<B>,
    query: Query,
    request: Incoming,
) -> Result<Response, ApiError> {
    let options = api.options(&request)?;
    let read = api.read(&options, query).await?;
    let QueryResult::Sessions(sessions) = &read.value else {
        return Err(unexpected(&read.value));
    };
    let entries: Vec<SessionEntry> = sessions.iter().map(SessionEntry::from).collect();
    Ok(reply::read_json(&entries, &read.meta, options.pretty))
}
