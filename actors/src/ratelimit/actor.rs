//! `RateLimitActor`: owns the limits' configuration and the buckets' lifecycle. It applies new
//! settings on reload and reaps idle keys on an interval; it never sits on the request path
//! (handlers read and update [`RateLimiter`] directly). The limiter outlives the actor, so a
//! restart loses neither the limits in force nor anyone's spent allowance.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort};

use super::limiter::RateLimiter;
use super::settings::RateLimitSettings;

/// How often idle keys are forgotten: often enough that a stream of one-off clients cannot grow
/// the maps far, rare enough to cost nothing measurable.
pub const REAP_INTERVAL: Duration = Duration::from_secs(60);

pub(crate) enum RateLimitMsg {
    /// Reload: the new limits, in force once the reply is sent.
    Apply(RateLimitSettings, RpcReplyPort<()>),
    /// The interval timer's tick.
    Reap,
    /// Reap now and say how many keys went (operators' and tests' way to force a pass).
    ReapNow(RpcReplyPort<usize>),
    #[cfg(feature = "fault-injection")]
    Panic,
}

pub(crate) struct RateLimitArgs {
    pub limiter: Arc<RateLimiter>,
    pub reap_every: Duration,
    pub log: slog::Logger,
}

pub(crate) struct RateLimitState {
    limiter: Arc<RateLimiter>,
    timer: tokio::task::JoinHandle<()>,
    log: slog::Logger,
}

pub(crate) struct RateLimitActor;

impl RateLimitActor {
    pub(crate) async fn spawn(
        args: RateLimitArgs,
        supervisor: ActorCell,
    ) -> Result<ActorRef<RateLimitMsg>, ractor::SpawnErr> {
        let (actor, _join) = Actor::spawn_linked(None, RateLimitActor, args, supervisor).await?;
        Ok(actor)
    }
}

impl Actor for RateLimitActor {
    type Msg = RateLimitMsg;
    type State = RateLimitState;
    type Arguments = RateLimitArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: RateLimitArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let timer = myself.send_interval(args.reap_every, || RateLimitMsg::Reap);
        Ok(RateLimitState {
            limiter: args.limiter,
            timer,
            log: args.log,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            RateLimitMsg::Apply(settings, reply) => {
                slog::info!(state.log, "Rate limits applied.";
                    "mcp_per_user" => describe(settings.mcp),
                    "per_tool" => describe(settings.tool),
                    "backends" => settings.backends.len(),
                    "overrides" => settings.overrides.len());
                state.limiter.apply(settings);
                let _ = reply.send(());
            }
            RateLimitMsg::Reap => {
                let removed = state.limiter.reap_at(Instant::now());
                slog::debug!(state.log, "Idle rate-limit keys reaped."; "removed" => removed,
                    "tracked" => state.limiter.tracked_keys());
            }
            RateLimitMsg::ReapNow(reply) => {
                let _ = reply.send(state.limiter.reap_at(Instant::now()));
            }
            #[cfg(feature = "fault-injection")]
            RateLimitMsg::Panic => panic!("injected fault in the rate-limit actor"),
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.timer.abort();
        Ok(())
    }
}

fn describe(quota: Option<super::Quota>) -> String {
    match quota {
        Some(q) => format!("{}/{}s", q.max, q.window.as_secs()),
        None => "off".into(),
    }
}
