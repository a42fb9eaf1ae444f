//! `PUT /v1/txn`: several operations, applied together or not at all.
//!
//! A transaction whose every operation only reads is served like a read (the consistency
//! modes apply, `X-Consul-KnownLeader` and `X-Consul-LastContact` are sent) and never
//! blocks; any other goes through the leader as one Raft entry. 200 with `Results`, 409 with
//! `Errors` when an operation failed (nothing was applied), 400 for a body that does not
//! parse, 413 past 128 operations or the size limits.

use crate::backend::Backend;
use crate::error::ApiError;
use crate::reply;
use crate::router::{unexpected, Api, Incoming};
use crate::types::txn::{ops_from_body, TxnBodyError, TxnOpBody, TxnResponse};
use axum::http::StatusCode;
use axum::response::Response;
use legate_catalog::txn::{TxnOp, MAX_OPS};
use legate_catalog::{Command, Outcome, Query, QueryResult};

/// `PUT /v1/txn`.
pub async fn handle<B: Backend>(api: &Api<B>, request: Incoming) -> Result<Response, ApiError> {
    let options = api.options(&request)?;
    let limit = api.config.kv_max_value_size;
    let bytes = crate::kv::read_capped(api, request, "txn_max_req_len").await?;
    let bodies: Vec<TxnOpBody> = serde_json::from_slice(&bytes)
        .map_err(|error| ApiError::BadRequest(format!("Failed to parse body: {error}")))?;
    if bodies.len() > MAX_OPS {
        return Err(ApiError::TooLarge(format!(
            "Transaction contains too many operations ({} > {MAX_OPS})",
            bodies.len()
        )));
    }
    let datacenter = api.answer_datacenter(&options);
    let ops = match ops_from_body(bodies) {
        Ok(ops) => ops,
        Err(TxnBodyError::BadRequest(text)) => return Err(ApiError::BadRequest(text)),
        Err(TxnBodyError::Conflict(errors)) => {
            return Ok(conflict(&TxnResponse::failed(&errors), options.pretty));
        }
    };
    for op in &ops {
        if let TxnOp::Kv(kv) = op {
            if kv.value.len() as u64 > limit {
                return Err(ApiError::TooLarge(format!(
                    "Value for key {:?} is too large ({} > {limit} bytes)",
                    kv.key,
                    kv.value.len()
                )));
            }
        }
    }
    if ops.iter().all(TxnOp::is_read) {
        // Read-only transactions never block, whatever `?index` says.
        let mut options = options;
        options.min_index = legate_catalog::Index::ZERO;
        let read = api.read(&options, Query::Txn { ops }).await?;
        let QueryResult::Txn(answer) = &read.value else {
            return Err(unexpected(&read.value));
        };
        let response = TxnResponse::of(answer, &datacenter);
        let mut reply = reply::read_json(&response, &read.meta, options.pretty);
        if answer.is_err() {
            *reply.status_mut() = StatusCode::CONFLICT;
        }
        return Ok(reply);
    }
    let outcome = api
        .write(options.datacenter.clone(), Command::Txn(ops))
        .await?;
    let Outcome::Txn(answer) = outcome else {
        return Err(ApiError::Refused(format!(
            "unexpected answer to a transaction: {outcome:?}"
        )));
    };
    let response = TxnResponse::of(&answer, &datacenter);
    Ok(match answer {
        Ok(_) => reply::json(&response, options.pretty),
        Err(_) => conflict(&response, options.pretty),
    })
}

fn conflict(response: &TxnResponse, pretty: bool) -> Response {
    let mut reply = reply::json(response, pretty);
    *reply.status_mut() = StatusCode::CONFLICT;
    reply
}
