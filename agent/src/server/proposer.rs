//! Batches concurrent writes into one Raft entry.
//!
//! Each Raft entry costs an append, an fsync and an apply, and on this class of machine most
//! of that is thread hand-offs rather than work. Writes that arrive while earlier ones are in
//! flight wait in a queue; when a slot frees, everything waiting (up to a count and a size)
//! goes as one `Command::Batch` entry, and each writer gets its own result back. Under no
//! concurrency a write goes alone, so a single client pays no extra latency; under load the
//! batches grow by themselves.
//!
//! Every queue here is bounded: `QUEUE` writers may wait, `IN_FLIGHT` entries may be in
//! Raft at once, and a batch holds at most `MAX_COMMANDS` commands or about `MAX_BYTES`.

use super::raft::{RaftHandle, WriteError};
use legate_catalog::{Command, CommandResult, Outcome};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Semaphore};

/// Writers that may wait for a slot before new ones wait to enqueue.
const QUEUE: usize = 8192;
/// Raft entries in flight at once. Two keeps the log and the state machine both busy while
/// leaving room for the next batch to gather.
const IN_FLIGHT: usize = 2;
/// Commands per entry.
const MAX_COMMANDS: usize = 512;
/// Approximate bytes per entry, so a batch of large KV values stays a modest log entry.
const MAX_BYTES: usize = 1 << 20;
/// The longest a batch holds its slot. openraft 0.9 answers a write only when its entry is
/// applied or truncated; the entry of a deposed leader that a snapshot later overwrote is
/// neither, and without a bound its slot would be held for ever, and with both slots every
/// later write on this server. Past it the writers are told the outcome is unknown (callers
/// have given up by then anyway: `write_path`'s commit deadline is shorter).
const BATCH_DEADLINE: Duration = Duration::from_secs(15);

struct Proposal {
    command: Command,
    reply: oneshot::Sender<Result<CommandResult, WriteError>>,
}

#[derive(Clone)]
pub struct Proposer {
    queue: mpsc::Sender<Proposal>,
    /// Raft entries in flight, shared with the batching task.
    slots: Arc<Semaphore>,
    raft: RaftHandle,
}

impl Proposer {
    /// Starts the batching task; it ends when every `Proposer` clone is dropped.
    pub fn start(raft: RaftHandle) -> Proposer {
        let (queue, waiting) = mpsc::channel(QUEUE);
        let slots = Arc::new(Semaphore::new(IN_FLIGHT));
        tokio::spawn(run(raft.clone(), waiting, slots.clone()));
        Proposer { queue, slots, raft }
    }

    /// Proposes `command` and waits for its result, like `RaftHandle::write`.
    ///
    /// Fast path: when a slot is free and nobody is waiting, the write goes to Raft from
    /// here, sparing a lone writer two task hand-offs. Otherwise it queues and leaves with
    /// the next batch.
    pub async fn write(&self, command: Command) -> Result<CommandResult, WriteError> {
        if self.queue.capacity() == QUEUE {
            if let Ok(slot) = self.slots.clone().try_acquire_owned() {
                let result = self.raft.write(command).await;
                drop(slot);
                return result;
            }
        }
        let (reply, answer) = oneshot::channel();
        // Not queued: the batching task is gone, so the command never reached Raft.
        self.queue
            .send(Proposal { command, reply })
            .await
            .map_err(|_| WriteError::ShuttingDown)?;
        // Queued, then the reply was dropped: the batch may have been handed to Raft before
        // the task ended, so nobody can say whether it applied.
        answer.await.map_err(|_| WriteError::Indeterminate {
            reason: "the agent stopped before the write was answered".to_owned(),
        })?
    }
}

/// A rough size of a command in the log, for `MAX_BYTES`.
fn weight(command: &Command) -> usize {
    match command {
        Command::KvSet(set) => 64 + set.entry.key.len() + set.entry.value.len(),
        Command::KvDelete(delete) => 64 + delete.key.len(),
        _ => 1024,
    }
}

async fn run(raft: RaftHandle, mut waiting: mpsc::Receiver<Proposal>, slots: Arc<Semaphore>) {
    loop {
        // Take a slot before looking at the queue, so that writes gather while every slot is
        // busy and leave together.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = waiting.recv().await else {
            return;
        };
        let mut bytes = weight(&first.command);
        let mut batch = vec![first];
        while batch.len() < MAX_COMMANDS && bytes < MAX_BYTES {
            match waiting.try_recv() {
                Ok(next) => {
                    bytes += weight(&next.command);
                    batch.push(next);
                }
                Err(_) => break,
            }
        }
        let raft = raft.clone();
        tokio::spawn(async move {
            propose(&raft, batch).await;
            drop(slot);
        });
    }
}

/// `RaftHandle::write` within `BATCH_DEADLINE`.
async fn write_within_deadline(
    raft: &RaftHandle,
    command: Command,
) -> Result<CommandResult, WriteError> {
    tokio::time::timeout(BATCH_DEADLINE, raft.write(command))
        .await
        .unwrap_or_else(|_| {
            Err(WriteError::Indeterminate {
                reason: format!("not committed within {BATCH_DEADLINE:?}"),
            })
        })
}

async fn propose(raft: &RaftHandle, mut batch: Vec<Proposal>) {
    if batch.len() == 1 {
        let proposal = batch.pop().expect("one proposal");
        let _ = proposal
            .reply
            .send(write_within_deadline(raft, proposal.command).await);
        return;
    }
    let (commands, replies): (Vec<Command>, Vec<_>) = batch
        .into_iter()
        .map(|proposal| (proposal.command, proposal.reply))
        .unzip();
    let count = replies.len();
    match write_within_deadline(raft, Command::Batch(commands)).await {
        Ok(Ok(Outcome::Batch(results))) if results.len() == count => {
            for (reply, result) in replies.into_iter().zip(results) {
                let _ = reply.send(Ok(result));
            }
        }
        Ok(other) => {
            // The store always answers a batch with one result per command; anything else
            // is a bug. The entry was committed, so the writers must not be told their writes
            // failed cleanly: their outcome is unknown.
            let reason = format!("a batch of {count} was answered {other:?}");
            for reply in replies {
                let _ = reply.send(Err(WriteError::Indeterminate {
                    reason: reason.clone(),
                }));
            }
        }
        Err(error) => {
            for reply in replies {
                let _ = reply.send(Err(error.clone()));
            }
        }
    }
}
