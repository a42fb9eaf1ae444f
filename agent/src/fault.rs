//! Disk faults and a slow WAN link on demand, for tests and fault-injection runs only.
//!
//! With `LEGATE_FAULT_DIR=<dir>` in the agent's environment, every fsync of its durable
//! stores first looks in `<dir>`: while a file `fsync-eio` exists the fsync fails with EIO,
//! and while `fsync-delay-ms` holds a number the fsync first sleeps that long. While a file
//! `serve-stale` exists, the server answers default and `consistent` reads from its own copy,
//! as `stale` ones: the broken server the fault harness must catch; `apply-delay-ms` holding
//! a number makes it apply committed entries that much later, so its copy lags for sure. A
//! file `wan-delay-ms`
//! present when the agent starts holds a delay added to every WAN gossip packet it sends:
//! a slow link between datacenters on a machine without `netem`. A test creates
//! and removes the files to start and stop the fault on a running agent. Without the variable
//! (always, outside tests) this costs one check of a value read once.

use std::io;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

fn fault_dir() -> Option<&'static PathBuf> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| std::env::var_os("LEGATE_FAULT_DIR").map(PathBuf::from))
        .as_ref()
}

/// Called before each fsync: applies whatever fault is switched on.
pub fn before_fsync() -> io::Result<()> {
    let Some(dir) = fault_dir() else {
        return Ok(());
    };
    if let Some(millis) = std::fs::read_to_string(dir.join("fsync-delay-ms"))
        .ok()
        .and_then(|text| text.trim().parse::<u64>().ok())
    {
        std::thread::sleep(Duration::from_millis(millis));
    }
    if dir.join("fsync-eio").exists() {
        return Err(io::Error::from_raw_os_error(5));
    }
    Ok(())
}

/// Whether reads should be served stale on purpose (see the module doc).
pub fn serve_stale() -> bool {
    fault_dir().is_some_and(|dir| dir.join("serve-stale").exists())
}

/// The delay `wan-delay-ms` asks for on WAN gossip packets (see the module doc).
pub fn wan_send_delay() -> Duration {
    fault_dir()
        .and_then(|dir| std::fs::read_to_string(dir.join("wan-delay-ms")).ok())
        .and_then(|text| text.trim().parse::<u64>().ok())
        .map_or(Duration::ZERO, Duration::from_millis)
}

/// The delay `apply-delay-ms` asks for before each batch of committed entries is applied.
pub fn apply_delay() -> Duration {
    fault_dir()
        .and_then(|dir| std::fs::read_to_string(dir.join("apply-delay-ms")).ok())
        .and_then(|text| text.trim().parse::<u64>().ok())
        .map_or(Duration::ZERO, Duration::from_millis)
}
