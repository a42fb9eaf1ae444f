//! Go's `api.Semaphore`: up to `limit` holders of the slots under a prefix.
//!
//! Each contender holds its own key `<prefix>/<session>` with its session; the `.lock` key
//! lists the holders and is only changed by check-and-set, so two contenders can never both
//! take the last slot. Holders whose session died (their contender key is no longer held)
//! are pruned by whoever updates the record next.

use super::semaphore_state::{contender_key, find_lock, holds, lock_key, prune_dead_holders};
use super::{LockError, Lost, LOCK_WAIT, SEMAPHORE_FLAG};
use legate_api::client::{Client, KvDeleteOptions, KvPutOptions, QueryOptions};
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub struct Semaphore {
    pub prefix: String,
    pub limit: usize,
    pub value: Vec<u8>,
    pub session: String,
    pub monitor_retries: u32,
}

/// A held slot.
pub struct Held {
    lost: Lost,
    monitor: JoinHandle<()>,
}

impl Held {
    pub fn lost(&self) -> Lost {
        self.lost.clone()
    }
}

impl Semaphore {
    fn flagged(cas: Option<u64>) -> KvPutOptions {
        KvPutOptions {
            flags: SEMAPHORE_FLAG,
            cas,
            ..KvPutOptions::default()
        }
    }

    /// Waits until a slot is held, `deadline` passes, or the session is `session_lost`.
    pub async fn acquire(
        &self,
        client: &Client,
        deadline: Option<Instant>,
        mut session_lost: Lost,
    ) -> Result<Held, LockError> {
        let contender = KvPutOptions {
            flags: SEMAPHORE_FLAG,
            acquire: Some(self.session.clone()),
            ..KvPutOptions::default()
        };
        let own_key = contender_key(&self.prefix, &self.session);
        if !client.kv_put(&own_key, &self.value, &contender).await? {
            return Err(LockError::Decode("failed to make contender entry".into()));
        }
        let attempt = async {
            let mut index = 0;
            loop {
                let options = QueryOptions {
                    index,
                    wait: Some(LOCK_WAIT),
                    ..QueryOptions::default()
                };
                let (pairs, meta) = client.kv_list(&self.prefix, &options).await?;
                let (mut lock, modify_index) = find_lock(&pairs, &self.prefix, self.limit)?;
                prune_dead_holders(&mut lock, &pairs, &self.prefix);
                if lock.holders.contains_key(&self.session) {
                    return Ok(());
                }
                if lock.holders.len() >= lock.limit {
                    index = meta.index;
                    continue;
                }
                lock.holders.insert(self.session.clone(), true);
                let record = serde_json::to_vec(&lock)
                    .map_err(|error| LockError::Decode(error.to_string()))?;
                let cas = Self::flagged(Some(modify_index));
                if client
                    .kv_put(&lock_key(&self.prefix), &record, &cas)
                    .await?
                {
                    return Ok(());
                }
                // Someone else changed the record first: read it again at once.
                index = 0;
            }
        };
        let outcome = super::bounded(attempt, deadline, &mut session_lost).await;
        if let Err(error) = outcome {
            let _ = client
                .kv_delete(&own_key, &KvDeleteOptions::default())
                .await;
            return Err(error);
        }
        let (client, prefix, session) = (client.clone(), self.prefix.clone(), self.session.clone());
        let (lost, monitor) = super::spawn_monitor(
            format!("semaphore {prefix}"),
            self.monitor_retries,
            session_lost,
            move |index| {
                let (client, prefix, session) = (client.clone(), prefix.clone(), session.clone());
                async move {
                    let options = QueryOptions {
                        index,
                        wait: Some(LOCK_WAIT),
                        consistent: true,
                        ..QueryOptions::default()
                    };
                    let (pairs, meta) = client.kv_list(&prefix, &options).await?;
                    Ok((holds(&pairs, &prefix, &session), meta.index))
                }
            },
        );
        Ok(Held { lost, monitor })
    }

    /// Gives the slot back: removes this session from the holders (by check-and-set) and
    /// deletes its contender key.
    pub async fn release(&self, client: &Client, held: Held) -> Result<(), LockError> {
        held.monitor.abort();
        loop {
            let (pairs, _) = client
                .kv_list(&self.prefix, &QueryOptions::default())
                .await?;
            let (mut lock, modify_index) = find_lock(&pairs, &self.prefix, self.limit)?;
            if lock.holders.remove(&self.session).is_none() {
                break;
            }
            let record =
                serde_json::to_vec(&lock).map_err(|error| LockError::Decode(error.to_string()))?;
            let cas = Self::flagged(Some(modify_index));
            if client
                .kv_put(&lock_key(&self.prefix), &record, &cas)
                .await?
            {
                break;
            }
        }
        let own_key = contender_key(&self.prefix, &self.session);
        client
            .kv_delete(&own_key, &KvDeleteOptions::default())
            .await?;
        Ok(())
    }
}
