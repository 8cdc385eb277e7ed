//! `BatchActor<W>`: the one batching loop. Drains `W`'s queue in batches (on the interval
//! tick, when a full batch is queued, on flush), turns each item into a row (`W::to_row`:
//! numbering, chaining), commits each batch in one transaction, hands committed rows to
//! `W::committed` (live feed, file) and applies retention every ten minutes and at start.
//!
//! A batch that fails to commit is kept and retried before anything new is read when
//! `W::RETRY_FAILED` (the queue then fills and overflow is counted, rather than rows
//! vanishing); otherwise it is dropped and counted. Stopping writes everything queued first.

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef};

use super::{BatchMsg, Queue};
use crate::storage::{Database, DbConn, StorageError};

/// How often retention runs (and once at start).
const PRUNE_INTERVAL: Duration = Duration::from_secs(600);

/// Inserts a batch of rows in one transaction.
pub(crate) type InsertFn<R> = fn(&mut DbConn, &[R]) -> Result<(), StorageError>;
/// Deletes rows older than a time (unix ms) and beyond a row count; how many went.
pub(crate) type PruneFn = fn(&mut DbConn, Option<i64>, Option<i64>) -> Result<usize, StorageError>;

/// A table written in batches; its state is the actor's state.
pub(crate) trait BatchWriter: Sized + Send + Sync + 'static {
    type Item: Send + 'static;
    type Row: Clone + Send + Sync + 'static;
    type Args: Send + 'static;
    /// For log lines: "audit records", "security events".
    const WHAT: &'static str;
    /// Keep a batch that failed to commit and retry it (same rows), or drop it (counted).
    const RETRY_FAILED: bool;
    const INSERT: InsertFn<Self::Row>;
    const PRUNE: PruneFn;

    /// Reads what the writer continues from (next id, chain head) and starts its helpers.
    fn start(
        args: Self::Args,
        myself: &ActorRef<BatchMsg>,
    ) -> impl Future<Output = Result<Self, ActorProcessingErr>> + Send;
    fn queue(&self) -> &Queue<Self::Item>;
    fn db(&self) -> &Database;
    fn log(&self) -> &slog::Logger;
    fn batch_size(&self) -> usize;
    fn flush_interval(&self) -> Duration;
    /// Rows older than this go; at most this many rows are kept (`None`: no bound).
    fn retention(&self) -> (Option<Duration>, Option<u64>);
    fn to_row(&mut self, item: Self::Item) -> Self::Row;
    /// After a commit: publish the rows (live feed, file).
    fn committed(&mut self, rows: Vec<Self::Row>);
}

/// Spawns a `BatchActor<W>` (linked to `supervisor` when given) and makes it the queue's actor.
pub(crate) async fn spawn<W: BatchWriter>(
    args: W::Args,
    queue: &Queue<W::Item>,
    supervisor: Option<ActorCell>,
) -> Result<ActorRef<BatchMsg>, ractor::SpawnErr> {
    let actor = BatchActor::<W>(PhantomData);
    let (actor, _join) = match supervisor {
        Some(supervisor) => Actor::spawn_linked(None, actor, args, supervisor).await?,
        None => Actor::spawn(None, actor, args).await?,
    };
    queue.set_actor(actor.clone());
    Ok(actor)
}

pub(crate) struct BatchActor<W>(PhantomData<fn() -> W>);

pub(crate) struct BatchState<W: BatchWriter> {
    writer: W,
    /// A batch that could not be committed; retried before anything new is read.
    pending: Vec<W::Row>,
}

impl<W: BatchWriter> Actor for BatchActor<W> {
    type Msg = BatchMsg;
    type State = BatchState<W>;
    type Arguments = W::Args;

    async fn pre_start(
        &self,
        myself: ActorRef<BatchMsg>,
        args: W::Args,
    ) -> Result<Self::State, ActorProcessingErr> {
        let writer = W::start(args, &myself).await?;
        myself.send_interval(writer.flush_interval(), || BatchMsg::Drain);
        myself.send_interval(PRUNE_INTERVAL, || BatchMsg::Prune);
        let _ = myself.cast(BatchMsg::Prune);
        Ok(BatchState {
            writer,
            pending: Vec::new(),
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<BatchMsg>,
        message: BatchMsg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            BatchMsg::Drain => state.drain(false).await,
            BatchMsg::Flush(reply) => {
                state.drain(true).await;
                let _ = reply.send(());
            }
            BatchMsg::Prune => {
                state.prune().await;
            }
            BatchMsg::PruneNow(reply) => {
                let n = state.prune().await;
                let _ = reply.send(n);
            }
            BatchMsg::Fail(why) => return Err(why.into()),
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<BatchMsg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // Shutdown: everything accepted so far reaches the database before the process exits.
        state.drain(true).await;
        let queue = state.writer.queue();
        let unwritten = queue.depth() + state.pending.len() as u64;
        slog::info!(state.writer.log(), "Batched writer stopped."; "what" => W::WHAT,
            "written" => super::Counters::get(&queue.counters.written),
            "dropped" => super::Counters::get(&queue.counters.dropped), "unwritten" => unwritten);
        Ok(())
    }
}

impl<W: BatchWriter> BatchState<W> {
    /// Writes batches until the queue is empty. `everything` (flush, stop): a failed commit is
    /// retried a few times at once instead of waiting for the next tick.
    async fn drain(&mut self, everything: bool) {
        self.writer
            .queue()
            .drain_asked
            .store(false, Ordering::Release);
        let batch_size = self.writer.batch_size().max(1);
        let mut attempts_left = if everything { 3 } else { 1 };
        loop {
            if self.pending.is_empty() {
                let items = self.writer.queue().take(batch_size).await;
                if items.is_empty() {
                    return;
                }
                self.pending = items.into_iter().map(|i| self.writer.to_row(i)).collect();
            }
            if !self.commit().await {
                attempts_left -= 1;
                if attempts_left == 0 {
                    return;
                }
            }
        }
    }

    /// Commits `pending`; true when it went in.
    async fn commit(&mut self) -> bool {
        let rows = Arc::new(std::mem::take(&mut self.pending));
        let to_write = rows.clone();
        let result = self
            .writer
            .db()
            .run(move |conn| W::INSERT(conn, &to_write))
            .await;
        let rows = Arc::try_unwrap(rows).unwrap_or_else(|shared| (*shared).clone());
        let counters = &self.writer.queue().counters;
        match result {
            Ok(()) => {
                counters
                    .written
                    .fetch_add(rows.len() as u64, Ordering::Relaxed);
                counters.batches.fetch_add(1, Ordering::Relaxed);
                counters.set_last_error(None);
                self.writer.committed(rows);
                true
            }
            Err(error) => {
                counters.set_last_error(Some(error.to_string()));
                if W::RETRY_FAILED {
                    slog::error!(self.writer.log(), "Could not write a batch; retrying."; "what" => W::WHAT,
                        "error" => %error, "rows" => rows.len());
                    self.pending = rows;
                } else {
                    slog::error!(self.writer.log(), "Could not write a batch; dropped."; "what" => W::WHAT,
                        "error" => %error, "rows" => rows.len());
                    counters
                        .dropped
                        .fetch_add(rows.len() as u64, Ordering::Relaxed);
                }
                false
            }
        }
    }

    async fn prune(&mut self) -> u64 {
        let (age, max_rows) = self.writer.retention();
        let older_than = age.map(|age| crate::audit::now_ms() - age.as_millis() as i64);
        let keep = max_rows.map(|n| n as i64);
        if older_than.is_none() && keep.is_none() {
            return 0;
        }
        match self
            .writer
            .db()
            .run(move |conn| W::PRUNE(conn, older_than, keep))
            .await
        {
            Ok(n) => {
                if n > 0 {
                    slog::info!(self.writer.log(), "Pruned old rows."; "what" => W::WHAT, "rows" => n);
                }
                self.writer
                    .queue()
                    .counters
                    .pruned
                    .fetch_add(n as u64, Ordering::Relaxed);
                n as u64
            }
            Err(error) => {
                slog::error!(self.writer.log(), "Could not prune old rows."; "what" => W::WHAT, "error" => %error);
                0
            }
        }
    }
}
