//! The integration test binary: real processes, real MCP servers (rmcp), no mocks.

mod backends;
mod fixture;
