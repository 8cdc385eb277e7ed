#![forbid(unsafe_code)]
//! Benchmark tools for authmcp-gateway: a fast Streamable HTTP MCP backend (`mcp-fast-backend`)
//! and a load generator in which every connection is one MCP client (`mcp-load`).
//!
//! Plain HTTP load tools cannot hold an MCP session per connection, and a gateway that answers
//! errors quickly must not look fast, so the client here initializes, keeps its `Mcp-Session-Id`
//! and counts non-2xx answers and JSON-RPC errors as failures. The backend is deliberately
//! minimal so that, in front of the gateway, it is never the bottleneck being measured.

pub mod client;
pub mod clock;
pub mod load;
pub mod message;
pub mod procstat;
pub mod server;
pub mod stats;
