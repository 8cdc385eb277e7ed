//! Revocation, introspection, ID tokens, the machine and password grants, step-up.
