//! The auth core: password hashing and policy, token issue and verification, and the identity
//! service that combines them with the users table, and the authorization policy engine.

pub mod identity;
pub mod passwords;
pub mod policy;
pub mod tokens;
