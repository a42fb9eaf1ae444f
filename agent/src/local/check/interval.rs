//! The loop of an interval check (HTTP, TCP, gRPC, script), as Consul's `run` methods do
//! it: a random first pause in `[0, interval)` so that checks registered together do not run
//! together, then run, filter, report, and wait `interval` after each run ends.

use super::probe::Probe;
use super::reporter::Sink;
use super::threshold::Threshold;
use rand::Rng;
use std::time::Duration;

/// Runs `probe` until the task is aborted. Each run is bounded by `timeout`, so a run never
/// overlaps the next.
pub(crate) async fn run(
    probe: Probe,
    interval: Duration,
    timeout: Duration,
    mut threshold: Threshold,
    sink: Sink,
) {
    tokio::time::sleep(stagger(interval)).await;
    loop {
        let outcome = probe.run(timeout).await;
        if let Some(status) = threshold.filter(outcome.status) {
            sink.report(status, outcome.output);
        }
        tokio::time::sleep(interval).await;
    }
}

/// Consul's `lib.RandomStagger`: uniform in `[0, interval)`.
pub(crate) fn stagger(interval: Duration) -> Duration {
    let nanos = u64::try_from(interval.as_nanos()).unwrap_or(u64::MAX);
    if nanos == 0 {
        return Duration::ZERO;
    }
    Duration::from_nanos(rand::thread_rng().gen_range(0..nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stagger_stays_below_the_interval() {
        assert_eq!(stagger(Duration::ZERO), Duration::ZERO);
        for _ in 0..1000 {
            assert!(stagger(Duration::from_millis(10)) < Duration::from_millis(10));
        }
    }
}
