//! The MCP message layer of the request path: a minimal JSON-RPC envelope read straight from the
//! request bytes, and the few rewrites a gateway must make (ids, names, cursors).
//!
//! Nothing here re-serialises a message through typed models: payloads stay `RawValue`s, so big
//! integers, key order and unknown fields reach the other side exactly as sent.

pub mod envelope;
pub mod errors;
pub mod headers;
pub mod json;
pub mod versions;

pub use envelope::{Envelope, Incoming, Kind, ParseFailure};
pub use errors::ErrorCode;
