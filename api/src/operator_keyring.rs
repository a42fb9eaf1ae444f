//! `/v1/operator/keyring`: list (`GET`), install (`POST`), use (`PUT`) and remove
//! (`DELETE`) gossip encryption keys, on every ring.
//!
//! The parameters are checked in Consul's order (body, `relay-factor`, `local-only`) with
//! its texts. The key is then checked here, once: Consul leaves that to each member and
//! answers 500 with their refusals, Legate answers 400 before asking any member, which every
//! client reads as the same failure. A ring whose members refused is a 500 whose text lists
//! them as Consul's `go-multierror` does.

use crate::agent_service::done;
use crate::backend::{Backend, GossipKey, KeyringOp, KeyringResponse, MAX_RELAY_FACTOR};
use crate::decode::json_body;
use crate::error::ApiError;
use crate::params::Params;
use crate::reply;
use crate::router::{Api, Incoming};
use crate::types::{self, KeyringBody};
use axum::http::Method;
use axum::response::Response;

/// `?relay-factor=`: 0 to 5.
fn relay_factor(params: &Params) -> Result<u8, ApiError> {
    let Some(text) = params.non_empty("relay-factor") else {
        return Ok(0);
    };
    let number: i64 = text.parse().map_err(|_| {
        ApiError::BadRequest(format!(
            "Error parsing relay factor: strconv.Atoi: parsing {text:?}: invalid syntax"
        ))
    })?;
    u8::try_from(number)
        .ok()
        .filter(|factor| *factor <= MAX_RELAY_FACTOR)
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "Invalid relay-factor: Relay factor must be in range: [0, {MAX_RELAY_FACTOR}]"
            ))
        })
}

/// `?local-only=`: a Go boolean, for lists only.
fn local_only(params: &Params, method: &Method) -> Result<bool, ApiError> {
    let Some(text) = params.non_empty("local-only") else {
        return Ok(false);
    };
    let local = match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => true,
        "0" | "f" | "F" | "FALSE" | "false" | "False" => false,
        other => {
            return Err(ApiError::BadRequest(format!(
                "Error parsing local-only: strconv.ParseBool: parsing {other:?}: invalid syntax"
            )))
        }
    };
    if local && *method != Method::GET {
        return Err(ApiError::BadRequest(
            "Invalid use of local-only: local-only can only be set for list requests".into(),
        ));
    }
    Ok(local)
}

/// Consul's `keyringErrorsOrNil`: every ring that failed, then its members' reasons, in
/// `go-multierror`'s list format. `None` when no ring failed.
pub fn ring_errors(rings: &[KeyringResponse]) -> Option<String> {
    let mut errors = Vec::new();
    for ring in rings {
        let Some(error) = &ring.error else {
            continue;
        };
        let mut pool = if ring.wan {
            "WAN".to_owned()
        } else {
            format!("{} (LAN)", ring.datacenter)
        };
        if !ring.segment.is_empty() {
            pool.push_str(&format!(" [segment: {}]", ring.segment));
        }
        errors.push(format!("{pool} error: {error}"));
        for (node, message) in &ring.messages {
            errors.push(format!("{node}: {message}"));
        }
    }
    match errors.len() {
        0 => None,
        1 => Some(format!("1 error occurred:\n\t* {}\n\n", errors[0])),
        count => Some(format!(
            "{count} errors occurred:\n\t* {}\n\n",
            errors.join("\n\t* ")
        )),
    }
}

/// `GET|POST|PUT|DELETE /v1/operator/keyring[?relay-factor=][&local-only=]`.
pub async fn handle<B: Backend>(api: &Api<B>, request: Incoming) -> Result<Response, ApiError> {
    let method = request.method.clone();
    let pretty = crate::options::pretty(&request.params, &api.config);
    // Checked now, reported after the body as Consul orders its errors.
    let relay = relay_factor(&request.params);
    let local = local_only(&request.params, &method);
    let key = if method == Method::GET {
        None
    } else {
        let bytes = api.json_body(request).await?;
        let body: KeyringBody = json_body(&bytes)?;
        Some(body.key.unwrap_or_default())
    };
    let (relay, local) = (relay?, local?);
    let op = match key {
        None => KeyringOp::List,
        Some(text) => {
            let key = GossipKey::parse(&text)
                .map_err(|error| ApiError::BadRequest(format!("Invalid key: {error}")))?;
            if method == Method::POST {
                KeyringOp::Install(key)
            } else if method == Method::PUT {
                KeyringOp::Use(key)
            } else {
                KeyringOp::Remove(key)
            }
        }
    };
    let list = op == KeyringOp::List;
    let rings = api.backend.keyring(op, relay, local).await?;
    if let Some(text) = ring_errors(&rings) {
        return Err(ApiError::Refused(text));
    }
    if !list {
        return Ok(done());
    }
    let answer: Vec<types::KeyringResponse> =
        rings.iter().map(types::KeyringResponse::from).collect();
    Ok(reply::json(&answer, pretty))
}
