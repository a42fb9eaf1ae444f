//! Rule 2 of the crate doc: the Wing–Gong search with Lowe's memoisation, one key at a time.

use crate::history::Operation;
use crate::register::{Interner, State, Step};
use std::collections::{BTreeMap, HashSet};

/// The verdict on one key's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyVerdict {
    Linearizable,
    /// No order fits. `deepest` is the longest prefix of a linearization the search found
    /// (positions in the key's operations, in the order given to `check_key`): the first
    /// operation that could not follow it is where to look.
    NotLinearizable {
        deepest: Vec<usize>,
    },
    /// The budget ran out first (rule 5): neither a pass nor a failure.
    Undecided,
}

/// The verdicts on every key of a history.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub keys: BTreeMap<String, KeyVerdict>,
}

impl Report {
    /// Every key was shown linearizable.
    pub fn is_linearizable(&self) -> bool {
        self.keys
            .values()
            .all(|verdict| *verdict == KeyVerdict::Linearizable)
    }

    /// The keys shown not linearizable.
    pub fn violations(&self) -> impl Iterator<Item = (&String, &KeyVerdict)> {
        self.keys
            .iter()
            .filter(|(_, verdict)| matches!(verdict, KeyVerdict::NotLinearizable { .. }))
    }

    /// The keys whose search ran out of budget.
    pub fn undecided(&self) -> impl Iterator<Item = &String> {
        self.keys
            .iter()
            .filter(|(_, verdict)| **verdict == KeyVerdict::Undecided)
            .map(|(key, _)| key)
    }
}

/// Checks every key of `history` independently (rule 1), each with at most `budget` search
/// steps.
pub fn check(history: &[Operation], budget: u64) -> Report {
    let mut by_key: BTreeMap<&str, Vec<&Operation>> = BTreeMap::new();
    for operation in history {
        by_key.entry(&operation.key).or_default().push(operation);
    }
    Report {
        keys: by_key
            .into_iter()
            .map(|(key, operations)| (key.to_owned(), check_key(&operations, budget)))
            .collect(),
    }
}

/// The end of the event list.
const NIL: usize = usize::MAX;

#[derive(Clone, Copy)]
enum Event {
    /// The call of operation `op`; `ret` is the node of its return.
    Call {
        op: usize,
        ret: usize,
    },
    Return,
}

/// A doubly linked list of call and return events in time order; node 0 is the head.
struct Events {
    events: Vec<Event>,
    prev: Vec<usize>,
    next: Vec<usize>,
}

impl Events {
    fn new(calls: &[(u64, u64)]) -> Events {
        // (time, calls before returns at one instant, which makes them overlap: an order
        // that is allowed rather than one that is not, so no false alarm), op, is_return.
        let mut order: Vec<(u64, u8, usize)> = Vec::with_capacity(calls.len() * 2);
        for (op, (call, ret)) in calls.iter().enumerate() {
            order.push((*call, 0, op));
            order.push((*ret, 1, op));
        }
        order.sort_unstable();
        let nodes = order.len() + 1;
        let mut events = vec![Event::Return; nodes];
        let mut return_node = vec![0; calls.len()];
        for (position, (_, kind, op)) in order.iter().enumerate() {
            if *kind == 1 {
                return_node[*op] = position + 1;
            }
        }
        for (position, (_, kind, op)) in order.iter().enumerate() {
            if *kind == 0 {
                events[position + 1] = Event::Call {
                    op: *op,
                    ret: return_node[*op],
                };
            }
        }
        let prev = (0..nodes).map(|node| node.wrapping_sub(1)).collect();
        let next = (0..nodes)
            .map(|node| if node + 1 < nodes { node + 1 } else { NIL })
            .collect();
        Events { events, prev, next }
    }

    fn unlink(&mut self, node: usize) {
        let (prev, next) = (self.prev[node], self.next[node]);
        self.next[prev] = next;
        if next != NIL {
            self.prev[next] = prev;
        }
    }

    /// Puts back a node removed by `unlink`; nodes must come back in reverse order.
    fn relink(&mut self, node: usize) {
        let (prev, next) = (self.prev[node], self.next[node]);
        self.next[prev] = node;
        if next != NIL {
            self.prev[next] = node;
        }
    }

    fn first(&self) -> usize {
        self.next[0]
    }
}

/// Checks one key's operations (rules 2, 3 and 5).
pub fn check_key(operations: &[&Operation], budget: u64) -> KeyVerdict {
    let mut interner = Interner::default();
    let all: Vec<Option<Step>> = operations
        .iter()
        .map(|operation| interner.step(&operation.input, &operation.output))
        .collect();
    // The values some operation saw: read, or expected by a compare-and-set that succeeded
    // or failed knowingly.
    let observed: HashSet<State> = all
        .iter()
        .flatten()
        .filter_map(|step| match step {
            Step::Read(value) => Some(*value),
            Step::Cas {
                from,
                answer: Some(_),
                ..
            } => Some(*from),
            _ => None,
        })
        .collect();
    // The latest return of a compare-and-set that failed knowingly: it saw "not the value
    // expected", which an unknown write nobody read may be the cause of.
    let last_failed_cas = operations
        .iter()
        .zip(&all)
        .filter(|(_, step)| {
            matches!(
                step,
                Some(Step::Cas {
                    answer: Some(false),
                    ..
                })
            )
        })
        .filter_map(|(operation, _)| operation.ret)
        .max();
    // Positions in `operations` of the ones that constrain anything, with their steps.
    let mut kept = Vec::new();
    let mut steps = Vec::new();
    let mut times = Vec::new();
    for (position, step) in all.into_iter().enumerate() {
        let Some(step) = step else {
            continue;
        };
        // An operation of unknown outcome whose value nobody saw can always be placed after
        // everything else, where it changes nothing observed: leaving it out decides the
        // same, and spares the search a branch at every point after its call (the cost
        // that grows fastest when a fault times out many writes at once). Not when a failed
        // compare-and-set returned after its call: taking effect before that one, it may be
        // why the value was not the one expected.
        let explains_a_failed_cas =
            last_failed_cas.is_some_and(|ret| ret > operations[position].call);
        let unseen = match step {
            Step::WriteUnknown(value)
            | Step::Cas {
                to: value,
                answer: None,
                ..
            } => !observed.contains(&value) && !explains_a_failed_cas,
            _ => false,
        };
        if unseen {
            continue;
        }
        let operation = operations[position];
        // Rule 3: an unknown outcome may take effect at any later instant.
        let ret = match step {
            Step::WriteUnknown(_) | Step::Cas { answer: None, .. } => u64::MAX,
            _ => operation.ret.unwrap_or(u64::MAX),
        };
        kept.push(position);
        steps.push(step);
        times.push((operation.call, ret.max(operation.call)));
    }
    let mut events = Events::new(&times);
    let words = steps.len().div_ceil(64);
    let mut linearized = vec![0u64; words];
    let mut seen: HashSet<(Vec<u64>, State)> = HashSet::new();
    let mut state: State = 0;
    // (call node, state before it) for each operation linearized, in order.
    let mut stack: Vec<(usize, State)> = Vec::new();
    let mut deepest: Vec<usize> = Vec::new();
    let mut entry = events.first();
    let mut spent = 0u64;
    while events.first() != NIL {
        spent += 1;
        if spent > budget {
            return KeyVerdict::Undecided;
        }
        let call = if entry == NIL {
            None
        } else {
            match events.events[entry] {
                Event::Call { op, ret } => Some((op, ret)),
                Event::Return => None,
            }
        };
        match call {
            Some((op, ret)) => {
                if let Some(after) = steps[op].apply(state) {
                    linearized[op / 64] |= 1 << (op % 64);
                    if seen.insert((linearized.clone(), after)) {
                        stack.push((entry, state));
                        if stack.len() > deepest.len() {
                            deepest = stack
                                .iter()
                                .map(|(node, _)| match events.events[*node] {
                                    Event::Call { op, .. } => kept[op],
                                    Event::Return => unreachable!("only calls are stacked"),
                                })
                                .collect();
                        }
                        state = after;
                        events.unlink(entry);
                        events.unlink(ret);
                        entry = events.first();
                        continue;
                    }
                    linearized[op / 64] &= !(1 << (op % 64));
                }
                entry = events.next[entry];
            }
            // The return of an operation not linearized yet: nothing before it fits here.
            None => {
                let Some((node, before)) = stack.pop() else {
                    return KeyVerdict::NotLinearizable { deepest };
                };
                let Event::Call { op, ret } = events.events[node] else {
                    unreachable!("only calls are stacked");
                };
                state = before;
                linearized[op / 64] &= !(1 << (op % 64));
                events.relink(ret);
                events.relink(node);
                entry = events.next[node];
            }
        }
    }
    KeyVerdict::Linearizable
}
