//! What a server does with each RPC it receives: Raft's messages go to the local Raft node,
//! forwarded writes into the write path, forwarded reads into the read path, and a client's
//! call for another datacenter on to a server of it (`federation`).

use super::message::{AppendAnswer, RemoteReadError, RequestV1, ResponseV1, StatusAnswer};
use super::server::Handler;
use crate::federation::Federation;
use crate::forward::{self, Hop};
use crate::server::disk_health::DiskHealthSource;
use crate::server::operator::Operator;
use crate::server::raft::record::{EntryRecord, LogIdV1, VoteRecord};
use crate::server::raft::types::{Entry, Snapshot};
use crate::server::raft::RaftHandle;
use crate::server::read_path::ReadPath;
use crate::server::write_path::{remote_error, WritePath};
use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse, VoteRequest};
use std::io::Cursor;
use std::net::SocketAddr;
use std::time::Duration;

/// How long a server works on a peer's append, vote or election call: senders give up far
/// sooner (openraft's TTL, under a second or two), so this only bounds what piles up.
const RAFT_HANDLING: Duration = Duration::from_secs(10);
/// The same for a whole snapshot: the sender's deadline (`raft::network`).
const SNAPSHOT_HANDLING: Duration = Duration::from_secs(120);

/// The RPC handler of a server agent.
pub struct ServerRpc {
    /// When this process started (Unix milliseconds), for `GroupInfo`.
    pub started_unix_ms: u64,
    pub raft: RaftHandle,
    pub writes: WritePath,
    pub reads: ReadPath,
    pub operator: Operator,
    /// This server's disk health, asked for by the leader's autopilot.
    pub disk: DiskHealthSource,
    /// Other datacenters, for `Forward`.
    pub federation: Federation,
    pub datacenter: String,
}

impl Handler for ServerRpc {
    async fn handle(&self, request: RequestV1, _peer: SocketAddr) -> ResponseV1 {
        // Consul's count of the RPC requests a server handles for others, Raft's own
        // messages aside.
        if !matches!(
            request,
            RequestV1::AppendEntries { .. }
                | RequestV1::Vote { .. }
                | RequestV1::InstallSnapshot { .. }
        ) {
            metrics::counter!("consul.rpc.request").increment(1);
        }
        match request {
            request @ (RequestV1::AppendEntries { .. }
            | RequestV1::Vote { .. }
            | RequestV1::InstallSnapshot { .. }
            | RequestV1::TriggerElection) => self.raft_call(request).await,
            RequestV1::GroupInfo => ResponseV1::GroupInfo {
                voters: self
                    .raft
                    .metrics()
                    .voters
                    .into_iter()
                    .filter_map(|peer| peer.addr)
                    .collect(),
                started_unix_ms: self.started_unix_ms,
            },
            RequestV1::DiskHealth => ResponseV1::DiskHealth(self.disk.answer()),
            RequestV1::Forward {
                datacenter,
                request,
            } => {
                if datacenter == self.datacenter {
                    return self.client_call(*request).await;
                }
                if !forwardable(&request) {
                    return ResponseV1::Failed("only client calls go to another datacenter".into());
                }
                let (deadline, idempotent) = forward::policy(&request);
                self.federation
                    .to(&datacenter)
                    .send(*request, deadline, idempotent)
                    .await
                    .unwrap_or_else(forward::failure_response)
            }
            request @ (RequestV1::Write { .. }
            | RequestV1::Read(_)
            | RequestV1::Operator(_)
            | RequestV1::Status
            | RequestV1::Datacenters) => self.client_call(request).await,
        }
    }
}

impl ServerRpc {
    /// Raft's own messages, each with a deadline past the sender's: while the Raft core is
    /// held (an append waiting for disk space), a peer's retries would otherwise pile up
    /// handlers, each holding a call slot of the connection, until it stops reading.
    async fn raft_call(&self, request: RequestV1) -> ResponseV1 {
        let deadline = if matches!(request, RequestV1::InstallSnapshot { .. }) {
            SNAPSHOT_HANDLING
        } else {
            RAFT_HANDLING
        };
        match tokio::time::timeout(deadline, self.raft_message(request)).await {
            Ok(response) => response,
            Err(_) => ResponseV1::Failed(format!("not handled within {deadline:?}")),
        }
    }

    async fn raft_message(&self, request: RequestV1) -> ResponseV1 {
        match request {
            RequestV1::AppendEntries {
                vote,
                prev_log_id,
                leader_commit,
                entries,
            } => {
                // What a success vouches for: the log matches the leader's up to here.
                let last_index = match entries.last() {
                    Some(EntryRecord::V1 { log_id, .. }) => log_id.index,
                    None => prev_log_id.as_ref().map_or(0, |log_id| log_id.index),
                };
                let request = AppendEntriesRequest {
                    vote: vote.into(),
                    prev_log_id: prev_log_id.map(Into::into),
                    leader_commit: leader_commit.map(Into::into),
                    entries: entries.into_iter().map(Entry::from).collect(),
                };
                match self.raft.raft().append_entries(request).await {
                    Ok(response) => {
                        let answer = match response {
                            AppendEntriesResponse::Success => AppendAnswer::Success,
                            AppendEntriesResponse::PartialSuccess(log_id) => {
                                AppendAnswer::PartialSuccess(log_id.as_ref().map(LogIdV1::from))
                            }
                            AppendEntriesResponse::Conflict => AppendAnswer::Conflict,
                            AppendEntriesResponse::HigherVote(vote) => {
                                AppendAnswer::HigherVote(VoteRecord::from(&vote))
                            }
                        };
                        // Anything but a higher vote means the sender leads this server's
                        // current term: that is contact with the leader.
                        if !matches!(answer, AppendAnswer::HigherVote(_)) {
                            self.reads.last_contact().touch();
                        }
                        // Accepted entries are acknowledged only once they are on disk.
                        let vouched = match &answer {
                            AppendAnswer::Success => Some(last_index),
                            AppendAnswer::PartialSuccess(matched) => {
                                Some(matched.as_ref().map_or(0, |log_id| log_id.index))
                            }
                            AppendAnswer::Conflict | AppendAnswer::HigherVote(_) => None,
                        };
                        if let Some(index) = vouched {
                            if let Err(error) = self.raft.wait_log_durable(index).await {
                                return ResponseV1::Failed(error.to_string());
                            }
                        }
                        ResponseV1::AppendEntries(answer)
                    }
                    Err(error) => ResponseV1::Failed(error.to_string()),
                }
            }
            RequestV1::Vote { vote, last_log_id } => {
                let request = VoteRequest {
                    vote: vote.into(),
                    last_log_id: last_log_id.map(Into::into),
                };
                match self.raft.raft().vote(request).await {
                    Ok(response) => ResponseV1::Vote {
                        vote: VoteRecord::from(&response.vote),
                        granted: response.vote_granted,
                        last_log_id: response.last_log_id.as_ref().map(LogIdV1::from),
                    },
                    Err(error) => ResponseV1::Failed(error.to_string()),
                }
            }
            RequestV1::InstallSnapshot { vote, header, data } => {
                let snapshot = Snapshot {
                    meta: header.meta(),
                    snapshot: Box::new(Cursor::new(data)),
                };
                match self
                    .raft
                    .raft()
                    .install_full_snapshot(vote.into(), snapshot)
                    .await
                {
                    Ok(response) => {
                        self.reads.last_contact().touch();
                        ResponseV1::InstallSnapshot {
                            vote: VoteRecord::from(&response.vote),
                        }
                    }
                    Err(error) => ResponseV1::Failed(error.to_string()),
                }
            }
            RequestV1::TriggerElection => match self.raft.trigger_election().await {
                Ok(()) => ResponseV1::ElectionTriggered,
                Err(error) => ResponseV1::Failed(error),
            },
            _ => ResponseV1::Failed("not a Raft message".into()),
        }
    }

    /// The calls a client agent (or a server of another datacenter) makes.
    async fn client_call(&self, request: RequestV1) -> ResponseV1 {
        match request {
            RequestV1::Write { command } => {
                let command = command.into_command();
                ResponseV1::Write(self.writes.write(command).await.map_err(remote_error))
            }
            // A client agent sends its reads to any server; this one serves it or forwards it
            // to the leader, as its own HTTP reads are.
            RequestV1::Read(request) => ResponseV1::Read(
                self.reads
                    .read(request)
                    .await
                    .map_err(|_| RemoteReadError::NoLeader),
            ),
            RequestV1::Operator(request) => {
                ResponseV1::Operator(self.operator.serve(request).await)
            }
            RequestV1::Status => {
                let metrics = self.raft.metrics();
                ResponseV1::Status(StatusAnswer {
                    leader: metrics.leader.and_then(|peer| peer.addr),
                    voters: metrics
                        .voters
                        .into_iter()
                        .filter_map(|peer| peer.addr)
                        .collect(),
                })
            }
            RequestV1::Datacenters => ResponseV1::Datacenters(self.federation.datacenters()),
            _ => ResponseV1::Failed("not a client call".into()),
        }
    }
}

/// The calls that may travel to another datacenter: a client's, never Raft's own.
fn forwardable(request: &RequestV1) -> bool {
    matches!(
        request,
        RequestV1::Write { .. }
            | RequestV1::Read(_)
            | RequestV1::Operator(_)
            | RequestV1::Status
            | RequestV1::Datacenters
    )
}
