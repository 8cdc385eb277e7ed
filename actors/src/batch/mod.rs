//! Batched writers: a bounded queue the request path fills without waiting, drained into the
//! database by an actor under GatewaySupervisor, a batch per transaction. The audit trail
//! (`AuditActor`) and the security events (`SecurityActor`) are the two.
//!
//! ```text
//! request path ──push (try_send)──▶ Queue ──▶ BatchActor<W> (interval tick, or a full batch)
//!               (full → dropped,               take ≤ batch_size → W::to_row each → one
//!                counted; never waits)         transaction → W::committed (live feed, file)
//! ```
//! The queue and its counters belong to the handle, not the actor: records keep queueing while
//! the actor is being restarted, and the new incarnation takes up where the old one stopped.

mod actor;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwapOption;
use futures_util::future::BoxFuture;
use ractor::{ActorCell, ActorRef, RpcReplyPort};
use tokio::sync::mpsc;

pub(crate) use actor::{BatchWriter, InsertFn, PruneFn, spawn};

/// What a batched writer's actor is asked to do.
pub enum BatchMsg {
    /// Write what is queued (the interval tick, or a full batch).
    Drain,
    /// Write everything queued and answer when committed.
    Flush(RpcReplyPort<()>),
    /// Apply retention (the interval tick).
    Prune,
    /// Apply retention now and say how many rows went.
    PruneNow(RpcReplyPort<u64>),
    /// Fail the actor (a helper task it owns died): the supervisor restarts it.
    Fail(String),
}

/// What a writer did since start; the handles turn these into their stats.
#[derive(Default)]
pub(crate) struct Counters {
    pub accepted: AtomicU64,
    pub written: AtomicU64,
    pub dropped: AtomicU64,
    pub batches: AtomicU64,
    pub pruned: AtomicU64,
    pub last_error: Mutex<Option<String>>,
}

impl Counters {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().map(|e| e.clone()).unwrap_or(None)
    }

    fn set_last_error(&self, error: Option<String>) {
        if let Ok(mut last) = self.last_error.lock() {
            *last = error;
        }
    }
}

/// The bounded queue between the request path and the writer actor, with the actor's address.
pub(crate) struct Queue<T> {
    tx: mpsc::Sender<T>,
    /// The receiving end; the running actor takes the lock while it reads.
    rx: tokio::sync::Mutex<mpsc::Receiver<T>>,
    batch_size: usize,
    /// Set when a full batch asked the actor to write; cleared when the actor starts writing.
    drain_asked: AtomicBool,
    actor: ArcSwapOption<ActorRef<BatchMsg>>,
    pub counters: Counters,
}

impl<T: Send + 'static> Queue<T> {
    pub fn new(capacity: usize, batch_size: usize) -> Queue<T> {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        Queue {
            tx,
            rx: tokio::sync::Mutex::new(rx),
            batch_size: batch_size.max(1),
            drain_asked: AtomicBool::new(false),
            actor: ArcSwapOption::empty(),
            counters: Counters::default(),
        }
    }

    /// Queues `item` without waiting; a full batch wakes the actor at once. A full queue
    /// refuses it and counts it: `Err` carries the dropped total (for rate-limited warnings).
    pub fn push(&self, item: T) -> Result<(), u64> {
        match self.tx.try_send(item) {
            Ok(()) => {
                self.counters.accepted.fetch_add(1, Ordering::Relaxed);
                if self.depth() >= self.batch_size as u64
                    && !self.drain_asked.swap(true, Ordering::AcqRel)
                    && let Some(actor) = self.actor.load().as_ref()
                {
                    let _ = actor.cast(BatchMsg::Drain);
                }
                Ok(())
            }
            Err(_) => Err(self.counters.dropped.fetch_add(1, Ordering::Relaxed) + 1),
        }
    }

    /// Items waiting now.
    pub fn depth(&self) -> u64 {
        (self.tx.max_capacity() - self.tx.capacity()) as u64
    }

    /// Up to `n` items, without waiting for more.
    async fn take(&self, n: usize) -> Vec<T> {
        let mut rx = self.rx.lock().await;
        let mut items = Vec::with_capacity(n.min(rx.len()));
        while items.len() < n {
            match rx.try_recv() {
                Ok(item) => items.push(item),
                Err(_) => break,
            }
        }
        items
    }

    /// Writes everything queued so far and returns when it is committed (or at once when the
    /// actor is down). For shutdown and tests; the request path never calls it.
    pub async fn flush(&self) {
        if let Some(actor) = self.actor.load_full() {
            let _ = actor.call(BatchMsg::Flush, None).await;
        }
    }

    /// Runs retention now; the rows pruned (0 while the actor is down).
    pub async fn prune_now(&self) -> u64 {
        let Some(actor) = self.actor.load_full() else {
            return 0;
        };
        match actor.call(BatchMsg::PruneNow, None).await {
            Ok(ractor::rpc::CallResult::Success(n)) => n,
            _ => 0,
        }
    }

    /// The running actor, `None` while it is being restarted.
    pub fn actor(&self) -> Option<Arc<ActorRef<BatchMsg>>> {
        self.actor.load_full()
    }

    fn set_actor(&self, actor: ActorRef<BatchMsg>) {
        self.actor.store(Some(Arc::new(actor)));
    }

    /// Marks the actor as down; items keep queueing meanwhile.
    pub fn withdraw(&self) {
        self.actor.store(None);
    }
}

/// What GatewaySupervisor needs of a batched writer's handle to (re)start its actor.
pub(crate) trait WriterHandle: Send + Sync {
    /// For log lines: "audit", "security".
    fn name(&self) -> &'static str;
    fn spawn(
        &self,
        supervisor: ActorCell,
    ) -> BoxFuture<'static, Result<ActorRef<BatchMsg>, ractor::SpawnErr>>;
    fn withdraw(&self);
}
