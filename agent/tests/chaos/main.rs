//! The fault harness: a register workload from many clients against a real cluster (3
//! servers and 2 client agents, real processes, each in a network namespace of its own on a
//! bridge, or on 127.A.B.x where namespaces cannot be created) while faults are injected on a
//! seeded schedule, then every answer checked for linearizability (`legate-lincheck`).
//!
//! What it proves each run: no acknowledged write is lost and no default or `consistent`
//! read is stale, through `kill -9` of the leader and of any minority of the servers (with a
//! client agent among them on half the draws), SIGSTOP of the leader and of every server for longer than the election timeout,
//! partitions (nftables rules in the agents' namespaces, or between their loopback
//! addresses, while the test's clients still reach every agent) of five shapes (the leader alone, any one agent alone,
//! majority/minority with the leader on either side, a bridge, and with 5 servers a ring
//! where every server sees a majority and none sees all), and every fsync of the leader
//! slowed (the agent's test-only fault directory), and a server's wall clock jumped by up to
//! two minutes either way (libfaketime), and a server added and removed again under the
//! workload. `stale` reads are only checked for reading
//! values that were written. One run has 3 servers, another 5; both have 2 client agents.
//!
//! A CI run is short; for a soak run set `LEGATE_CHAOS_SECONDS` (default 20) and, to replay
//! a schedule, `LEGATE_CHAOS_SEED` (printed by every run); `LEGATE_CHAOS_KEEP_LOGS=1` keeps
//! every agent's log of a register run, failed or not:
//!
//! ```text
//! LEGATE_CHAOS_SECONDS=600 cargo nextest run -p legate-agent --test chaos --no-capture
//! ```
//!
//! Another test runs the same workload against a server broken on purpose (it serves
//! default and `consistent` reads from its own lagging copy) and must see the violation, and
//! another runs fenced lock holders (`lock_workload`) through the same fault schedule.

#[path = "../cluster/harness.rs"]
#[allow(dead_code)]
mod harness;

#[path = "../cluster/lock_workload.rs"]
mod lock_workload;

#[path = "../cluster/netns.rs"]
#[allow(dead_code)]
mod netns;

mod faults;
mod workload;

use faults::Schedule;
use harness::Cluster;
use legate_lincheck::{check, KeyVerdict, Operation, Output};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use workload::{Recorder, KEYS};

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
}

fn seed() -> u64 {
    env_u64("LEGATE_CHAOS_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    })
}

/// Injects faults from `schedule` (none if `None`) for `seconds`, then heals the cluster;
/// answers how many of each kind it injected.
fn inject_for(
    cluster: &mut Cluster,
    seconds: u64,
    mut schedule: Option<&mut Schedule>,
    clock: Option<&Recorder>,
) -> BTreeMap<&'static str, usize> {
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut tally = BTreeMap::new();
    while Instant::now() < end {
        match schedule.as_mut() {
            Some(schedule) => {
                let fault = schedule.next_fault();
                // On the operations' clock, to line faults up with a history.
                let at = clock.map_or(String::new(), |clock| {
                    format!("t={:.3}s ", clock.now() as f64 / 1e6)
                });
                eprintln!("chaos: {at}{fault:?}");
                *tally.entry(fault.kind()).or_default() += 1;
                faults::inject(cluster, fault);
                std::thread::sleep(schedule.pause());
            }
            // No faults: the run's length is all there is to wait for.
            None => std::thread::sleep(end.saturating_duration_since(Instant::now())),
        }
    }
    faults::heal(cluster);
    tally
}

/// What a run recorded.
struct Recorded {
    history: Vec<Operation>,
    /// `?stale` reads: (key, value).
    stale: Vec<(String, Option<String>)>,
    /// Which agent answered each operation (`Recorder::trace`).
    trace: String,
}

/// Runs the clients against `cluster` for `seconds`, with faults from `schedule` if given,
/// heals, reads every key once more, and returns what it recorded.
fn run(cluster: &mut Cluster, seconds: u64, seed: u64, mut schedule: Option<Schedule>) -> Recorded {
    let agents: Vec<String> = (0..cluster.nodes.len())
        .map(|index| cluster.url(index, ""))
        .collect();
    let recorder = Arc::new(Recorder::new());
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..6)
        .map(|client| {
            let recorder = recorder.clone();
            let stop = stop.clone();
            let agents = agents.clone();
            std::thread::spawn(move || {
                workload::client(client, seed, &agents, &recorder, &stop);
            })
        })
        .collect();
    let tally = inject_for(cluster, seconds, schedule.as_mut(), Some(&recorder));
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }
    // Every key read once more, linearizably, after the cluster has healed.
    workload::final_reads(&recorder, &agents);
    let trace = recorder.trace();
    let (history, stale) = recorder.take();
    let known = history
        .iter()
        .filter(|operation| operation.is_known())
        .count();
    let acknowledged_writes = history
        .iter()
        .filter(|operation| matches!(operation.output, Output::Written | Output::Cas(true)))
        .count();
    eprintln!(
        "chaos: {} operations ({known} with a known outcome, {acknowledged_writes} acknowledged \
         writes) on {} keys; faults: {tally:?}",
        history.len(),
        KEYS.len()
    );
    assert!(known > 200, "too little got through to mean anything");
    Recorded {
        history,
        stale,
        trace,
    }
}

/// Where the agents run: each in a network namespace of its own on a bridge, where this
/// machine lets the test create them (partitions are then nftables rules inside each
/// agent's namespace), or on loopback addresses otherwise, with the partitions as loopback
/// rules between their addresses. Every other fault is the same either way.
fn hosts() -> Option<netns::Network> {
    match netns::Network::create(0) {
        Ok(network) => Some(network),
        Err(why) => {
            eprintln!("chaos: agents on loopback addresses: no network namespaces here ({why})");
            None
        }
    }
}

#[test]
fn the_register_stays_linearizable_through_kills_pauses_and_partitions() {
    linearizable_through_faults(3);
}

#[test]
fn five_servers_stay_linearizable_through_rings_bridges_and_minority_kills() {
    linearizable_through_faults(5);
}

fn linearizable_through_faults(servers: usize) {
    let seconds = env_u64("LEGATE_CHAOS_SECONDS").unwrap_or(20);
    let seed = seed();
    eprintln!(
        "chaos: {servers} servers, seed {seed}, {seconds} s (LEGATE_CHAOS_SEED={seed} replays \
         the schedule)"
    );
    let mut cluster = Cluster::start_in(hosts(), servers, 2, &[], &[]);
    faults::arm_faults(&mut cluster);
    let schedule = Schedule::new(seed, servers);
    let Recorded {
        history,
        stale: stale_reads,
        trace,
    } = run(&mut cluster, seconds, seed, Some(schedule));
    if std::env::var_os("LEGATE_CHAOS_KEEP_LOGS").is_some() {
        let kept =
            std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("chaos-{seed}-logs"));
        cluster.save_logs(&kept);
        eprintln!("chaos: agents' logs kept in {}", kept.display());
    }
    let report = check(&history, 5_000_000);
    for (key, verdict) in &report.keys {
        match verdict {
            KeyVerdict::Linearizable => {}
            KeyVerdict::Undecided => {
                panic!("key {key}: the search ran out of budget (seed {seed})")
            }
            KeyVerdict::NotLinearizable { deepest } => {
                let operations: Vec<_> = history.iter().filter(|op| op.key == *key).collect();
                let stuck = operations.len().min(deepest.len());
                // The whole key's history, for a look at more than the window printed.
                // With the trace and the agents' logs beside it.
                let tmp = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
                let saved = tmp.join(format!("chaos-{seed}-{}.txt", key.replace('/', "_")));
                let _ = std::fs::write(&saved, format!("{operations:#?}"));
                let _ = std::fs::write(tmp.join(format!("chaos-{seed}-trace.txt")), &trace);
                cluster.save_logs(&tmp.join(format!("chaos-{seed}-logs")));
                panic!(
                    "key {key} is not linearizable (seed {seed}); the longest linearizable \
                     prefix has {} operations; the key's history is in {}; around where it \
                     stops:\n{:#?}",
                    deepest.len(),
                    saved.display(),
                    &operations[stuck.saturating_sub(3)..(stuck + 3).min(operations.len())]
                );
            }
        }
    }
    // A stale read may be old, but never a value nobody wrote.
    let written = workload::written_values(&history);
    for (key, value) in stale_reads {
        if let Some(value) = value {
            assert!(
                written.contains(&value),
                "stale read of {key} gave {value}, never written"
            );
        }
    }
}

/// The harness itself: a server that answers default and `consistent` reads from its own,
/// lagging copy (a test-only fault) must be caught, or a passing run would prove nothing.
#[test]
fn a_server_serving_stale_reads_is_caught() {
    let seed = seed();
    eprintln!("chaos: seed {seed}");
    let faults = tempfile::tempdir().unwrap();
    std::fs::write(faults.path().join("serve-stale"), "").unwrap();
    // And lagging for sure: it applies what is committed 200 ms late, so a read soon after
    // a write finds the old value there (without the lag, catching it is left to chance).
    std::fs::write(faults.path().join("apply-delay-ms"), "200").unwrap();
    let mut cluster = Cluster::start(3, 2, &[]);
    let leader = cluster.wait_for_leader();
    let stale = (0..3).find(|index| *index != leader).unwrap();
    cluster.kill9(stale);
    cluster.nodes[stale].env.push((
        "LEGATE_FAULT_DIR".to_owned(),
        faults.path().display().to_string(),
    ));
    cluster.start_node(stale);
    cluster.wait_members_alive(&[0, 1, 2, 3, 4]);
    let history = run(&mut cluster, 10, seed, None).history;
    let report = check(&history, 5_000_000);
    assert!(
        report.violations().count() > 0,
        "the stale server went unnoticed: {:?}",
        report.keys
    );
}

/// Lock safety through the same fault schedule: contenders take a lock through sessions
/// (`legate lock`, against servers and client agents alike) and work on a resource that
/// refuses tokens older than the newest it has seen. Holders must never overlap and no
/// token may serve two sessions. After the faults, a holder is paused past its session's
/// TTL, so that one stale holder certainly wakes into a newer one's turn. The unfenced
/// control, which must show the overlap, is the cluster suite's
/// `locks::without_fencing_a_paused_holder_overlaps_the_next`.
#[test]
fn fenced_lock_holders_never_overlap_through_the_fault_schedule() {
    let seconds = env_u64("LEGATE_CHAOS_SECONDS").unwrap_or(20);
    let seed = seed();
    eprintln!("chaos: locks, seed {seed}, {seconds} s (LEGATE_CHAOS_SEED={seed} replays)");
    let mut cluster = Cluster::start_in(hosts(), 3, 2, &[], &[]);
    faults::arm_faults(&mut cluster);
    let workload = lock_workload::Workload::start(&cluster, true, 3);
    workload.wait_for_tokens(&cluster, 1);
    let mut schedule = Schedule::new(seed, 3);
    let tally = inject_for(&mut cluster, seconds, Some(&mut schedule), None);
    // Still changing hands once healed, then a holder fenced out for sure.
    workload.wait_for_tokens(&cluster, 1);
    workload.pause_a_holder(&cluster);
    workload.wait_for_tokens(&cluster, 1);
    let ledger = workload.finish();
    eprintln!(
        "chaos: locks: {} holders, {} entries, {} refused as stale; faults: {tally:?}",
        ledger.owners.len(),
        ledger.entries,
        ledger.rejected
    );
    assert_eq!(ledger.collisions, 0, "one token, two sessions: {ledger:?}");
    assert_eq!(ledger.overlaps, 0, "two holders at once: {ledger:?}");
    assert!(ledger.owners.len() >= 3, "{ledger:?}");
}
