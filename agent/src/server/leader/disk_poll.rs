//! The leader asks every server of the group how its Raft log disk is doing, for
//! `/v1/operator/autopilot/health` (Legate's `DiskSlow` and `FsyncP99` per server). A slow
//! disk is each server's own judgement (`telemetry::slow_disk`); a leader with a slow disk
//! also hands leadership over by itself (`run::step_down_while_disk_slow`).
//!
//! Polled apart from autopilot's loop, so that a server that does not answer delays no
//! membership change; a server that does not answer within `DEADLINE` is shown without disk
//! figures rather than with old ones.

use super::AutopilotReport;
use crate::server::raft::RaftHandle;
use crate::server::rpc::message::{Request, RequestV1, ResponseV1};
use crate::server::rpc::RpcClient;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::watch;

/// How often the leader asks: the slow-disk verdict itself moves over a minute's window.
pub const INTERVAL: Duration = Duration::from_secs(2);
const DEADLINE: Duration = Duration::from_secs(1);

/// Runs until `shutdown` flips to true.
pub async fn run(
    raft: RaftHandle,
    rpc: RpcClient,
    report: Arc<Mutex<AutopilotReport>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        let group = if raft.is_leader() {
            raft.group_view()
        } else {
            None
        };
        let Some(group) = group else {
            report
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .disks
                .clear();
            continue;
        };
        let calls = group.nodes.iter().map(|(id, addr)| {
            let rpc = rpc.clone();
            async move {
                let request = Request::V1(RequestV1::DiskHealth);
                (*id, rpc.call(addr, &request, DEADLINE).await)
            }
        });
        let mut disks = BTreeMap::new();
        for (id, answer) in futures::future::join_all(calls).await {
            if let Ok(ResponseV1::DiskHealth(disk)) = answer {
                disks.insert(id, disk);
            }
        }
        report.lock().unwrap_or_else(PoisonError::into_inner).disks = disks;
    }
}
