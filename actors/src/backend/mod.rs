//! Backends: one supervised actor per configured MCP server.
//!
//! ```text
//! BackendActor (thread-local, on the backend I/O thread)
//! └── Driver task: Transport (Streamable HTTP | legacy HTTP+SSE via awc | stdio child)
//!     │            → handshake → health loop
//!     │            └── publishes BackendStatus + capability cache to the StatusBoard (ArcSwap)
//!     └── stdio forwarding loop: requests from `crate::upstream` → the shared child
//!         └── per-session children (`isolation = "per-session"`), one task each
//! ```
//! Callers read the board; they never wait on an actor. Forwarded stdio requests take one
//! channel hop to this thread; HTTP requests go straight from the caller to the backend.

mod actor;
mod capabilities;
pub mod credential;
mod driver;
mod error;
pub(crate) mod forwarding;
mod http;
pub(crate) mod jsonrpc;
pub(crate) mod legacy_sse;
mod probe;
mod session;
pub(crate) mod session_children;
mod sse;
mod status;
mod stdio;

pub use actor::{BackendActor, BackendArgs, BackendMsg};
pub use capabilities::{BackendCapabilities, CAPABILITY_TTL};
pub use credential::{
    Credential, CredentialStatsSnapshot, PersistedTokens, TokenState, TokenStatus,
};
pub use driver::OFFLINE_AFTER;
pub use error::{BackendError, SUPPORTED_PROTOCOL_VERSIONS};
pub(crate) use jsonrpc::SseParser;
pub use probe::{ProbeReport, probe};
pub use session::OFFERED_PROTOCOL_VERSION;
pub use status::{BackendState, BackendStatus, StatusBoard, ToolList};
