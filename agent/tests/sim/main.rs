//! Deterministic simulation of the server cluster: openraft as the agent configures it, the
//! real catalog `apply` and snapshot format, the real log-entry wire codec, on simulated
//! disks and a simulated network, all on one thread with simulated time and one seed.
//!
//! Each run draws 3 or 5 servers, clients and a fault schedule from its seed, checks the
//! invariants of `check` after every step, heals, lets the cluster converge and checks that
//! no acknowledged write was lost. A failing seed replays exactly:
//!
//! ```text
//! LEGATE_SIM_SEED=<seed> cargo nextest run -p legate-agent --test sim replays_one_seed --no-capture
//! ```
//!
//! Longer runs (`bench/sim.py` drives them in release mode and writes the table):
//!
//! ```text
//! LEGATE_SIM_SEEDS=10000 LEGATE_SIM_FIRST=1 cargo test --profile sim -p legate-agent --test sim \
//!     every_invariant_holds -- --nocapture
//! ```
//!
//! What is simulated rather than real: the disk (the agent's sled log store and its
//! overlapped-fsync gates are covered by openraft's storage suite and the process-level
//! fault harness in `tests/chaos`) and the transport (server RPC has its own tests).
//!
//! Layout: `world` (shared state, seed, trace), `disk` (disk and log store), `machine`
//! (state machine), `net` (network), `node` (start, crash), `workload` (clients), `faults`
//! (schedule), `check` (invariants), `run` (one seed).

mod check;
mod disk;
mod faults;
mod machine;
mod net;
mod node;
mod run;
mod workload;
mod world;

use run::{Params, Report};
use std::cell::Cell;
use std::sync::Once;
use world::Bugs;

thread_local! {
    /// Panics on this thread since the last `run_checked`; a simulation runs on the thread
    /// that started it, so a panic in any of its tasks lands here.
    static PANICS: Cell<u64> = const { Cell::new(0) };
}

/// Runs one seed, counting a panic in any task as a violation (tokio would otherwise only
/// print it and carry on without the task).
fn run_checked(params: Params) -> Report {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.with(|count| count.set(count.get() + 1));
            default(info);
        }));
    });
    PANICS.with(|count| count.set(0));
    if let Ok(filter) = std::env::var("LEGATE_SIM_LOG") {
        // openraft's own log, for a replay (`LEGATE_SIM_LOG=openraft=debug`).
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    }
    let mut report = run::run(params);
    let panics = PANICS.with(Cell::get);
    if panics > 0 {
        report
            .violations
            .push(format!("{panics} task(s) panicked (see the output above)"));
    }
    report
}

fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not {value:?}")),
    )
}

/// The first seed of a batch: `LEGATE_SIM_FIRST`, or a fresh one, so that every CI run
/// covers new seeds (printed, so a failure can be replayed).
fn first_seed() -> u64 {
    env_u64("LEGATE_SIM_FIRST").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |elapsed| elapsed.as_nanos() as u64)
    })
}

fn describe(report: &Report) -> String {
    format!(
        "{}\n  faults {:?}\n  violations:\n    {}\n  replay: LEGATE_SIM_SEED={} cargo nextest run \
         -p legate-agent --test sim replays_one_seed --no-capture",
        report.line(),
        report.faults,
        report.violations.join("\n    "),
        report.seed
    )
}

/// `LEGATE_SIM_SEEDS` seeds (50 by default) from `first_seed`, every invariant holding.
#[test]
fn every_invariant_holds() {
    let seeds = env_u64("LEGATE_SIM_SEEDS").unwrap_or(50);
    let first = first_seed();
    println!("simulating {seeds} seeds from {first}");
    let out = std::env::var("LEGATE_SIM_REPORT").ok();
    let mut lines = Vec::new();
    let mut failed = Vec::new();
    for seed in first..first.saturating_add(seeds) {
        let report = run_checked(Params::new(seed));
        println!("{}", report.line());
        lines.push(format!("{} faults {:?}", report.line(), report.faults));
        if !report.passed() {
            println!("{}", describe(&report));
            failed.push(report.seed);
        }
        if let Some(path) = &out {
            std::fs::write(path, lines.join("\n") + "\n").expect("the report file is writable");
        }
    }
    assert!(
        failed.is_empty(),
        "seeds that broke an invariant: {failed:?}"
    );
}

/// Seeds that once broke an invariant, kept as regressions:
/// - 1796286613872272548 (CI, debug build): a membership change asked of a leader that had
///   removed itself panicked openraft's core (a debug assertion).
/// - 101109 (bench/sim.py): a deposed leader's replication stream sent a follower still at
///   the old term an entry of the new term after one of the old (`raft::saved_vote`).
#[test]
fn seeds_that_once_failed_pass() {
    const SEEDS: &[u64] = &[1_796_286_613_872_272_548, 101_109];
    for &seed in SEEDS {
        let report = run_checked(Params::new(seed));
        assert!(report.passed(), "{}", describe(&report));
    }
}

/// The seed in `LEGATE_SIM_SEED` (or 1), run once with everything it finds printed; with
/// `LEGATE_SIM_BUGS=local_clock,skip_fsync` (either or both), with those defects in place.
#[test]
fn replays_one_seed() {
    let seed = env_u64("LEGATE_SIM_SEED").unwrap_or(1);
    let named = std::env::var("LEGATE_SIM_BUGS").unwrap_or_default();
    let bugs = Bugs {
        local_clock: named.contains("local_clock"),
        skip_fsync: named.contains("skip_fsync"),
    };
    let report = run_checked(Params {
        bugs,
        ..Params::new(seed)
    });
    if bugs != Bugs::default() {
        // A defective run is expected to fail; show what it found.
        println!("{}", describe(&report));
        return;
    }
    println!("{}", describe(&report));
    assert!(report.passed(), "{}", describe(&report));
}

/// Two runs of one seed do the same things in the same order: the same trace digest over
/// every delivery, fault, vote, apply and client answer, and the same figures.
#[test]
fn a_seed_runs_the_same_twice() {
    for seed in [7, first_seed()] {
        let once = run_checked(Params::new(seed));
        let twice = run_checked(Params::new(seed));
        assert!(once.events > 1_000, "too little happened: {}", once.line());
        assert_eq!(once.line(), twice.line(), "seed {seed} diverged");
        assert_eq!(once.faults, twice.faults);
    }
}

/// A defect that state-machine safety exists to catch: servers that take `apply`'s time
/// from their own clocks instead of the leader's stamp disagree once clocks differ.
#[test]
fn servers_applying_with_their_own_clocks_are_caught() {
    let caught = (1..=10).find(|seed| {
        let params = Params {
            bugs: Bugs {
                local_clock: true,
                ..Bugs::default()
            },
            ..Params::new(*seed)
        };
        let report = run_checked(params);
        report
            .violations
            .iter()
            .any(|violation| violation.contains("state-machine safety"))
    });
    assert!(caught.is_some(), "no seed of 10 caught the local clock");
}

/// A log that reports appends flushed without making them durable loses acknowledged writes
/// when every server crashes at once, and the checker says so.
#[test]
fn a_log_that_acknowledges_before_fsync_is_caught() {
    let caught = (1..=20).find(|seed| {
        let params = Params {
            bugs: Bugs {
                skip_fsync: true,
                ..Bugs::default()
            },
            ..Params::new(*seed)
        };
        let report = run_checked(params);
        report.violations.iter().any(|violation| {
            violation.contains("lost")
                || violation.contains("cannot start")
                || violation.contains("state-machine safety")
                || violation.contains("completeness")
        })
    });
    assert!(caught.is_some(), "no seed of 20 caught the missing fsync");
}
