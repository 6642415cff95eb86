//! ZenoAuth's server: the one crate that knows HTTP, JSON wire shapes,
//! OpenAPI, configuration and process life. It loads and validates the
//! [`config::Config`], opens the database the configuration names
//! ([`database::Database`]), builds the crypto and store adapters once, wires
//! them into the domain's use cases, and serves the axum router ([`http::app`])
//! with its middleware until SIGTERM/SIGINT. It holds the production wall
//! clock ([`clock::SystemClock`]). Business rules live in `zenoauth-domain`,
//! never here.

pub mod admin_commands;
pub mod audit_pipeline;
pub mod cli;
pub mod clock;
pub mod config;
pub mod database;
pub mod http;
pub mod key_commands;
pub mod key_maintenance;
pub mod keys;
pub mod logging;
pub mod mail;
pub mod services;

pub use cli::{run, Cli, Command, Failure};
pub use http::{app, serve, AppState};
