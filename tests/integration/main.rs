//! The one integration-test binary: an in-process harness (`TestGateway`) for the HTTP surface,
//! real-binary tests for signals and sd_notify, and real MCP peers (the rmcp fixture server).

mod binary;
mod daemon;
mod fixture_paths;
mod gateway_http;
mod harness;
mod http;
mod users;
