//! Counters the core keeps; [`crate::Gossip::stats`] returns a snapshot.

/// Gossip counters and gauges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// UDP packets received (before authentication).
    pub packets_in: u64,
    /// UDP packets sent.
    pub packets_out: u64,
    /// Bytes received over UDP.
    pub bytes_in: u64,
    /// Bytes sent over UDP.
    pub bytes_out: u64,
    /// Packets or frames no installed key authenticates (dropped, nothing changed).
    pub auth_failures: u64,
    /// Plaintext packets or frames refused because `verify_incoming` is on.
    pub plaintext_refused: u64,
    /// Packets or frames that did not decode (bad envelope, foca or wire error).
    pub malformed: u64,
    /// Packets larger than the UDP limit.
    pub oversized: u64,
    /// Push-pull exchanges completed (either side).
    pub push_pulls: u64,
    /// Push-pull exchanges that failed (connect, timeout, decode).
    pub push_pull_failures: u64,
    /// User events delivered (fired here or received).
    pub user_events: u64,
    /// Times this node renewed its identity after being declared down.
    pub rejoins: u64,
    /// Timers dropped because the queue was full.
    pub timers_dropped: u64,
    /// Members alive.
    pub alive: usize,
    /// Members leaving.
    pub leaving: usize,
    /// Members left.
    pub left: usize,
    /// Members failed.
    pub failed: usize,
    /// Lifeguard local health score (0 healthy .. 8).
    pub health_score: u8,
    /// Timers that ran late enough to count as "this node was paused".
    pub late_timers: u64,
}
