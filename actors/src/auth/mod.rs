//! The auth core: password hashing and policy, signing keys, access tokens, opaque tokens
//! (refresh and API tokens), the revocation snapshot, the identity service that combines
//! them with the users and token tables, the authorization policy engine, and the OAuth
//! authorization server's client side: the scope vocabulary, client metadata rules, the
//! client registry and Client ID Metadata Documents; and its grants (`authorization`: codes,
//! consent, the token endpoint's grant types, revocation, introspection, ID tokens).

pub mod api_tokens;
pub mod authorization;
pub mod cimd;
pub mod client_metadata;
pub mod clients;
pub mod external;
pub mod identity;
pub mod keys;
pub mod opaque;
pub mod passwords;
pub mod policy;
pub mod revocation;
pub mod scopes;
pub mod snapshot;
pub mod tokens;
mod verified;
