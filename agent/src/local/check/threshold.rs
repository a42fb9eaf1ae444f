//! The status filter between a check's runs and its reported status: Consul's
//! `StatusHandler` (`agent/checks/check.go`), which applies `success_before_passing`,
//! `failures_before_warning` and `failures_before_critical`.
//!
//! Rules:
//! 1. A passing or warning result counts as a success: it resets the failure count and is
//!    reported, as it is, once `successes >= success_before_passing`.
//! 2. A critical result counts as a failure: it resets the success count and is reported as
//!    critical once `failures >= failures_before_critical`, else as warning once
//!    `failures >= failures_before_warning`, else not at all.
//! 3. `failures_before_warning` of zero means "the same as `failures_before_critical`"
//!    (Consul's agent sets this default before it builds the handler).
//! 4. Both counts start at their thresholds, so the first result after a start is reported
//!    whatever it is; the thresholds only delay *changes* of status.

use legate_api::local::CheckSpec;
use legate_catalog::Health;

/// The counters of one check. Pure: the runner feeds it each result and reports what it
/// returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Threshold {
    success_before_passing: u32,
    failures_before_warning: u32,
    failures_before_critical: u32,
    successes: u32,
    failures: u32,
}

impl Threshold {
    pub fn new(
        success_before_passing: u32,
        failures_before_warning: u32,
        failures_before_critical: u32,
    ) -> Self {
        let failures_before_warning = if failures_before_warning == 0 {
            failures_before_critical
        } else {
            failures_before_warning
        };
        Threshold {
            success_before_passing,
            failures_before_warning,
            failures_before_critical,
            // Rule 4: Consul starts the counters at the thresholds so that the first run
            // replaces the initial status at once.
            successes: success_before_passing,
            failures: failures_before_critical,
        }
    }

    pub fn for_spec(spec: &CheckSpec) -> Self {
        Threshold::new(
            spec.success_before_passing,
            spec.failures_before_warning,
            spec.failures_before_critical,
        )
    }

    /// Counts one result and returns the status to report, if any.
    pub fn filter(&mut self, status: Health) -> Option<Health> {
        match status {
            Health::Passing | Health::Warning => {
                self.successes = self.successes.saturating_add(1);
                self.failures = 0;
                (self.successes >= self.success_before_passing).then_some(status)
            }
            Health::Critical => {
                self.failures = self.failures.saturating_add(1);
                self.successes = 0;
                if self.failures >= self.failures_before_critical {
                    Some(Health::Critical)
                } else if self.failures >= self.failures_before_warning {
                    Some(Health::Warning)
                } else {
                    None
                }
            }
        }
    }
}
