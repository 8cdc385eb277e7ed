//! Configuration: raw layers → validated [`GatewayConfig`] → diff on reload.

mod model;

pub use model::*;
