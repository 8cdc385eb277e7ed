//! The auth core: password hashing and policy, signing keys, access tokens, opaque tokens
//! (refresh and API tokens), the revocation snapshot, and the identity service that combines
//! them with the users and token tables; and the authorization policy engine.

pub mod api_tokens;
pub mod external;
pub mod identity;
pub mod keys;
pub mod opaque;
pub mod passwords;
pub mod policy;
pub mod revocation;
pub mod snapshot;
pub mod tokens;
