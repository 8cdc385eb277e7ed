//! Backends: one supervised actor per configured MCP server.
//!
//! ```text
//! BackendActor (thread-local, on the backend I/O thread)
//! └── Driver task: Transport (Streamable HTTP via awc | stdio child) → handshake → health loop
//!                  └── publishes BackendStatus + tool cache to the StatusBoard (ArcSwap)
//! ```
//! Callers read the board; they never wait on an actor.

mod actor;
mod driver;
mod error;
mod http;
mod jsonrpc;
mod session;
mod status;
mod stdio;

pub use actor::{BackendActor, BackendArgs, BackendMsg};
pub use driver::OFFLINE_AFTER;
pub use error::{BackendError, SUPPORTED_PROTOCOL_VERSIONS};
pub use session::OFFERED_PROTOCOL_VERSION;
pub use status::{BackendState, BackendStatus, StatusBoard, ToolList};
