//! The watch plan: given each answer of a blocking query, whether the handler runs, and
//! which index the next query blocks on. Pure: answers in, decisions out.
//!
//! Rules (Consul's `api/watch/plan.go` with `WaitIndexVal`):
//! 1. The first answer always fires, whatever it holds (`null`, `[]`).
//! 2. An answer whose index equals the last one is skipped (the wait ran out, or a write
//!    changed nothing this query sees).
//! 3. An answer with a new index fires only if its result differs from the last fired one;
//!    either way the next query blocks on the new index.
//! 4. An index that went backwards (a snapshot restore, a stale read on another server)
//!    makes the next query ask with index 0, so it answers at once and the watch catches up.
//!    This applies to ordered indexes only: an event list's index is a folded random ID,
//!    whose "backwards" means nothing (Consul applies the reset there too, and then fires
//!    its event watches again with every buffered event; Legate does not).
//! 5. A failed query is retried after 5 s × failures², at most 180 s; the answer after a
//!    failure fires (rule 1 again), as the watch may have missed anything meanwhile.

use std::time::Duration;

/// Consul's `retryInterval` and `maxBackoffTime`.
const RETRY_BASE: Duration = Duration::from_secs(5);
const RETRY_MAX: Duration = Duration::from_secs(180);

/// Whether the index a query answers is ordered (Raft indexes) or not (event IDs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexOrder {
    Ordered,
    Unordered,
}

/// What to do with an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Run the handler with this answer.
    Fire,
    /// Nothing changed that the handler should see.
    Skip,
}

#[derive(Clone, Debug)]
pub struct Plan {
    order: IndexOrder,
    /// The index the next query sends; `None` before the first answer and after a failure.
    wait_index: Option<u64>,
    /// The last result the handler saw, as JSON text (the same value always writes the
    /// same text: fields in declaration order, maps sorted).
    last_result: Option<String>,
    failures: u32,
}

impl Plan {
    pub fn new(order: IndexOrder) -> Plan {
        Plan {
            order,
            wait_index: None,
            last_result: None,
            failures: 0,
        }
    }

    /// The `index` the next blocking query sends (0: answer at once).
    pub fn wait_index(&self) -> u64 {
        self.wait_index.unwrap_or(0)
    }

    /// Rules 1–4 for an answer at `index` with `result`.
    pub fn observe(&mut self, index: u64, result: String) -> Step {
        self.failures = 0;
        let previous = self.wait_index;
        if previous == Some(index) {
            return Step::Skip;
        }
        let went_back = previous.is_some_and(|previous| previous > index);
        self.wait_index = Some(if went_back && self.order == IndexOrder::Ordered {
            0
        } else {
            index
        });
        if previous.is_some() && self.last_result.as_ref() == Some(&result) {
            return Step::Skip;
        }
        self.last_result = Some(result);
        Step::Fire
    }

    /// Rule 5: a query failed; how long to wait before the next.
    pub fn failed(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        self.wait_index = None;
        let squared = self.failures.saturating_mul(self.failures);
        RETRY_BASE.saturating_mul(squared).min(RETRY_MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(text: &str) -> String {
        text.to_owned()
    }

    #[test]
    fn the_first_answer_fires_then_only_changes_do() {
        let mut plan = Plan::new(IndexOrder::Ordered);
        assert_eq!(plan.wait_index(), 0);
        assert_eq!(plan.observe(5, r("null")), Step::Fire, "rule 1, even null");
        assert_eq!(plan.wait_index(), 5);
        assert_eq!(plan.observe(5, r("null")), Step::Skip, "rule 2: timed out");
        assert_eq!(
            plan.observe(9, r("null")),
            Step::Skip,
            "rule 3: same result"
        );
        assert_eq!(plan.wait_index(), 9, "but the index moves on");
        assert_eq!(plan.observe(12, r("v2")), Step::Fire);
        assert_eq!(plan.observe(12, r("v2")), Step::Skip);
        assert_eq!(plan.observe(13, r("v3")), Step::Fire);
    }

    #[test]
    fn an_index_that_goes_backwards_resets_to_zero() {
        let mut plan = Plan::new(IndexOrder::Ordered);
        plan.observe(100, r("1"));
        assert_eq!(
            plan.observe(40, r("1")),
            Step::Skip,
            "same data after a restore"
        );
        assert_eq!(plan.wait_index(), 0, "rule 4: ask again at once");
        assert_eq!(plan.observe(40, r("1")), Step::Skip);
        assert_eq!(plan.wait_index(), 40);
        plan.observe(30, r("2"));
        assert_eq!(plan.wait_index(), 0);
        assert_eq!(plan.observe(31, r("3")), Step::Fire, "changed data fires");
        assert_eq!(plan.wait_index(), 31);
    }

    #[test]
    fn unordered_indexes_never_reset() {
        let mut plan = Plan::new(IndexOrder::Unordered);
        plan.observe(u64::MAX - 1, r("[1]"));
        assert_eq!(plan.observe(7, r("[2]")), Step::Fire);
        assert_eq!(plan.wait_index(), 7, "a random ID index is no step back");
    }

    #[test]
    fn failures_back_off_and_the_next_answer_fires() {
        let mut plan = Plan::new(IndexOrder::Ordered);
        plan.observe(3, r("same"));
        assert_eq!(plan.failed(), Duration::from_secs(5));
        assert_eq!(plan.failed(), Duration::from_secs(20));
        assert_eq!(plan.failed(), Duration::from_secs(45));
        assert_eq!(plan.wait_index(), 0);
        for _ in 0..10 {
            plan.failed();
        }
        assert_eq!(plan.failed(), Duration::from_secs(180), "capped");
        assert_eq!(plan.observe(3, r("same")), Step::Fire, "rule 5");
        assert_eq!(plan.failed(), Duration::from_secs(5), "the count restarts");
    }
}
