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
pub mod federation;
pub mod http;
pub mod idp_commands;
pub mod key_commands;
pub mod key_maintenance;
pub mod keys;
pub mod logging;
pub mod mail;
pub mod services;

pub use cli::{run, Cli, Command, Failure};
pub use http::{app, serve, AppState};

/// Makes aws-lc-rs the process-wide rustls provider, once. Every TLS use of
/// the process (reqwest to upstream providers, the TLS listener, lettre)
/// shares that one backend; reqwest is built without a provider of its own
/// (no `ring`), so any reqwest client needs this default to exist first.
pub fn install_tls_provider() {
    // Err only when a provider is already installed, which is fine.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
