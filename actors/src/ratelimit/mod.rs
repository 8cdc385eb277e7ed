//! Rate limiting primitives read and updated directly on the request path (no actor round
//! trip). The rate-limit actor of a later issue owns their configuration and lifecycle; for now
//! the OAuth registration endpoint holds one limiter keyed by client IP.

mod gcra;

pub use gcra::{Decision, KeyedGcra, Quota};
