//! The registry's errors. The web layer maps each variant to a status (400, 404, 409, 500, 503);
//! every message is a sentence an administrator can act on and never holds a credential.

use crate::secrets::SecretsError;
use crate::storage::StorageError;
use crate::supervisor::SupervisorError;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The request's values are wrong; one entry per problem (`field: reason`).
    #[error("invalid backend: {}", .0.join("; "))]
    Invalid(Vec<String>),

    /// The name is already used, by the config file or by another database backend.
    #[error("{0}")]
    NameTaken(String),

    /// Config-file backends cannot be changed through the API.
    #[error(
        "backend `{0}` is defined in the config file; edit the file and reload the gateway \
         (SIGHUP) to change or remove it"
    )]
    ReadOnly(String),

    #[error("{0}")]
    NotFound(String),

    /// Names defined both in the config file and in the database (reload or boot refused).
    #[error(
        "backend name(s) {} are defined both in the config file and in the database (admin API); \
         rename or remove one of each pair",
        .0.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
    )]
    Clash(Vec<String>),

    #[error(transparent)]
    Storage(#[from] StorageError),

    #[error(transparent)]
    Secrets(#[from] SecretsError),

    #[error(transparent)]
    Supervisor(#[from] SupervisorError),
}
