//! Rate limiting: GCRA buckets read and updated directly on the request path (no actor round
//! trip), and the `RateLimitActor` under the gateway supervisor that owns their configuration
//! (built from config, swapped on reload) and lifecycle (reaping idle keys).

pub(crate) mod actor;
mod gcra;
mod limiter;
mod settings;

pub use actor::REAP_INTERVAL;
pub use gcra::{Decision, KeyedGcra, Quota};
pub use limiter::{LimitKind, RateLimitStats, RateLimiter, Rejection};
pub use settings::{LimitOverride, OverrideLimit, OverrideSubject, RateLimitSettings, Subject};
