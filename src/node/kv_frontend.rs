//! KV requests as a shard sees them: reads go to the owning shard (locally when it is us),
//! lists scatter to every shard and merge, writes go to the Raft core.

use std::time::Duration;

use tokio::sync::oneshot;

use crate::error::ApiError;
use crate::kv::{shard_of, DirEntry};
use crate::mesh::{RaftInput, ShardMsg};
use crate::node::ctx::ShardCtx;
use crate::state::Command;
use crate::state::{KvAnswer, KvQuery, WriteOutcome};

/// Another core's inbox or the proposal queue was full; the HTTP layer answers 503.
#[derive(Debug)]
pub struct Busy;

impl From<Busy> for ApiError {
    fn from(_: Busy) -> ApiError {
        ApiError::RateLimited
    }
}

/// A read result with the index Consul reports for it (`X-Consul-Index`).
pub struct Indexed<T> {
    pub value: T,
    pub index: u64,
}

impl ShardCtx {
    async fn query(&self, shard: usize, query: KvQuery) -> Result<KvAnswer, Busy> {
        if shard == self.id {
            self.catch_up();
            self.until_thawed().await;
            return Ok(self.answer(&query));
        }
        let (tx, rx) = oneshot::channel();
        self.mesh.shards[shard]
            .try_send(ShardMsg::Query { query, reply: tx })
            .map_err(|_| Busy)?;
        rx.await.map_err(|_| Busy)
    }

    async fn query_all(&self, query: KvQuery) -> Result<Vec<KvAnswer>, Busy> {
        // Send to every other shard first so they work while we answer our own part.
        let mut remote = Vec::new();
        for shard in (0..self.mesh.shards.len()).filter(|&s| s != self.id) {
            let (tx, rx) = oneshot::channel();
            let msg = ShardMsg::Query {
                query: query.clone(),
                reply: tx,
            };
            self.mesh.shards[shard].try_send(msg).map_err(|_| Busy)?;
            remote.push(rx);
        }
        self.catch_up();
        self.until_thawed().await;
        let mut answers = vec![self.answer(&query)];
        for rx in remote {
            answers.push(rx.await.map_err(|_| Busy)?);
        }
        Ok(answers)
    }

    /// Highest index of the whole KV table (entries and tombstones), at least 1.
    async fn kv_table_index(&self) -> Result<u64, Busy> {
        let answers = self.query_all(KvQuery::IndexMax).await?;
        Ok(answers.iter().map(|a| a.partition_index).max().unwrap_or(0))
    }

    /// One key: the entry and its `ModifyIndex`, or `None` and the table index.
    pub async fn kv_get(&self, key: &str) -> Result<Indexed<Option<DirEntry>>, Busy> {
        let owner = shard_of(key, self.mesh.shards.len());
        let mut answer = self
            .query(
                owner,
                KvQuery::Get {
                    key: key.to_string(),
                },
            )
            .await?;
        match answer.entries.pop() {
            Some(entry) => Ok(Indexed {
                index: entry.modify_index,
                value: Some(entry),
            }),
            None => Ok(Indexed {
                value: None,
                index: self.kv_table_index().await?,
            }),
        }
    }

    /// Until when `key` may not be acquired (ms, this server's clock), 0 when it may: asked
    /// of the key's owner, which armed it when the key's holder died.
    pub async fn kv_lock_delay(&self, key: &str, now_ms: u64) -> Result<u64, Busy> {
        let owner = shard_of(key, self.mesh.shards.len());
        let key = key.to_string();
        let answer = self
            .query(owner, KvQuery::LockDelay { key, now_ms })
            .await?;
        Ok(answer.lock_delay_until)
    }

    /// Every entry under `prefix` in key order. Index as Consul's `kvsListTxn`: the highest
    /// index among matching entries and tombstones, else (or for the empty prefix) the table's.
    pub async fn kv_list(&self, prefix: &str) -> Result<Indexed<Vec<DirEntry>>, Busy> {
        let answers = self
            .query_all(KvQuery::List {
                prefix: prefix.to_string(),
            })
            .await?;
        let index = list_index(prefix, &answers);
        let mut entries: Vec<DirEntry> = answers.into_iter().flat_map(|a| a.entries).collect();
        entries.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        Ok(Indexed {
            value: entries,
            index,
        })
    }

    /// Keys under `prefix`, rolled up at `separator`, in key order without duplicates.
    pub async fn kv_keys(
        &self,
        prefix: &str,
        separator: &str,
    ) -> Result<Indexed<Vec<String>>, Busy> {
        let query = KvQuery::Keys {
            prefix: prefix.to_string(),
            separator: separator.to_string(),
        };
        let answers = self.query_all(query).await?;
        let index = list_index(prefix, &answers);
        let mut keys: Vec<String> = answers.into_iter().flat_map(|a| a.keys).collect();
        keys.sort_unstable();
        keys.dedup();
        Ok(Indexed { value: keys, index })
    }

    /// Proposes `cmd` and waits until it is durable and applied by its owner(s).
    pub async fn write(&self, cmd: Command) -> WriteOutcome {
        let (tx, rx) = oneshot::channel();
        if self
            .mesh
            .raft
            .try_send(RaftInput::Propose { cmd, reply: tx })
            .is_err()
        {
            return WriteOutcome::Failed(ApiError::RateLimited);
        }
        rx.await
            .unwrap_or_else(|_| WriteOutcome::Failed(ApiError::NoLeader))
    }

    /// Runs `read` until its index exceeds `min_index` or `wait` passes (Consul's blocking
    /// query). Woken by every commit; spurious wake-ups just re-run the read.
    pub async fn block_on<T, F, Fut>(
        &self,
        min_index: u64,
        wait: Duration,
        mut read: F,
    ) -> Result<Indexed<T>, Busy>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Indexed<T>, Busy>>,
    {
        if min_index == 0 {
            // Not a blocking read: no waiter registered with `changed` only to be dropped.
            return read().await;
        }
        let deadline = tokio::time::Instant::now() + wait;
        // One timer for the whole wait, not one per wake-up: a change wakes every watcher of
        // the shard, and most of them go back to waiting.
        let timeout = tokio::time::sleep_until(deadline);
        tokio::pin!(timeout);
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let result = read().await?;
            if result.index > min_index || tokio::time::Instant::now() >= deadline {
                return Ok(result);
            }
            tokio::select! {
                _ = &mut changed => {}
                _ = &mut timeout => {}
            }
        }
    }
}

fn list_index(prefix: &str, answers: &[KvAnswer]) -> u64 {
    let table = answers.iter().map(|a| a.partition_index).max().unwrap_or(0);
    let matching = answers.iter().map(|a| a.index).max().unwrap_or(0);
    if prefix.is_empty() || matching == 0 {
        table
    } else {
        matching
    }
}
