//! The pure core of ZenoAuth: entities, value objects, ports (the traits that
//! adapters implement) and use cases that talk only to ports. No I/O, no
//! async runtime, no database or HTTP types, no wall clock: time and
//! randomness come in through the [`ports::Clock`] and
//! [`ports::RandomSource`] ports.

pub mod bootstrap;
pub mod email;
pub mod error;
pub mod federation;
pub mod ids;
pub mod keys;
pub mod mfa;
pub mod model;
pub mod oauth;
pub mod ports;
pub mod roles;
pub mod security;
pub mod testing;
pub mod users;
pub mod values;

pub use error::{Error, Result, ValidationError};
