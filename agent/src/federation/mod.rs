//! Federation: the servers of several datacenters in one WAN gossip pool (`wan_pool`), and
//! calls for another datacenter (`?dc=`) carried to one of its servers over server RPC.
//!
//! Each datacenter keeps its own Raft group, catalog, KV store and sessions; nothing is
//! replicated between them. A call for datacenter X goes to a live server of X, which serves
//! it as if a client agent of its own had sent it (to its leader where the consistency mode
//! needs it). Rules:
//! 1. A datacenter's servers are tried in turn, starting from the one that answered last;
//!    a server that cannot be reached is skipped at once (connection refused is fast), so a
//!    dead datacenter fails fast with "No path to datacenter".
//! 2. The retry rules are `forward`'s: a write moves on to the next server only while it was
//!    certainly not sent.
//! 3. The datacenters are listed nearest first: this one, then the others (by name while
//!    no round-trip estimate tells them apart).

pub mod flood;
pub mod wan_pool;

use crate::forward::{ForwardError, Hop};
use crate::server::rpc::message::{Request, RequestV1, ResponseV1};
use crate::server::rpc::RpcClient;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
pub use wan_pool::WanPool;

/// Calls to the servers of other datacenters. Cheap to clone.
#[derive(Clone)]
pub struct Federation {
    datacenter: String,
    /// `None` when this agent has no WAN pool (a client, or `ports.serf_wan = -1`).
    wan: Option<WanPool>,
    rpc: RpcClient,
    /// The server of each datacenter that answered last (rule 1), by WAN member name.
    preferred: Arc<Mutex<HashMap<String, String>>>,
}

impl Federation {
    pub fn new(datacenter: String, wan: Option<WanPool>, rpc: RpcClient) -> Federation {
        Federation {
            datacenter,
            wan,
            rpc,
            preferred: Arc::default(),
        }
    }

    pub fn wan(&self) -> Option<&WanPool> {
        self.wan.as_ref()
    }

    /// Known datacenters, nearest first (rule 3).
    pub fn datacenters(&self) -> Vec<String> {
        let mut known: Vec<String> = match &self.wan {
            Some(wan) => wan.datacenters().into_iter().collect(),
            None => vec![self.datacenter.clone()],
        };
        known.sort_by_key(|dc| (*dc != self.datacenter, dc.clone()));
        known
    }

    /// The hop to datacenter `datacenter`'s servers.
    pub fn to<'a>(&'a self, datacenter: &'a str) -> Remote<'a> {
        Remote {
            federation: self,
            datacenter,
        }
    }

    /// The RPC addresses of `datacenter`'s live servers, the preferred one first.
    fn servers_of(&self, datacenter: &str) -> Vec<(String, String)> {
        let Some(wan) = &self.wan else {
            return Vec::new();
        };
        let mut servers: Vec<(String, String)> = wan
            .live_servers()
            .into_iter()
            .filter(|server| server.datacenter == datacenter)
            .map(|server| (server.name, server.rpc_addr.to_string()))
            .collect();
        servers.sort();
        let preferred = self
            .preferred
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(datacenter)
            .cloned();
        if let Some(at) = preferred.and_then(|name| servers.iter().position(|s| s.0 == name)) {
            servers.rotate_left(at);
        }
        servers
    }
}

/// The hop to one datacenter's servers (`Federation::to`).
pub struct Remote<'a> {
    federation: &'a Federation,
    datacenter: &'a str,
}

impl Hop for Remote<'_> {
    async fn send(
        &self,
        request: RequestV1,
        deadline: Duration,
        idempotent: bool,
    ) -> Result<ResponseV1, ForwardError> {
        let servers = self.federation.servers_of(self.datacenter);
        let request = Request::V1(request);
        let mut lost = None;
        for (name, addr) in servers {
            match self.federation.rpc.call(&addr, &request, deadline).await {
                Ok(response) => {
                    self.federation
                        .preferred
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(self.datacenter.to_owned(), name);
                    return Ok(response);
                }
                Err(error) if error.not_sent() => continue,
                Err(error) if idempotent => lost = Some(error),
                Err(error) => return Err(ForwardError::Lost(error)),
            }
        }
        Err(lost.map_or(ForwardError::NoPath, ForwardError::Lost))
    }
}
