//! One hop of a forwarded call, and what its answers mean to the HTTP and DNS frontends.
//!
//! A call leaves an agent over server RPC by one of three hops: a client agent to a server of
//! its datacenter (`client_mode::Forwarder`), a client through a server of its datacenter to
//! another datacenter (`Forwarder::via`), and a server to a server of another datacenter
//! (`federation::Federation::to`). Each hop only moves messages; the answers are read here,
//! once, whatever the hop.
//!
//! Rules:
//! 1. Reads and other calls that change nothing may be retried after any failure; a write
//!    only while it certainly was not sent. After that its outcome is unknown and says so.
//! 2. A hop that finds no server to send to says which kind of nowhere: no server of this
//!    datacenter is known ("No known Consul servers"), or no path leads to the datacenter
//!    asked for ("No path to datacenter", which must come fast).
//! 3. A request's deadline and whether it may be retried follow from the request alone
//!    (`policy`), so every hop of one call agrees on them.

use crate::server::rpc::message::Request;
use crate::server::rpc::message::{
    ForwardFailure, OperatorAnswer, OperatorError, OperatorRequest, ReadAnswer, ReadRequest,
    RemoteReadError, RemoteWriteError, RequestV1, ResponseV1, RingOp,
};
use crate::server::rpc::{RpcClient, RpcError};
use crate::server::write_path::HOLD;
use legate_api::backend::{BackendError, RaftStatus};
use legate_catalog::{Command, CommandResult, Datacenter, LogPayload};
use std::future::Future;
use std::time::Duration;

/// Consul's answer when a client knows no server.
pub const NO_SERVERS: &str = "No known Consul servers";
/// Consul's answer when no server of the datacenter asked for can be reached.
pub const NO_PATH: &str = "No path to datacenter";
/// How long a forwarded write may take at the servers.
pub const WRITE_DEADLINE: Duration = Duration::from_secs(30);

/// Why a hop produced no answer.
#[derive(Debug)]
pub enum ForwardError {
    /// No live server of this datacenter, or none could be reached: nothing was sent.
    NoServers,
    /// No live server of the datacenter asked for, or none could be reached: nothing was
    /// applied there.
    NoPath,
    /// Sent, then lost; for a write, its outcome is unknown.
    Lost(RpcError),
}

/// One hop: sends a request on towards whoever serves it.
pub trait Hop: Send + Sync {
    fn send(
        &self,
        request: RequestV1,
        deadline: Duration,
        idempotent: bool,
    ) -> impl Future<Output = Result<ResponseV1, ForwardError>> + Send;
}

/// A request's deadline and whether it may be retried after it was sent (rule 3).
pub fn policy(request: &RequestV1) -> (Duration, bool) {
    match request {
        RequestV1::Read(read) => (Duration::from_millis(read.wait_ms) + HOLD + HOLD, true),
        RequestV1::Write { .. } => (WRITE_DEADLINE, false),
        RequestV1::Operator(request) => (HOLD + HOLD, operator_idempotent(request)),
        _ => (HOLD, true),
    }
}

/// Operator calls that only read may go anywhere and be retried.
fn operator_idempotent(request: &OperatorRequest) -> bool {
    matches!(
        request,
        OperatorRequest::RaftConfiguration { .. }
            | OperatorRequest::AutopilotConfiguration
            | OperatorRequest::AutopilotHealth
            | OperatorRequest::AutopilotState
            | OperatorRequest::WanKeyring(RingOp::List)
            | OperatorRequest::WanCoordinates
    )
}

/// Rule 1 over a list of servers: tries them in order until one answers, skipping those
/// that cannot be reached; after a failure once sent, goes on only when `idempotent`.
/// Returns the answer and the position of the server that gave it, or the loss that ended
/// the search (`None`: nothing reached anyone, so nothing was applied).
pub async fn first_answer(
    rpc: &RpcClient,
    servers: &[String],
    request: &Request,
    deadline: Duration,
    idempotent: bool,
) -> Result<(usize, ResponseV1), Option<RpcError>> {
    let mut lost = None;
    for (at, server) in servers.iter().enumerate() {
        match rpc.call(server, request, deadline).await {
            Ok(response) => return Ok((at, response)),
            Err(error) if error.not_sent() => continue,
            Err(error) if idempotent => lost = Some(error),
            Err(error) => return Err(Some(error)),
        }
    }
    Err(lost)
}

/// Sends `request` with its own policy.
pub async fn send<H: Hop>(hop: &H, request: RequestV1) -> Result<ResponseV1, ForwardError> {
    let (deadline, idempotent) = policy(&request);
    hop.send(request, deadline, idempotent).await
}

/// A hop's failure as the frontend reports it; `unknown_outcome` for a write that was sent.
fn failure(error: ForwardError, unknown_outcome: bool) -> BackendError {
    match error {
        ForwardError::NoServers => BackendError::Internal(NO_SERVERS.to_owned()),
        ForwardError::NoPath => BackendError::NoPathToDatacenter,
        ForwardError::Lost(error) if unknown_outcome => {
            BackendError::Indeterminate(error.to_string())
        }
        ForwardError::Lost(error) => BackendError::Internal(format!("rpc error: {error}")),
    }
}

/// A read, with its consistency mode, served at the far end.
pub async fn read<H: Hop>(hop: &H, request: ReadRequest) -> Result<ReadAnswer, BackendError> {
    match send(hop, RequestV1::Read(request)).await {
        Ok(ResponseV1::Read(Ok(answer))) => Ok(answer),
        // The far server could not reach a leader within its own hold.
        Ok(ResponseV1::Read(Err(RemoteReadError::NoLeader)))
        | Ok(ResponseV1::Read(Err(RemoteReadError::NotLeader { .. }))) => {
            Err(BackendError::NoLeader)
        }
        Ok(ResponseV1::Failed(reason)) => Err(BackendError::Internal(reason)),
        Ok(other) => Err(BackendError::Internal(format!(
            "unexpected answer to a read: {other:?}"
        ))),
        Err(error) => Err(failure(error, false)),
    }
}

/// A write through the far end's leader.
pub async fn write<H: Hop>(hop: &H, command: Command) -> Result<CommandResult, BackendError> {
    let request = RequestV1::Write {
        command: LogPayload::from(command),
    };
    match send(hop, request).await {
        Ok(ResponseV1::Write(Ok(result))) => Ok(result),
        Ok(ResponseV1::Write(Err(error))) => Err(match error {
            RemoteWriteError::NotLeader { .. } => BackendError::NoLeader,
            RemoteWriteError::Refused(reason) => BackendError::Internal(reason),
            RemoteWriteError::ShuttingDown => {
                BackendError::Internal("the server is shutting down".to_owned())
            }
            RemoteWriteError::Indeterminate(reason) => BackendError::Indeterminate(reason),
        }),
        Ok(ResponseV1::Failed(reason)) => Err(BackendError::Internal(reason)),
        Ok(other) => Err(BackendError::Indeterminate(format!(
            "unexpected answer to a write: {other:?}"
        ))),
        Err(error) => Err(failure(error, true)),
    }
}

/// The far end's Raft leader and voters.
pub async fn status<H: Hop>(hop: &H) -> Result<RaftStatus, BackendError> {
    match send(hop, RequestV1::Status).await {
        Ok(ResponseV1::Status(status)) => Ok(RaftStatus {
            leader: status.leader,
            peers: status.voters,
        }),
        Ok(other) => Err(BackendError::Internal(format!(
            "unexpected answer to a status call: {other:?}"
        ))),
        Err(error) => Err(failure(error, false)),
    }
}

/// The datacenters the far end knows, nearest first.
pub async fn datacenters<H: Hop>(hop: &H) -> Result<Vec<Datacenter>, BackendError> {
    match send(hop, RequestV1::Datacenters).await {
        Ok(ResponseV1::Datacenters(known)) => Ok(known.into_iter().map(Datacenter::from).collect()),
        Ok(other) => Err(BackendError::Internal(format!(
            "unexpected answer to a datacenters call: {other:?}"
        ))),
        Err(error) => Err(failure(error, false)),
    }
}

/// An operator call served at the far end.
pub async fn operator<H: Hop>(
    hop: &H,
    request: OperatorRequest,
) -> Result<OperatorAnswer, OperatorError> {
    match send(hop, RequestV1::Operator(request)).await {
        Ok(ResponseV1::Operator(answer)) => answer,
        Ok(ResponseV1::Failed(reason)) => Err(OperatorError::Refused(reason)),
        Ok(other) => Err(OperatorError::Indeterminate(format!(
            "unexpected answer {other:?}"
        ))),
        Err(ForwardError::NoServers) => Err(OperatorError::Refused(NO_SERVERS.to_owned())),
        Err(ForwardError::NoPath) => Err(OperatorError::Refused(NO_PATH.to_owned())),
        Err(ForwardError::Lost(error)) => Err(OperatorError::Indeterminate(error.to_string())),
    }
}

/// What a server in between answers when the hop beyond it failed.
pub fn failure_response(error: ForwardError) -> ResponseV1 {
    ResponseV1::Forward(match error {
        ForwardError::NoServers | ForwardError::NoPath => ForwardFailure::NoPath,
        ForwardError::Lost(error) => ForwardFailure::Lost(error.to_string()),
    })
}

/// A server in between's answer, read back into the hop's terms.
pub fn through(response: ResponseV1, datacenter: &str) -> Result<ResponseV1, ForwardError> {
    match response {
        ResponseV1::Forward(ForwardFailure::NoPath) => Err(ForwardError::NoPath),
        ResponseV1::Forward(ForwardFailure::Lost(reason)) => {
            Err(ForwardError::Lost(RpcError::Transport {
                addr: datacenter.to_owned(),
                reason,
            }))
        }
        other => Ok(other),
    }
}
