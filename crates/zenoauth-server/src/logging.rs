//! Log output: `tracing` events to stdout, JSON when stdout is not a terminal
//! (or when asked), human-readable text otherwise. Request spans carry the
//! request id, so every line logged while serving a request names it.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Installs the global subscriber. A second call (tests) changes nothing.
pub fn init(config: &LogConfig) {
    let filter = EnvFilter::builder().parse(&config.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match config.format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stdout().is_terminal(),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stdout);
    // Err means a subscriber is already installed; keeping it is correct.
    let _ =
        if json { builder.json().with_current_span(true).with_span_list(false).try_init() } else { builder.try_init() };
}
