//! The bodies of Legate's fuzz targets: one function per decoder that takes bytes from outside
//! the process (server RPC, gossip, DNS, HTTP, config files, what a server reads back from its
//! disk). `harness/` wraps each in `libfuzzer_sys::fuzz_target!` for `cargo fuzz`
//! (`scripts/fuzz` runs them); `tests/replay.rs` runs the committed seeds (`corpus/<target>/`)
//! and every input that ever failed (`regressions/<target>/`) through the same functions on
//! every test run, so a crash found once stays fixed.
//!
//! The rule for every target: no input panics, hangs or allocates without bound, and where a
//! decoder accepts the bytes, what it decoded encodes back to bytes that decode to the same
//! value (a decoder that accepted more than its encoder can say would let two servers read one
//! record differently).

pub mod config;
pub mod disk;
pub mod dns;
pub mod gossip;
pub mod http;
pub mod rpc;

/// A fuzz target: must return normally for every input.
pub type Target = fn(&[u8]);

/// Every target by name: the harness's binaries and the corpus directories use these names.
pub const TARGETS: &[(&str, Target)] = &[
    ("rpc_frames", rpc::frames),
    ("rpc_messages", rpc::messages),
    ("gossip_packets", gossip::packets),
    ("dns_messages", dns::messages),
    ("http_requests", http::requests),
    ("config_files", config::files),
    ("snapshots", disk::snapshots),
    ("log_records", disk::records),
    ("member_snapshots", gossip::member_snapshots),
];

/// Decodes `bytes` with `decode`; if that succeeds, checks that the value survives a round
/// trip through `encode` and `decode` unchanged.
pub fn round_trips<T: PartialEq + std::fmt::Debug, E>(
    bytes: &[u8],
    decode: impl Fn(&[u8]) -> Result<T, E>,
    encode: impl Fn(&T) -> Vec<u8>,
) -> Option<T> {
    let value = decode(bytes).ok()?;
    let again = encode(&value);
    match decode(&again) {
        Ok(back) => assert_eq!(back, value, "a decoded value changed through its encoding"),
        Err(_) => panic!("{value:?} was decoded but its own encoding does not decode"),
    }
    Some(value)
}
