//! A linearizability checker for histories of a key-value store whose keys are registers.
//!
//! A fault-injection run records, for every operation a client sent, when it was sent, when
//! (and whether) it was answered, and what the answer was. The history is linearizable if
//! every operation can be given one instant between its call and its return such that the
//! answers are those of a single register per key applying the operations in that order.
//! That is the promise of Legate's default and `consistent` read modes, and of every write.
//!
//! Rules:
//! 1. Keys are checked independently (linearizability is compositional, as Porcupine uses):
//!    a history with many keys costs the sum of small searches, not one huge one.
//! 2. The search is Wing and Gong's, with Lowe's memoisation of (linearized set, state)
//!    pairs already explored: a depth-first walk over the calls in time order that
//!    linearizes a pending call when the model accepts its answer, and backtracks when it
//!    meets the return of a call it has not linearized.
//! 3. An operation of unknown outcome (a timeout, a 5xx answer, a dropped connection) may
//!    have taken effect at any instant after its call, even after the client gave up, or
//!    never: it gets no return (`ret: None`), so it can be linearized anywhere after its
//!    call, and linearizing it after everything else is the same as never. A read of
//!    unknown outcome constrains nothing and is dropped, and so is a write of unknown
//!    outcome whose value nobody read, unless a compare-and-set that failed returned after
//!    its call: that failure may be its only trace.
//! 4. A compare-and-set names the value it expects, not Consul's `ModifyIndex`: the client
//!    learns the index from a read that also gave it the value, and as long as every value
//!    written is unique (the harness writes unique values), "the index is still i" and "the
//!    value is still the one read at i" are the same thing.
//! 5. The search has a budget of steps per key. A key whose search runs out is reported as
//!    undecided, never as passing.

mod history;
mod register;
mod search;

pub use history::{Input, Operation, Output};
pub use search::{check, check_key, KeyVerdict, Report};
