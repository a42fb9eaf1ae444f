//! The model: one register, as Legate's KV store is for a single key.

use crate::history::{Input, Output};
use std::collections::HashMap;

/// Values are interned per key, so the state is a small integer; `0` is "no such key".
pub type State = u32;

/// An operation in interned form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Read(State),
    Write(State),
    /// `from` state, `to` state, and the answer (`None`: unknown).
    Cas {
        from: State,
        to: State,
        answer: Option<bool>,
    },
    /// A write of unknown outcome: applies when linearized.
    WriteUnknown(State),
}

impl Step {
    /// The state after this operation from `state`, or `None` if its answer could not have
    /// come from a register holding `state`.
    pub fn apply(self, state: State) -> Option<State> {
        match self {
            Step::Read(seen) => (seen == state).then_some(state),
            Step::Write(value) | Step::WriteUnknown(value) => Some(value),
            Step::Cas { from, to, answer } => {
                let holds = from == state;
                match answer {
                    Some(answer) if answer != holds => None,
                    _ => Some(if holds { to } else { state }),
                }
            }
        }
    }
}

/// Interns values of one key.
#[derive(Default)]
pub struct Interner {
    ids: HashMap<String, State>,
}

impl Interner {
    pub fn id(&mut self, value: Option<&String>) -> State {
        let Some(value) = value else { return 0 };
        let next = self.ids.len() as State + 1;
        *self.ids.entry(value.clone()).or_insert(next)
    }

    /// Turns an operation into a step; `None` for one that constrains nothing (a read of
    /// unknown outcome, or an answer that does not fit its request).
    pub fn step(&mut self, input: &Input, output: &Output) -> Option<Step> {
        match (input, output) {
            (Input::Read, Output::Read(value)) => Some(Step::Read(self.id(value.as_ref()))),
            (Input::Read, _) => None,
            (Input::Write(value), Output::Written) => Some(Step::Write(self.id(Some(value)))),
            (Input::Write(value), _) => Some(Step::WriteUnknown(self.id(Some(value)))),
            (Input::Cas { from, to }, output) => Some(Step::Cas {
                from: self.id(from.as_ref()),
                to: self.id(Some(to)),
                answer: match output {
                    Output::Cas(answer) => Some(*answer),
                    _ => None,
                },
            }),
        }
    }
}
