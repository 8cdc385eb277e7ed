//! Attacks on the authorization server, one test each.
