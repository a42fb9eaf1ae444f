//! The members an agent knew, kept on disk (Consul's `serf/local.snapshot`), so that an
//! agent restarted rejoins them at once instead of waiting for them to find it.
//!
//! Without it, an agent whose join addresses name only itself (the first server of a
//! cluster, typically) or that was joined by hand comes back knowing nobody, and the others
//! only reach it when they next announce to members they think down, half a minute later.
//! Meanwhile a server restarted that way could win an election and take its empty view of
//! the cluster for the truth.
//!
//! The file is Serf's text format, which Consul's agents write too: one record a line,
//! `alive: <name> <ip:port>` for each live member and `leave` once this agent left
//! gracefully; lines starting with `#` are comments, and unknown lines (Serf's `clock:`,
//! `coordinate:` ...) are skipped. Serf appends and compacts; this writer rewrites the
//! whole file (a few dozen bytes a member), at most once a second, atomically. The first
//! line names the version (`# legate serf snapshot v1`); a reader takes any version it does
//! not know as Serf's records, which is all v1 is.
//!
//! As in Serf, a graceful leave forgets the members (the agent does not rejoin on restart)
//! unless `rejoin_after_leave` (`-rejoin`) is set.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

/// The first line this release writes.
pub const HEADER: &str = "# legate serf snapshot v1";

/// Members read back from a snapshot: those to rejoin, in file order, without duplicates.
pub fn replay(text: &str, rejoin_after_leave: bool) -> Vec<(String, SocketAddr)> {
    let mut alive: Vec<(String, SocketAddr)> = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(info) = line.strip_prefix("alive: ") {
            // The name may hold spaces; the address is after the last one (as Serf reads it).
            let Some((name, addr)) = info.rsplit_once(' ') else {
                continue;
            };
            let Ok(addr) = addr.parse::<SocketAddr>() else {
                continue;
            };
            alive.retain(|(known, _)| known != name);
            alive.push((name.to_owned(), addr));
        } else if let Some(name) = line.strip_prefix("not-alive: ") {
            alive.retain(|(known, _)| known != name);
        } else if line == "leave" && !rejoin_after_leave {
            alive.clear();
        }
    }
    alive
}

/// The file's text for these live members, ending with `leave` if this agent left.
pub fn render(alive: &[(String, SocketAddr)], left: bool) -> String {
    let mut text = String::with_capacity(32 + alive.len() * 48);
    text.push_str(HEADER);
    text.push('\n');
    for (name, addr) in alive {
        // A name with a line break would end its record early; no valid name has one.
        if name.contains('\n') {
            continue;
        }
        text.push_str("alive: ");
        text.push_str(name);
        text.push(' ');
        text.push_str(&addr.to_string());
        text.push('\n');
    }
    if left {
        text.push_str("leave\n");
    }
    text
}

/// Reads the members to rejoin from `path`; none when it is missing or unreadable (an agent
/// without a snapshot starts as a new one would).
pub fn load(path: &Path, rejoin_after_leave: bool) -> Vec<(String, SocketAddr)> {
    match std::fs::read(path) {
        Ok(bytes) => replay(&String::from_utf8_lossy(&bytes), rejoin_after_leave),
        Err(error) => {
            if error.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %path.display(), %error, "gossip: snapshot unreadable");
            }
            Vec::new()
        }
    }
}

/// Writes the snapshot file. Shared by the driver (the leave) and the task that records
/// member changes; once the leave is written nothing overwrites it.
#[derive(Debug)]
pub struct Recorder {
    path: PathBuf,
    state: Mutex<Written>,
}

#[derive(Debug, Default)]
struct Written {
    text: String,
    left: bool,
}

impl Recorder {
    /// A recorder for `path`; nothing is written until the first record.
    pub fn new(path: PathBuf) -> Recorder {
        Recorder {
            path,
            state: Mutex::new(Written::default()),
        }
    }

    /// Records the live members, unless this agent has left or they are already on disk.
    pub fn members(&self, alive: &[(String, SocketAddr)]) -> std::io::Result<()> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.left {
            return Ok(());
        }
        self.write(&mut state, render(alive, false))
    }

    /// Records that this agent left gracefully, with the members it knew then.
    pub fn leave(&self, alive: &[(String, SocketAddr)]) -> std::io::Result<()> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.left = true;
        self.write(&mut state, render(alive, true))
    }

    fn write(&self, state: &mut Written, text: String) -> std::io::Result<()> {
        if state.text == text {
            return Ok(());
        }
        crate::keyring::write_atomic(&self.path, text.as_bytes())?;
        state.text = text;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn what_is_rendered_replays_to_the_same_members() {
        let alive = vec![
            ("s1".to_owned(), addr("127.0.0.1:8301")),
            ("a node".to_owned(), addr("[::1]:8302")),
        ];
        assert_eq!(replay(&render(&alive, false), false), alive);
    }

    /// v1's bytes, pinned: a later release must read them, and this one writes exactly them.
    #[test]
    fn v1_fixture() {
        const V1: &str = "# legate serf snapshot v1\n\
                          alive: s2 127.0.0.2:8301\n\
                          alive: c 4 [::1]:8301\n\
                          leave\n";
        let alive = vec![
            ("s2".to_owned(), addr("127.0.0.2:8301")),
            ("c 4".to_owned(), addr("[::1]:8301")),
        ];
        assert_eq!(render(&alive, true), V1);
        assert_eq!(replay(V1, true), alive);
        assert!(replay(V1, false).is_empty());
    }

    #[test]
    fn a_graceful_leave_forgets_the_members_unless_rejoin_after_leave() {
        let alive = vec![("s1".to_owned(), addr("127.0.0.1:8301"))];
        let text = render(&alive, true);
        assert!(replay(&text, false).is_empty());
        assert_eq!(replay(&text, true), alive);
    }

    #[test]
    fn serfs_own_records_replay_as_serf_reads_them() {
        // As Consul's agent writes it: appended records, clocks, a leave and a later join.
        let text = "alive: s1 10.0.0.1:8301\nalive: s2 10.0.0.2:8301\nclock: 7\n\
                    not-alive: s2\nevent-clock: 3\nleave\nalive: s3 10.0.0.3:8301\n\
                    # a comment\ncoordinate: {\"Vec\":[0]}\nalive: s1 10.0.0.9:8301\n\
                    alive: broken\nalive: s4 not-an-address\n";
        assert_eq!(
            replay(text, false),
            vec![
                ("s3".to_owned(), addr("10.0.0.3:8301")),
                ("s1".to_owned(), addr("10.0.0.9:8301")),
            ]
        );
    }

    #[test]
    fn the_recorder_writes_changes_only_and_nothing_after_the_leave() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("local.snapshot");
        let recorder = Recorder::new(path.clone());
        let one = vec![("s1".to_owned(), addr("127.0.0.1:8301"))];
        recorder.members(&one).unwrap();
        assert_eq!(load(&path, false), one);
        recorder.leave(&one).unwrap();
        recorder.members(&[]).unwrap();
        assert!(load(&path, false).is_empty());
        assert_eq!(load(&path, true), one);
    }

    #[test]
    fn a_missing_file_means_nobody_to_rejoin() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(&dir.path().join("absent"), false).is_empty());
    }
}
