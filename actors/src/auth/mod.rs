//! The auth core: password hashing and policy, token issue and verification, and the identity
//! service that combines them with the users table.

pub mod identity;
pub mod passwords;
pub mod tokens;
