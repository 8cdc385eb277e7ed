//! The gateway's supervised runtime.
//!
//! ```text
//! GatewaySupervisor
//! └── BackendSupervisor ── BackendActor × N   (transport, session to the backend, health loop,
//!                                              capability cache)
//! ```
//! The request path forwards client messages to backends through [`upstream::Upstream`].
//! Plus the pieces the actors and the web crate share: validated specs, storage (diesel over
//! SQLite or PostgreSQL) and the auth core (passwords, tokens). This crate never imports actix-web.
#![forbid(unsafe_code)]

pub mod audit;
pub mod auth;
pub mod backend;
pub mod batch;
mod http_reuse;
pub mod mcp;
pub mod mcp_audit;
pub mod ratelimit;
pub mod registry;
pub mod routing;
pub mod secrets;
pub mod security;
pub mod session;
pub mod spec;
pub mod storage;
pub mod supervisor;
pub mod upstream;
