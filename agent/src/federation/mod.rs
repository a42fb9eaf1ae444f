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
//! 2. The one to start from becomes that datacenter's leader once known: after a call there,
//!    and at most every `LEADER_REFRESH`, a `Status` call in the background asks who leads.
//!    Default and `consistent` reads and writes then cost one hop, not two (a follower
//!    would pass them on to its leader).
//! 3. The retry rules are `forward`'s: a write moves on to the next server only while it was
//!    certainly not sent.
//! 4. The datacenters are listed nearest first: this one, then the others by the median of
//!    the round trips the WAN coordinates estimate from this server to each of their
//!    servers; datacenters without any coordinate yet come last, then ties by name.

pub mod flood;
pub mod wan_pool;

use crate::forward::{self, ForwardError, Hop};
use crate::server::rpc::message::{DatacenterCoords, Request, RequestV1, ResponseV1, StatusAnswer};
use crate::server::rpc::RpcClient;
use legate_catalog::Coord;
use std::collections::BTreeMap;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
pub use wan_pool::WanPool;

/// How often a datacenter's leader is asked after (rule 2).
const LEADER_REFRESH: Duration = Duration::from_secs(5);

/// Calls to the servers of other datacenters. Cheap to clone.
#[derive(Clone)]
pub struct Federation {
    datacenter: String,
    /// `None` when this agent has no WAN pool (a client, or `ports.serf_wan = -1`).
    wan: Option<WanPool>,
    rpc: RpcClient,
    /// The server of each datacenter to try first (rules 1 and 2), by WAN member name.
    preferred: Arc<Mutex<HashMap<String, String>>>,
    /// When each datacenter was last asked who leads it (rule 2).
    leader_asked: Arc<Mutex<HashMap<String, Instant>>>,
}

impl Federation {
    pub fn new(datacenter: String, wan: Option<WanPool>, rpc: RpcClient) -> Federation {
        Federation {
            datacenter,
            wan,
            rpc,
            preferred: Arc::default(),
            leader_asked: Arc::default(),
        }
    }

    pub fn wan(&self) -> Option<&WanPool> {
        self.wan.as_ref()
    }

    /// Known datacenters, nearest first (rule 4).
    pub fn datacenters(&self) -> Vec<String> {
        let Some(wan) = &self.wan else {
            return vec![self.datacenter.clone()];
        };
        let servers: Vec<(String, Coord)> = wan
            .coordinates()
            .into_iter()
            .map(|(dc, _, coord)| (dc, coord))
            .collect();
        by_distance(
            &self.datacenter,
            &wan.own_coordinate(),
            wan.datacenters().into_iter().collect(),
            &servers,
        )
    }

    /// Every datacenter's servers with their WAN coordinates (`/v1/coordinate/datacenters`).
    pub fn coordinates(&self) -> Vec<DatacenterCoords> {
        let Some(wan) = &self.wan else {
            return Vec::new();
        };
        let mut by_dc: BTreeMap<String, Vec<(String, Coord)>> = BTreeMap::new();
        for (dc, name, coord) in wan.coordinates() {
            by_dc.entry(dc).or_default().push((name, coord));
        }
        by_dc
            .into_iter()
            .map(|(datacenter, mut coordinates)| {
                coordinates.sort_by(|a, b| a.0.cmp(&b.0));
                DatacenterCoords {
                    datacenter,
                    coordinates,
                }
            })
            .collect()
    }

    /// The hop to datacenter `datacenter`'s servers.
    pub fn to<'a>(&'a self, datacenter: &'a str) -> Remote<'a> {
        Remote {
            federation: self,
            datacenter,
        }
    }

    fn prefer(&self, datacenter: &str, name: String) {
        self.preferred
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(datacenter.to_owned(), name);
    }

    /// Rule 2: asks `server` (of `datacenter`) who leads there, in the background and at
    /// most every `LEADER_REFRESH`, and prefers the leader from then on.
    fn learn_leader(&self, datacenter: &str, server: String) {
        {
            let mut asked = self
                .leader_asked
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            match asked.get(datacenter) {
                Some(at) if now.duration_since(*at) < LEADER_REFRESH => return,
                _ => asked.insert(datacenter.to_owned(), now),
            };
        }
        let federation = self.clone();
        let datacenter = datacenter.to_owned();
        tokio::spawn(async move {
            let status = Request::V1(RequestV1::Status);
            let answer = federation
                .rpc
                .call(&server, &status, Duration::from_secs(2))
                .await;
            let Ok(ResponseV1::Status(StatusAnswer {
                leader: Some(leader),
                ..
            })) = answer
            else {
                return;
            };
            let leader = federation
                .servers_of(&datacenter)
                .into_iter()
                .find(|(_, addr)| *addr == leader);
            if let Some((name, _)) = leader {
                federation.prefer(&datacenter, name);
            }
        });
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

/// Rule 4: `known` datacenters ordered by the median estimated round trip from `own` to
/// each one's `servers` (datacenter, coordinate); `local` first.
pub fn by_distance(
    local: &str,
    own: &Coord,
    known: Vec<String>,
    servers: &[(String, Coord)],
) -> Vec<String> {
    let median = |dc: &str| -> Option<f64> {
        let mut rtts: Vec<f64> = servers
            .iter()
            .filter(|(server_dc, _)| server_dc == dc)
            .map(|(_, coord)| own.distance_to(coord))
            .collect();
        if rtts.is_empty() {
            return None;
        }
        rtts.sort_by(f64::total_cmp);
        Some(rtts[rtts.len() / 2])
    };
    let mut ranked: Vec<(u8, f64, String)> = known
        .into_iter()
        .map(|dc| {
            if dc == local {
                return (0, 0.0, dc);
            }
            match median(&dc) {
                Some(rtt) => (1, rtt, dc),
                None => (2, 0.0, dc),
            }
        })
        .collect();
    ranked.sort_by(|a, b| {
        (a.0, a.1)
            .partial_cmp(&(b.0, b.1))
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.2.cmp(&b.2))
    });
    ranked.into_iter().map(|(_, _, dc)| dc).collect()
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
        let (names, addrs): (Vec<String>, Vec<String>) = self
            .federation
            .servers_of(self.datacenter)
            .into_iter()
            .unzip();
        let request = Request::V1(request);
        let rpc = &self.federation.rpc;
        match forward::first_answer(rpc, &addrs, &request, deadline, idempotent).await {
            Ok((at, response)) => {
                self.federation.prefer(self.datacenter, names[at].clone());
                self.federation
                    .learn_leader(self.datacenter, addrs[at].clone());
                Ok(response)
            }
            Err(lost) => Err(lost.map_or(ForwardError::NoPath, ForwardError::Lost)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(x: f64) -> Coord {
        Coord {
            vec: vec![x, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            error: 0.2,
            adjustment: 0.0,
            height: 0.0,
        }
    }

    #[test]
    fn datacenters_sort_by_median_round_trip_with_the_unmeasured_last() {
        let servers = vec![
            ("dc1".to_owned(), at(0.0)),
            ("far".to_owned(), at(0.100)),
            ("far".to_owned(), at(0.090)),
            // One outlier does not move a median of three.
            ("near".to_owned(), at(0.010)),
            ("near".to_owned(), at(0.012)),
            ("near".to_owned(), at(0.500)),
        ];
        let known = vec![
            "unmeasured".to_owned(),
            "far".to_owned(),
            "near".to_owned(),
            "dc1".to_owned(),
            "also-unmeasured".to_owned(),
        ];
        assert_eq!(
            by_distance("dc1", &at(0.0), known, &servers),
            ["dc1", "near", "far", "also-unmeasured", "unmeasured"]
        );
    }
}
