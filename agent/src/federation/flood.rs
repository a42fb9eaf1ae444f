//! Flood joins: every server of a datacenter joins the others of its datacenter into the
//! WAN pool, as Consul's servers do, so that one `-join-wan` (or `-retry-join-wan`) per
//! datacenter federates all of its servers.
//!
//! Servers announce their WAN port in their LAN tags (`wan_join_port`). Whenever LAN
//! membership changes, and every `RECHECK` besides, this server joins over WAN each live
//! server of its datacenter that its WAN view lacks or holds as failed. Joining one already
//! there is harmless, so two servers doing it for the same member at once is too.

use super::wan_pool::{member_name, WanPool};
use crate::membership::Membership;
use legate_gossip::MemberStatus;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Looked at again this often even without a LAN change (a join may have failed).
const RECHECK: Duration = Duration::from_secs(30);

/// Which of `lan_servers` (LAN name, WAN address) to join, given the WAN pool's view
/// (member name → status).
pub fn missing(
    lan_servers: &[(String, SocketAddr)],
    wan_view: &BTreeMap<String, MemberStatus>,
    datacenter: &str,
) -> Vec<SocketAddr> {
    lan_servers
        .iter()
        .filter(|(name, _)| {
            !matches!(
                wan_view.get(&member_name(name, datacenter)),
                Some(MemberStatus::Alive | MemberStatus::Leaving)
            )
        })
        .map(|(_, addr)| *addr)
        .collect()
}

pub async fn run(lan: Membership, wan: WanPool, datacenter: String, cancel: CancellationToken) {
    let mut changes = lan.gossip().watch_members();
    loop {
        let view: BTreeMap<String, MemberStatus> = wan
            .gossip()
            .members()
            .into_iter()
            .map(|member| (member.name, member.status))
            .collect();
        for addr in missing(&lan.wan_joinable_servers(), &view, &datacenter) {
            if let Err(error) = wan.join(&addr.to_string()).await {
                tracing::debug!("WAN flood join of {addr}: {error}");
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            changed = changes.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(RECHECK) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_the_servers_the_wan_pool_lacks_or_holds_as_failed() {
        let addr = |n: u8| SocketAddr::from(([10, 0, 0, n], 8302));
        let lan = vec![
            ("s1".to_owned(), addr(1)),
            ("s2".to_owned(), addr(2)),
            ("s3".to_owned(), addr(3)),
            ("s4".to_owned(), addr(4)),
        ];
        let view = BTreeMap::from([
            ("s1.dc1".to_owned(), MemberStatus::Alive),
            ("s2.dc1".to_owned(), MemberStatus::Failed),
            ("s3.dc2".to_owned(), MemberStatus::Alive),
            ("s4.dc1".to_owned(), MemberStatus::Leaving),
        ]);
        assert_eq!(missing(&lan, &view, "dc1"), vec![addr(2), addr(3)]);
    }
}
