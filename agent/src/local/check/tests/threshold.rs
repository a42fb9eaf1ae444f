//! The status filter, case by case and then over every small threshold setting.

use super::super::Threshold;
use legate_catalog::Health::{self, Critical, Passing, Warning};

/// Feeds `results` and collects what is reported.
fn feed(threshold: &mut Threshold, results: &[Health]) -> Vec<Option<Health>> {
    results
        .iter()
        .map(|&status| threshold.filter(status))
        .collect()
}

#[test]
fn without_thresholds_everything_is_reported_as_is() {
    for (before_passing, before_critical) in [(0, 0), (1, 1), (0, 1), (1, 0)] {
        let mut threshold = Threshold::new(before_passing, 0, before_critical);
        assert_eq!(
            feed(
                &mut threshold,
                &[Passing, Critical, Warning, Critical, Critical, Passing]
            ),
            vec![
                Some(Passing),
                Some(Critical),
                Some(Warning),
                Some(Critical),
                Some(Critical),
                Some(Passing)
            ],
            "thresholds ({before_passing}, {before_critical})"
        );
    }
}

#[test]
fn the_first_result_is_reported_whatever_the_thresholds() {
    for status in [Passing, Warning, Critical] {
        let mut threshold = Threshold::new(3, 2, 3);
        assert_eq!(threshold.filter(status), Some(status));
    }
}

#[test]
fn successes_must_follow_each_other_to_pass() {
    let mut threshold = Threshold::new(3, 0, 0);
    assert_eq!(
        feed(
            &mut threshold,
            &[Critical, Passing, Passing, Critical, Passing, Passing, Passing, Passing]
        ),
        vec![
            Some(Critical),
            None,
            None,
            Some(Critical),
            None,
            None,
            Some(Passing),
            Some(Passing)
        ]
    );
}

#[test]
fn a_warning_result_counts_as_a_success_and_is_reported_as_warning() {
    let mut threshold = Threshold::new(2, 0, 0);
    assert_eq!(
        feed(&mut threshold, &[Critical, Warning, Warning, Passing]),
        vec![Some(Critical), None, Some(Warning), Some(Passing)]
    );
}

#[test]
fn failures_before_warning_defaults_to_failures_before_critical() {
    let mut threshold = Threshold::new(0, 0, 3);
    assert_eq!(
        feed(
            &mut threshold,
            &[Passing, Critical, Critical, Critical, Critical]
        ),
        vec![Some(Passing), None, None, Some(Critical), Some(Critical)]
    );
}

#[test]
fn failures_turn_warning_then_critical() {
    let mut threshold = Threshold::new(0, 1, 3);
    assert_eq!(
        feed(
            &mut threshold,
            &[Passing, Critical, Critical, Critical, Critical]
        ),
        vec![
            Some(Passing),
            Some(Warning),
            Some(Warning),
            Some(Critical),
            Some(Critical)
        ]
    );
}

#[test]
fn a_success_resets_the_failures_and_a_failure_the_successes() {
    let mut threshold = Threshold::new(2, 2, 3);
    assert_eq!(
        feed(
            &mut threshold,
            &[
                Passing, Critical, Critical, Passing, Critical, Critical, Critical, Passing,
                Passing
            ]
        ),
        vec![
            Some(Passing),
            None,
            Some(Warning),
            None,
            None,
            Some(Warning),
            Some(Critical),
            None,
            Some(Passing)
        ]
    );
}

#[test]
fn warning_threshold_above_critical_never_warns() {
    let mut threshold = Threshold::new(0, 5, 2);
    assert_eq!(
        feed(&mut threshold, &[Passing, Critical, Critical, Critical]),
        vec![Some(Passing), None, Some(Critical), Some(Critical)]
    );
}

#[test]
fn long_runs_do_not_overflow() {
    let mut threshold = Threshold::new(u32::MAX, 0, u32::MAX);
    for _ in 0..10_000 {
        threshold.filter(Critical);
    }
    assert_eq!(threshold.filter(Passing), None);
}

/// Every setting with thresholds up to 4: after `k` successes following a failure the
/// filter answers as the rules say, and after `n` failures following a success likewise.
#[test]
fn every_small_setting_follows_the_rules() {
    for before_passing in 0..=4u32 {
        for before_warning in 0..=4u32 {
            for before_critical in 0..=4u32 {
                let warning_at = if before_warning == 0 {
                    before_critical
                } else {
                    before_warning
                };
                for run in 1..=6u32 {
                    for status in [Passing, Warning] {
                        let mut threshold =
                            Threshold::new(before_passing, before_warning, before_critical);
                        threshold.filter(Critical);
                        let mut last = None;
                        for _ in 0..run {
                            last = threshold.filter(status);
                        }
                        let expected = (run >= before_passing).then_some(status);
                        assert_eq!(
                            last, expected,
                            "{before_passing}/{before_warning}/{before_critical}, {run} x {status:?}"
                        );
                    }
                    let mut threshold =
                        Threshold::new(before_passing, before_warning, before_critical);
                    threshold.filter(Passing);
                    let mut last = None;
                    for _ in 0..run {
                        last = threshold.filter(Critical);
                    }
                    let expected = if run >= before_critical {
                        Some(Critical)
                    } else if run >= warning_at {
                        Some(Warning)
                    } else {
                        None
                    };
                    assert_eq!(
                        last, expected,
                        "{before_passing}/{before_warning}/{before_critical}, {run} x Critical"
                    );
                }
            }
        }
    }
}
