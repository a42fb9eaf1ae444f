//! The read path of a server, with Consul's consistency modes (contract §2.3):
//!
//! 1. `stale` reads this server's store, whatever its role. With `?max_stale`, a follower
//!    whose last contact with the leader is older than that serves it as a default read.
//! 2. The default mode is served by the leader: on a follower the read is forwarded to the
//!    leader over server RPC. Consul's default mode trusts the leader's lease and documents
//!    a window in which a deposed leader serves stale values; Legate promises no stale
//!    default read, so the leader confirms its leadership with a quorum first, as for
//!    `consistent` (the fault harness caught the lease check passing on a leader just woken
//!    from SIGSTOP: openraft's `millis_since_quorum_ack` is a figure from when its metrics
//!    were last published, not a time, so a paused leader's last figure still looked fresh).
//! 3. `consistent` confirms leadership with a quorum (`ensure_linearizable`) before reading,
//!    on the leader, after forwarding if need be.
//! 4. Without a leader, default and `consistent` reads wait for one for at most
//!    `write_path::HOLD`, then fail as "No cluster leader". Reads change nothing, so any
//!    failed attempt may be retried.
//! 5. `X-Consul-LastContact` is zero on the leader and, on a follower, the time since the
//!    leader's last AppendEntries reached it (`LastContact`, recorded by the RPC handler).

use super::raft::{RaftHandle, ReadError};
use super::rpc::message::{
    ReadAnswer, ReadConsistency, ReadRequest, RemoteReadError, Request, RequestV1, ResponseV1,
};
use super::rpc::RpcClient;
use super::write_path::HOLD;
use legate_catalog::{query, Index, SharedStore};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// When the leader last reached this server, for `X-Consul-LastContact` and `?max_stale`.
#[derive(Clone, Debug)]
pub struct LastContact {
    base: Instant,
    /// Milliseconds after `base`, plus one; zero means never.
    at: Arc<AtomicU64>,
}

impl Default for LastContact {
    fn default() -> Self {
        LastContact {
            base: Instant::now(),
            at: Arc::default(),
        }
    }
}

impl LastContact {
    /// Records that the leader reached this server now.
    pub fn touch(&self) {
        let millis = self.base.elapsed().as_millis() as u64 + 1;
        self.at.fetch_max(millis, Ordering::Relaxed);
    }

    /// The time since the last contact, `None` before any.
    pub fn age(&self) -> Option<Duration> {
        match self.at.load(Ordering::Relaxed) {
            0 => None,
            at => Some(
                self.base
                    .elapsed()
                    .saturating_sub(Duration::from_millis(at - 1)),
            ),
        }
    }
}

/// Why a read was not served. Nothing changed; retrying may help.
#[derive(Debug)]
pub enum ReadFailure {
    NoLeader,
}

#[derive(Clone)]
pub struct ReadPath {
    raft: RaftHandle,
    store: Arc<SharedStore>,
    rpc: RpcClient,
    last_contact: LastContact,
    own_addr: String,
}

impl ReadPath {
    pub fn new(
        raft: RaftHandle,
        store: Arc<SharedStore>,
        rpc: RpcClient,
        last_contact: LastContact,
        own_addr: String,
    ) -> ReadPath {
        ReadPath {
            raft,
            store,
            rpc,
            last_contact,
            own_addr,
        }
    }

    pub fn last_contact(&self) -> &LastContact {
        &self.last_contact
    }

    /// Time since the leader was last heard from: zero on the leader.
    pub fn contact_age(&self) -> Duration {
        if self.raft.metrics().is_leader() {
            Duration::ZERO
        } else {
            self.last_contact.age().unwrap_or(Duration::MAX)
        }
    }

    /// Serves `request` here or at the leader (rules 1–4).
    pub async fn read(&self, request: ReadRequest) -> Result<ReadAnswer, ReadFailure> {
        let deadline = Instant::now() + HOLD;
        loop {
            let leader = match self.read_here(&request).await {
                Ok(answer) => return Ok(answer),
                Err(RemoteReadError::NotLeader { leader }) => leader,
                Err(RemoteReadError::NoLeader) => None,
            };
            if Instant::now() >= deadline {
                return Err(ReadFailure::NoLeader);
            }
            match leader {
                Some(addr) if addr != self.own_addr => {
                    // A blocking read holds the call open for its wait.
                    let call_deadline = Duration::from_millis(request.wait_ms) + HOLD;
                    let forwarded = self
                        .rpc
                        .call(
                            &addr,
                            &Request::V1(RequestV1::Read(request.clone())),
                            call_deadline,
                        )
                        .await;
                    match forwarded {
                        Ok(ResponseV1::Read(Ok(answer))) => return Ok(answer),
                        Ok(_) | Err(_) => {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
                _ => {
                    let remaining = deadline.saturating_duration_since(Instant::now());
                    let _ = self
                        .raft
                        .wait_for_leader(remaining.min(Duration::from_millis(500)))
                        .await;
                    // Also when the leader known is this server without its quorum.
                    tokio::time::sleep(Duration::from_millis(50).min(remaining)).await;
                }
            }
        }
    }

    /// Serves `request` on this server if its mode allows, without forwarding: what a
    /// server does with a read forwarded to it.
    pub async fn read_here(&self, request: &ReadRequest) -> Result<ReadAnswer, RemoteReadError> {
        let metrics = self.raft.metrics();
        let leader_addr = metrics.leader.as_ref().and_then(|peer| peer.addr.clone());
        let mut consistency = request.consistency;
        if crate::fault::serve_stale() {
            // Fault injection only: the stale server the fault harness must catch.
            consistency = ReadConsistency::Stale;
        }
        if consistency == ReadConsistency::Stale {
            let too_old = request
                .max_stale_ms
                .is_some_and(|max| self.contact_age() > Duration::from_millis(max));
            if too_old {
                consistency = ReadConsistency::Default;
            }
        }
        let not_here = || RemoteReadError::NotLeader {
            leader: leader_addr.clone(),
        };
        match consistency {
            ReadConsistency::Stale => {}
            ReadConsistency::Default if !metrics.is_leader() => return Err(not_here()),
            // Rule 2: the default mode confirms leadership as `consistent` does.
            ReadConsistency::Default | ReadConsistency::Consistent => {
                // openraft waits for a quorum's answer without a bound of its own.
                let bound = self.raft.election_timeout_max() * 2;
                match tokio::time::timeout(bound, self.raft.ensure_linearizable()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(ReadError::NotLeader { leader })) => {
                        return Err(RemoteReadError::NotLeader {
                            leader: leader.and_then(|peer| peer.addr),
                        })
                    }
                    Ok(Err(_)) | Err(_) => return Err(RemoteReadError::NoLeader),
                }
            }
        }
        let wait = tokio::time::sleep(Duration::from_millis(request.wait_ms));
        let answer = self
            .store
            .block_until(Index(request.min_index), wait, |store| {
                query::run(store, &request.query)
            })
            .await;
        let metrics = self.raft.metrics();
        Ok(ReadAnswer {
            index: answer.index.0,
            value: answer.value,
            known_leader: metrics.leader.is_some(),
            last_contact_ms: self.contact_age().as_millis().min(u64::MAX as u128) as u64,
            consistency,
        })
    }
}
