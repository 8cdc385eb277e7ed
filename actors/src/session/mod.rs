//! Client sessions (legacy era): the SessionActor and the store it writes.

mod actor;
mod store;

pub use actor::{NewSession, SessionActor, SessionError, SessionHandle, SessionLimits};
pub use store::{ClientSession, InFlight, LookupError, SessionScope, SessionStore};

#[cfg(test)]
mod tests;
