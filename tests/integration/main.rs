//! The one integration-test binary: an in-process harness (`TestGateway`) for the HTTP surface,
//! real-binary tests for signals and sd_notify, and real MCP peers (the rmcp fixture server).
//! No mocks.

mod admin_api;
mod admin_oauth_clients;
mod admin_users;
mod audit;
mod backend_credentials;
mod backend_oauth;
mod backend_oauth_admin;
mod backends;
mod binary;
mod console;
mod cors;
mod daemon;
mod external_idp;
mod fixture;
mod gateway_http;
mod get_stream;
mod harness;
mod http;
mod legacy_sse;
mod mcp_audit;
mod mcp_client;
mod mcp_endpoint;
mod mcp_rmcp_client;
mod metrics;
mod oauth_cimd;
mod oauth_flow;
mod oauth_metadata;
mod oauth_register;
mod policies;
mod post_stream_resume;
mod postgres;
mod rate_limits;
mod relay;
mod reload;
mod secrets_rotation;
mod security_events;
mod security_sources;
mod session_supervision;
mod sign_in_limits;
mod stdio_isolation;
mod tasks;
mod tokens;
mod upstream;
mod users;
