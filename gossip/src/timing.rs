//! Protocol timing (memberlist's LAN/WAN defaults) and its mapping onto
//! foca's [`foca::Config`].

use std::num::{NonZeroU8, NonZeroUsize};
use std::time::Duration;

/// Gossip timing. Field names follow memberlist's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    /// How often a random member is probed.
    pub probe_interval: Duration,
    /// How long to wait for a direct ack before asking others to probe.
    pub probe_timeout: Duration,
    /// How often pending broadcasts are gossiped.
    pub gossip_interval: Duration,
    /// How many random members each gossip round goes to.
    pub gossip_nodes: usize,
    /// Members asked to probe indirectly when a direct probe times out.
    pub indirect_checks: usize,
    /// Suspicion timeout = `suspicion_mult × max(1, log10(N)) × probe_interval`
    /// (Lifeguard's *minimum*).
    pub suspicion_mult: u32,
    /// Lifeguard's maximum suspicion timeout, as a multiple of the minimum.
    pub suspicion_max_timeout_mult: u32,
    /// Broadcasts are retransmitted `retransmit_mult × ceil(log10(N+1))` times.
    pub retransmit_mult: u32,
    /// Full state sync with a random member over TCP this often.
    pub push_pull_interval: Duration,
    /// Members declared down are sent an announce this often, so a
    /// partition heals without help.
    pub announce_down_interval: Duration,
    /// Serf's reconnect: this often, a member this node holds failed is
    /// joined again, with a chance of failed ÷ alive members (see
    /// `Core::reconnect_target`). foca's announce to down members stops
    /// while a node has no live peer left; this does not.
    pub reconnect_interval: Duration,
    /// Highest local health score (Lifeguard); timeouts are multiplied
    /// by `score + 1`.
    pub awareness_max: u8,
}

impl Timing {
    /// Consul's LAN defaults (memberlist `DefaultLANConfig`).
    pub fn lan() -> Self {
        Self {
            probe_interval: Duration::from_secs(1),
            probe_timeout: Duration::from_millis(500),
            gossip_interval: Duration::from_millis(200),
            gossip_nodes: 3,
            indirect_checks: 3,
            suspicion_mult: 4,
            suspicion_max_timeout_mult: 6,
            retransmit_mult: 4,
            push_pull_interval: Duration::from_secs(30),
            announce_down_interval: Duration::from_secs(30),
            reconnect_interval: Duration::from_secs(30),
            awareness_max: 8,
        }
    }

    /// Consul's WAN defaults (memberlist `DefaultWANConfig`).
    pub fn wan() -> Self {
        Self {
            probe_interval: Duration::from_secs(5),
            probe_timeout: Duration::from_secs(3),
            gossip_interval: Duration::from_millis(500),
            gossip_nodes: 4,
            suspicion_mult: 6,
            push_pull_interval: Duration::from_secs(60),
            announce_down_interval: Duration::from_secs(60),
            ..Self::lan()
        }
    }

    /// Ten times faster than [`Timing::lan`], for tests over real sockets.
    pub fn fast() -> Self {
        Self {
            probe_interval: Duration::from_millis(100),
            probe_timeout: Duration::from_millis(50),
            gossip_interval: Duration::from_millis(20),
            push_pull_interval: Duration::from_secs(3),
            announce_down_interval: Duration::from_millis(500),
            reconnect_interval: Duration::from_millis(500),
            ..Self::lan()
        }
    }

    /// Checks the invariants foca relies on; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.probe_timeout.is_zero() || self.probe_interval <= self.probe_timeout {
            return Err(format!(
                "probe_interval ({:?}) must be larger than a non-zero probe_timeout ({:?})",
                self.probe_interval, self.probe_timeout
            ));
        }
        if self.gossip_interval.is_zero() || self.push_pull_interval.is_zero() {
            return Err("gossip_interval and push_pull_interval must not be zero".into());
        }
        if self.gossip_nodes == 0 || self.indirect_checks == 0 {
            return Err("gossip_nodes and indirect_checks must be at least 1".into());
        }
        if self.suspicion_mult == 0 || self.retransmit_mult == 0 {
            return Err("suspicion_mult and retransmit_mult must be at least 1".into());
        }
        if self.suspicion_max_timeout_mult == 0 {
            return Err("suspicion_max_timeout_mult must be at least 1".into());
        }
        Ok(())
    }

    /// Lifeguard's minimum suspicion timeout for a cluster of `n` members.
    pub fn suspicion_min(&self, n: usize) -> Duration {
        let scale = (n.max(1) as f64).log10().max(1.0);
        self.probe_interval
            .mul_f64(scale * f64::from(self.suspicion_mult))
    }

    /// Lifeguard's maximum suspicion timeout for `n` members.
    pub fn suspicion_max(&self, n: usize) -> Duration {
        self.suspicion_min(n) * self.suspicion_max_timeout_mult
    }

    /// Confirmations after which the suspicion timeout reaches its
    /// minimum (memberlist: `suspicion_mult - 2`, at most `n - 2`).
    pub fn expected_confirmations(&self, n: usize) -> u32 {
        let k = self.suspicion_mult.saturating_sub(2);
        let others = u32::try_from(n.saturating_sub(2)).unwrap_or(u32::MAX);
        k.min(others)
    }

    /// How many times each broadcast is sent for `n` members.
    pub fn retransmits(&self, n: usize) -> u8 {
        let scale = ((n + 1) as f64).log10().ceil().max(1.0);
        let tx = f64::from(self.retransmit_mult) * scale;
        tx.clamp(1.0, 255.0) as u8
    }

    /// foca's configuration for a cluster of `n` members.
    ///
    /// `suspect_to_down_after` is set to the Lifeguard *maximum*: the core
    /// owns the timer queue and shortens each suspicion as confirmations
    /// arrive (see `lifeguard.rs`).
    pub(crate) fn foca_config(
        &self,
        n: usize,
        max_packet: usize,
        remove_down_after: Duration,
    ) -> foca::Config {
        let nz = |v: usize| NonZeroUsize::new(v.max(1)).unwrap_or(NonZeroUsize::MIN);
        foca::Config {
            probe_period: self.probe_interval,
            probe_rtt: self.probe_timeout,
            num_indirect_probes: nz(self.indirect_checks),
            max_transmissions: NonZeroU8::new(self.retransmits(n)).unwrap_or(NonZeroU8::MIN),
            suspect_to_down_after: self.suspicion_max(n),
            remove_down_after: Some(remove_down_after),
            max_packet_size: nz(max_packet),
            notify_down_members: true,
            periodic_announce: Some(foca::PeriodicParams {
                frequency: self.push_pull_interval,
                num_members: nz(1),
            }),
            periodic_announce_to_down_members: Some(foca::PeriodicParams {
                frequency: self.announce_down_interval,
                num_members: nz(2),
            }),
            periodic_gossip: Some(foca::PeriodicParams {
                frequency: self.gossip_interval,
                num_members: nz(self.gossip_nodes),
            }),
        }
    }
}

impl Default for Timing {
    fn default() -> Self {
        Self::lan()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lan_matches_memberlist() {
        let t = Timing::lan();
        assert_eq!(t.suspicion_min(5), Duration::from_secs(4));
        assert_eq!(t.suspicion_min(100), Duration::from_secs(8));
        assert_eq!(t.suspicion_max(5), Duration::from_secs(24));
        assert_eq!(t.retransmits(3), 4);
        assert_eq!(t.retransmits(10), 8);
        assert_eq!(t.expected_confirmations(10), 2);
        assert_eq!(t.expected_confirmations(3), 1);
        t.validate().unwrap();
        Timing::wan().validate().unwrap();
        Timing::fast().validate().unwrap();
    }

    #[test]
    fn validate_names_the_problem() {
        let t = Timing {
            probe_timeout: Duration::from_secs(2),
            ..Timing::lan()
        };
        assert!(t.validate().unwrap_err().contains("probe_interval"));
    }
}
