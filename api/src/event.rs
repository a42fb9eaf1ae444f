//! `/v1/event/fire/<name>` and `/v1/event/list`, as Consul's `agent/event_endpoint.go`
//! serves them.
//!
//! Fire takes the raw body as the payload and the `node`, `service` and `tag` parameters as
//! the filters, and answers the event it sent (with `LTime` 0). A missing name is Consul's
//! 400 "Missing name"; every other refusal (filters, size) its 500 with the text of
//! `event::EventError`. List answers this agent's events, oldest first, filtered by `name`,
//! with the index rule of `event_log` (hash-style blocking on an unordered index).

use crate::backend::event::{EventId, FireRequest};
use crate::backend::Backend;
use crate::backend::{Consistency, ReadMeta};
use crate::error::ApiError;
use crate::options::remote_datacenter;
use crate::reply;
use crate::router::{Api, Incoming};
use crate::types::Event;
use axum::response::Response;
use legate_catalog::Index;
use std::time::Duration;

/// `PUT /v1/event/fire/<name>[?node=&service=&tag=&dc=]` → the event.
pub async fn fire<B: Backend>(
    api: &Api<B>,
    name: String,
    request: Incoming,
) -> Result<Response, ApiError> {
    let options = api.options(&request)?;
    if name.is_empty() {
        return Err(ApiError::BadRequest("Missing name".into()));
    }
    // Consul reads each filter with `Query().Get`: the first value, empty when absent.
    let filter = |key: &str| request.params.get(key).unwrap_or_default().to_owned();
    let (node_filter, service_filter, tag_filter) =
        (filter("node"), filter("service"), filter("tag"));
    let body = api.json_body(request).await?;
    let event = FireRequest {
        name,
        // No body is a nil payload, which Consul lists as `null`.
        payload: (!body.is_empty()).then(|| body.to_vec()),
        node_filter,
        service_filter,
        tag_filter,
    }
    .into_event(EventId::from_bytes(rand::random()))
    .map_err(|error| ApiError::Refused(error.to_string()))?;
    let local = api.info().datacenter;
    let target = remote_datacenter(options.datacenter.as_ref(), &local);
    api.backend.fire_event(target, event.clone()).await?;
    Ok(reply::json(&Event::from(&event), options.pretty))
}

/// `GET /v1/event/list[?name=&index=&wait=]` → `[Event]`, oldest first.
pub async fn list<B: Backend>(api: &Api<B>, request: Incoming) -> Result<Response, ApiError> {
    let options = api.options(&request)?;
    let name = request.params.non_empty("name").map(str::to_owned);
    let list = api
        .backend
        .events(name, options.min_index.0, options.wait)
        .await?;
    let events: Vec<Event> = list.events.iter().map(Event::from).collect();
    // Consul sends only `X-Consul-Index` here; the other read headers say what is true of
    // an agent-local answer (no leader involved), so clients that require them are served.
    let meta = ReadMeta {
        index: Index(list.index),
        known_leader: true,
        last_contact: Duration::ZERO,
        consistency: Consistency::Default,
    };
    Ok(reply::read_json(&events, &meta, options.pretty))
}
