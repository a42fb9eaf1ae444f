//! `/v1/agent/health/service/id/:id` and `/name/:name`: the aggregated health of local
//! service instances, for load balancers that probe the agent rather than the catalog.
//!
//! The status code carries the answer: 200 passing, 429 warning, 503 critical or in
//! maintenance, 404 unknown. With `?format=text` (or `Accept: text/plain`) the body is the
//! status word alone.

use crate::backend::Backend;
use crate::error::plain_text;
use crate::error::ApiError;
use crate::local::LocalAgent;
use crate::reply;
use crate::router::{Api, Incoming};
use crate::types::{AgentService, HealthCheck};
use axum::http::{header, StatusCode};
use axum::response::Response;
use legate_catalog as catalog;
use serde::Serialize;

/// One instance's health (Consul's `AgentServiceChecksInfo`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceHealth {
    pub aggregated_status: String,
    pub service: Option<AgentService>,
    pub checks: Option<Vec<HealthCheck>>,
}

/// The Go client's `HealthChecks.AggregatedStatus`: maintenance wins, then the worst status.
pub fn aggregated_status(checks: &[HealthCheck]) -> &'static str {
    let mut worst = "passing";
    let mut maintenance = false;
    for check in checks {
        if check.check_id == "_node_maintenance"
            || check.check_id.starts_with("_service_maintenance:")
        {
            maintenance = true;
            continue;
        }
        match check.status.as_str() {
            "critical" => worst = "critical",
            "warning" if worst == "passing" => worst = "warning",
            _ => {}
        }
    }
    if maintenance {
        "maintenance"
    } else {
        worst
    }
}

fn status_code(status: &str) -> StatusCode {
    match status {
        "passing" => StatusCode::OK,
        "warning" => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// Whether the answer is the status word alone.
fn wants_text(request: &Incoming) -> bool {
    let accept = request
        .headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    if accept.starts_with("text/plain") {
        return true;
    }
    match request.params.non_empty("format") {
        Some(format) => format == "text",
        None => false,
    }
}

/// One instance's health: its checks and the node's, aggregated.
fn instance_health(
    service: &catalog::Service,
    checks: &[catalog::Check],
    datacenter: &str,
) -> ServiceHealth {
    let listed: Vec<HealthCheck> = checks
        .iter()
        .filter(|check| check.service_id.as_str().is_empty() || check.service_id == service.id)
        .map(HealthCheck::from)
        .collect();
    ServiceHealth {
        aggregated_status: aggregated_status(&listed).to_owned(),
        service: Some(AgentService::from_record(service, datacenter)),
        checks: Some(listed),
    }
}

fn answer<T: Serialize>(
    status: StatusCode,
    text: &str,
    body: &T,
    as_text: bool,
    pretty: bool,
) -> Response {
    if as_text {
        return plain_text(status, text);
    }
    let mut response = reply::json(body, pretty);
    *response.status_mut() = status;
    response
}

/// `GET /v1/agent/health/service/id/:id`.
pub async fn by_id<B: Backend>(
    api: &Api<B>,
    id: String,
    request: Incoming,
) -> Result<Response, ApiError> {
    let options = api.options(&request)?;
    if id.is_empty() {
        return Err(ApiError::BadRequest("Missing serviceID".into()));
    }
    let as_text = wants_text(&request);
    let local = api.backend.local();
    let services = local.services();
    let Some(service) = services.iter().find(|service| service.id.as_str() == id) else {
        let text = format!("ServiceId {id} not found");
        let missing = ServiceHealth {
            aggregated_status: "critical".into(),
            service: None,
            checks: None,
        };
        return Ok(answer(
            StatusCode::NOT_FOUND,
            &text,
            &missing,
            as_text,
            options.pretty,
        ));
    };
    let dc = api.info().datacenter.to_string();
    let health = instance_health(service, &local.checks(), &dc);
    let status = health.aggregated_status.clone();
    Ok(answer(
        status_code(&status),
        &status,
        &health,
        as_text,
        options.pretty,
    ))
}

/// `GET /v1/agent/health/service/name/:name`: every local instance, and the worst status.
pub async fn by_name<B: Backend>(
    api: &Api<B>,
    name: String,
    request: Incoming,
) -> Result<Response, ApiError> {
    let options = api.options(&request)?;
    if name.is_empty() {
        return Err(ApiError::BadRequest("Missing service Name".into()));
    }
    let as_text = wants_text(&request);
    let local = api.backend.local();
    let checks = local.checks();
    let dc = api.info().datacenter.to_string();
    let mut code = StatusCode::NOT_FOUND;
    let mut status = format!("ServiceName {name} Not Found");
    let mut instances = Vec::new();
    for service in local.services() {
        if service.name.as_str() != name {
            continue;
        }
        let health = instance_health(&service, &checks, &dc);
        let instance_code = status_code(&health.aggregated_status);
        // The worst wins: 200 < 429 < 503; the first instance replaces the 404.
        if code == StatusCode::NOT_FOUND || code.as_u16() < instance_code.as_u16() {
            code = instance_code;
            status = health.aggregated_status.clone();
        }
        instances.push(health);
    }
    Ok(answer(code, &status, &instances, as_text, options.pretty))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(id: &str, status: &str) -> HealthCheck {
        HealthCheck {
            check_id: id.into(),
            status: status.into(),
            ..HealthCheck::default()
        }
    }

    #[test]
    fn aggregation() {
        assert_eq!(aggregated_status(&[]), "passing");
        assert_eq!(
            aggregated_status(&[check("a", "passing"), check("b", "warning")]),
            "warning"
        );
        assert_eq!(
            aggregated_status(&[check("a", "critical"), check("b", "warning")]),
            "critical"
        );
        assert_eq!(
            aggregated_status(&[
                check("_node_maintenance", "critical"),
                check("b", "passing")
            ]),
            "maintenance"
        );
        assert_eq!(status_code("maintenance"), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(status_code("warning"), StatusCode::TOO_MANY_REQUESTS);
    }
}
