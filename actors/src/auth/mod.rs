//! The auth core: password hashing and policy, token issue and verification, the identity
//! service that combines them with the users table, and the OAuth authorization server's client
//! side: the scope vocabulary, client metadata rules, the client registry and Client ID
//! Metadata Documents.

pub mod cimd;
pub mod client_metadata;
pub mod clients;
pub mod identity;
pub mod passwords;
pub mod scopes;
pub mod tokens;
