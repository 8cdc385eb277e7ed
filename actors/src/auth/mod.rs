//! The auth core: password hashing and policy, token issue and verification.

pub mod passwords;
