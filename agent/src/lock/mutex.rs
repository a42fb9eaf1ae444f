//! Go's `api.Lock`: one holder of a key flagged `LOCK_FLAG`.
//!
//! Acquire: a blocking read of the key; a key with other flags is someone else's data
//! (`Conflict`); a held key is waited on (blocking on its index); a free one is taken with
//! `?acquire`. A refused acquire on a free key means a lock-delay is running, so it waits
//! `LOCK_RETRY` as the Go client does. Once held, a monitor reads the key with `?consistent`
//! blocking queries and signals the loss as soon as the key no longer names the session.

use super::LOCK_RETRY;
use super::{LockError, Lost, LOCK_FLAG, LOCK_WAIT};
use legate_api::client::{Client, KvDeleteOptions, KvPutOptions, QueryOptions};
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub struct Mutex {
    pub key: String,
    pub value: Vec<u8>,
    pub session: String,
    /// How many monitor errors in a row are tolerated before the lock counts as lost.
    pub monitor_retries: u32,
}

/// A held lock.
pub struct Held {
    lost: Lost,
    monitor: JoinHandle<()>,
    /// The key's `LockIndex` when this session took it: it rises with every new holder as
    /// long as the key exists (a deleted key starts again at 1).
    pub lock_index: u64,
    /// The key's `ModifyIndex` read back while this session held it: a Raft index, so it is
    /// strictly higher for every later holder, even across deletions of the key. This is
    /// the sequencer a protected resource should compare (rejecting any lower one).
    pub sequencer: u64,
}

impl Held {
    pub fn lost(&self) -> Lost {
        self.lost.clone()
    }
}

impl Mutex {
    fn entry(&self) -> KvPutOptions {
        KvPutOptions {
            flags: LOCK_FLAG,
            acquire: Some(self.session.clone()),
            ..KvPutOptions::default()
        }
    }

    /// Waits until the lock is held, `deadline` passes, or the session is `session_lost`.
    pub async fn acquire(
        &self,
        client: &Client,
        deadline: Option<Instant>,
        mut session_lost: Lost,
    ) -> Result<Held, LockError> {
        let attempt = async {
            let mut index = 0;
            loop {
                let options = QueryOptions {
                    index,
                    wait: Some(LOCK_WAIT),
                    ..QueryOptions::default()
                };
                let (pair, meta) = client.kv_get(&self.key, &options).await?;
                if let Some(pair) = &pair {
                    if pair.flags != LOCK_FLAG {
                        return Err(LockError::Conflict);
                    }
                    match pair.session.as_deref() {
                        Some(holder) if holder == self.session => return Ok(()),
                        Some(_) => {
                            index = meta.index;
                            continue;
                        }
                        None => {}
                    }
                }
                if client.kv_put(&self.key, &self.value, &self.entry()).await? {
                    return Ok(());
                }
                // Refused on a free key: another contender won the race (wait on it), or
                // a lock-delay runs (retry later, as the Go client does).
                let (pair, _) = client.kv_get(&self.key, &QueryOptions::default()).await?;
                if pair.is_some_and(|pair| pair.session.is_some()) {
                    index = 0;
                } else {
                    tokio::time::sleep(LOCK_RETRY).await;
                }
            }
        };
        super::bounded(attempt, deadline, &mut session_lost).await?;
        // The generation this session holds, read back consistently; if the key already
        // names another session, the lock was lost at once and the monitor reports it.
        let consistent = QueryOptions {
            consistent: true,
            ..QueryOptions::default()
        };
        let (lock_index, sequencer) = match client.kv_get(&self.key, &consistent).await? {
            (Some(pair), _) if pair.session.as_deref() == Some(self.session.as_str()) => {
                (pair.lock_index, pair.modify_index)
            }
            _ => (0, 0),
        };
        let (client, key, session) = (client.clone(), self.key.clone(), self.session.clone());
        let (lost, monitor) = super::spawn_monitor(
            format!("lock {key}"),
            self.monitor_retries,
            session_lost,
            move |index| {
                let (client, key, session) = (client.clone(), key.clone(), session.clone());
                async move {
                    let options = QueryOptions {
                        index,
                        wait: Some(LOCK_WAIT),
                        consistent: true,
                        ..QueryOptions::default()
                    };
                    let (pair, meta) = client.kv_get(&key, &options).await?;
                    let ours = pair.is_some_and(|pair| pair.session.as_deref() == Some(&session));
                    Ok((ours, meta.index))
                }
            },
        );
        Ok(Held {
            lost,
            monitor,
            lock_index,
            sequencer,
        })
    }

    /// Releases the lock (the key keeps its value), then deletes the key if nobody took it
    /// meanwhile, as the `consul lock` command's cleanup does.
    pub async fn release(&self, client: &Client, held: Held) -> Result<(), LockError> {
        held.monitor.abort();
        let release = KvPutOptions {
            flags: LOCK_FLAG,
            release: Some(self.session.clone()),
            ..KvPutOptions::default()
        };
        client.kv_put(&self.key, &self.value, &release).await?;
        let (pair, _) = client.kv_get(&self.key, &QueryOptions::default()).await?;
        if let Some(pair) = pair.filter(|pair| pair.session.is_none()) {
            let delete = KvDeleteOptions {
                cas: Some(pair.modify_index),
                ..KvDeleteOptions::default()
            };
            client.kv_delete(&self.key, &delete).await?;
        }
        Ok(())
    }
}
