//! The `zenoauth` command line and what each command does.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio::net::TcpListener;
use zenoauth_domain::bootstrap::{Bootstrap, BootstrapOutcome};
use zenoauth_domain::ports::Stores;
use zenoauth_domain::values::Slug;

use crate::admin_commands::AdminCommand;
use crate::config::{Config, ConfigError, PublicUrl};
use crate::database::Database;
use crate::http::{self, AppState, HttpLimits};
pub use crate::key_commands::KeysCommand;
use crate::services::Services;

/// ZenoAuth: an OAuth 2.1 / OpenID Connect provider in one binary.
#[derive(Debug, Parser)]
#[command(name = "zenoauth", version, about = "ZenoAuth: an OAuth 2.1 / OpenID Connect provider in one binary", long_about = None)]
pub struct Cli {
    /// A TOML configuration file (environment variables override it).
    #[arg(long, global = true, env = "ZENOAUTH_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Migrate (unless disabled), bootstrap an empty database, and serve HTTP.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create the system organization, its first admin and signing key if missing (idempotent).
    Bootstrap,
    /// Print the OpenAPI document (JSON) to stdout.
    Openapi,
    /// Manage organizations' signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage organizations (tenants).
    #[command(subcommand)]
    Org(crate::admin_commands::OrgCommand),
    /// Manage an organization's users.
    #[command(subcommand)]
    User(crate::admin_commands::UserCommand),
    /// Manage an organization's applications (OAuth clients).
    #[command(subcommand)]
    App(crate::admin_commands::AppCommand),
    /// Manage an organization's roles and their assignment.
    #[command(subcommand)]
    Role(crate::admin_commands::RoleCommand),
    /// Manage an organization's upstream identity providers (federation).
    #[command(subcommand)]
    Idp(crate::idp_commands::IdpCommand),
}

/// Why a command failed: the exit code and one line for the operator.
#[derive(Debug)]
pub enum Failure {
    /// A setting is wrong (exit code 2).
    Config(ConfigError),
    /// Anything else: the database, the network, I/O (exit code 1).
    Runtime(anyhow::Error),
}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Config(_) => 2,
            Self::Runtime(_) => 1,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let line = match self {
            Self::Config(error) => error.to_string(),
            // `{:#}` is the whole cause chain on one line.
            Self::Runtime(error) => format!("{error:#}"),
        };
        // One line, whatever the causes contain.
        f.write_str(&line.split_whitespace().collect::<Vec<_>>().join(" "))
    }
}

impl From<ConfigError> for Failure {
    fn from(error: ConfigError) -> Self {
        Self::Config(error)
    }
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Self::Runtime(error)
    }
}

/// Runs one command to completion.
pub async fn run(cli: Cli) -> Result<(), Failure> {
    if cli.command == Command::Openapi {
        let json = http::openapi::openapi_json().context("cannot render the OpenAPI document")?;
        std::io::stdout().write_all(json.as_bytes()).context("cannot write to stdout")?;
        return Ok(());
    }
    let config = Config::load(cli.config.as_deref())?;
    crate::logging::init(&config.log);
    match cli.command {
        Command::Serve => serve(config).await,
        Command::Migrate => migrate(config).await,
        Command::Bootstrap => bootstrap(config).await,
        Command::Openapi => Ok(()),
        Command::Keys(command) => crate::key_commands::run(config, command).await,
        Command::Org(command) => crate::admin_commands::run(config, AdminCommand::Org(command)).await,
        Command::User(command) => crate::admin_commands::run(config, AdminCommand::User(command)).await,
        Command::App(command) => crate::admin_commands::run(config, AdminCommand::App(command)).await,
        Command::Role(command) => crate::admin_commands::run(config, AdminCommand::Role(command)).await,
        Command::Idp(command) => crate::admin_commands::run(config, AdminCommand::Idp(command)).await,
    }
}

pub(crate) async fn open_database(config: &Config) -> Result<Database, Failure> {
    Ok(Database::connect(&config.database).await.context("cannot open the database")?)
}

async fn migrate(config: Config) -> Result<(), Failure> {
    let database = open_database(&config).await?;
    database.migrate().await.context("cannot migrate the database")?;
    tracing::info!("the database schema is up to date");
    Ok(())
}

async fn run_bootstrap(config: &Config, services: &Services, stores: Stores) -> Result<BootstrapOutcome, Failure> {
    let bootstrap = Bootstrap::new(
        stores.clone(),
        services.hasher.clone(),
        services.signer.clone(),
        services.clock.clone(),
        services.random.clone(),
    );
    let outcome = bootstrap
        .run(&config.bootstrap.admin_email, config.bootstrap.admin_password.clone())
        .await
        .context("cannot bootstrap the system organization")?;
    // The first admin manages every organization through the admin API (idempotent).
    crate::admin_commands::ensure_platform_admin(services, &stores, &outcome.organization, outcome.admin.id)
        .await
        .context("cannot give the first admin the platform-admin role")?;
    Ok(outcome)
}

async fn bootstrap(config: Config) -> Result<(), Failure> {
    let services = Services::from_config(&config)?;
    let database = open_database(&config).await?;
    if config.database.migrate_on_start {
        database.migrate().await.context("cannot migrate the database")?;
    }
    let outcome = run_bootstrap(&config, &services, database.stores()).await?;
    let public_url = config.server.public_url_for(config.server.bind);
    print_login_hint(&login_hint(&outcome, &public_url));
    Ok(())
}

async fn serve(config: Config) -> Result<(), Failure> {
    let services = Services::from_config(&config)?;
    // A bad certificate or key stops start-up before anything else happens.
    let tls = match &config.server.tls {
        Some(files) => {
            let certificate = http::security::tls::ReloadingCertificate::load(files.clone()).map_err(|error| {
                Failure::Config(ConfigError::Invalid {
                    key: crate::config::SERVER_TLS_CERTIFICATE.key,
                    env: crate::config::SERVER_TLS_CERTIFICATE.primary_env(),
                    reason: error.to_string(),
                })
            })?;
            let server_config = certificate.server_config().context("cannot configure TLS")?;
            Some((server_config, certificate))
        }
        None => None,
    };
    let database = open_database(&config).await?;
    if config.database.migrate_on_start {
        database.migrate().await.context("cannot migrate the database")?;
    }
    let listener = bind(config.server.bind).await?;
    let bound = listener.local_addr().context("cannot read the listening address")?;
    let public_url = config.server.public_url_for(bound);
    let cached = database.cached_stores(config.cache);
    // Evicts what other instances announce; caches serve once it is connected.
    let _stop_listening = AbortOnDrop(tokio::spawn(cached.clone().listen()));
    let stores = cached.stores();
    let bootstrapped = stores
        .organizations
        .find_by_slug(&Slug::system())
        .await
        .context("cannot read the system organization (is the database migrated? see `zenoauth migrate`)")?
        .is_some();
    if !bootstrapped {
        let outcome = run_bootstrap(&config, &services, stores.clone()).await?;
        print_login_hint(&login_hint(&outcome, &public_url));
    }
    tracing::info!(public_url = %public_url, "ZenoAuth {} starting", env!("CARGO_PKG_VERSION"));
    let limits =
        HttpLimits { request_timeout: config.server.request_timeout, max_body_bytes: config.server.max_body_bytes };
    // The key-maintenance pass reads around the caches (key_maintenance::SweepKeys).
    let uncached_signing_keys = database.stores().signing_keys;
    let state = AppState::new(stores, Arc::new(database), services, public_url)
        .with_limits(limits)
        .with_key_policy(config.keys.policy)
        .with_security(config.security.clone())
        .with_mail(config.mail.clone())
        .with_upstream_timeout(config.federation.upstream_timeout);
    // The outbox sender (issue 5): without SMTP it logs a warning and leaves mail queued.
    let _stop_mail = AbortOnDrop(state.mail_worker().context("cannot set up outgoing mail")?.spawn());
    // Only this process's caches: a second `set` cannot happen.
    let _ = state.metrics.caches.set(cached);
    let audit = state.security.audit.clone();
    let sweep_keys = crate::key_maintenance::SweepKeys::new(uncached_signing_keys, state.stores.signing_keys.clone());
    let maintenance = tokio::spawn(crate::key_maintenance::run_forever(
        state.key_ring_over(Arc::new(sweep_keys)),
        state.stores.organizations.clone(),
        crate::key_maintenance::CHECK_INTERVAL,
    ));
    let _stop_maintenance = AbortOnDrop(maintenance);
    let _stop_forgetting = AbortOnDrop(tokio::spawn(http::security::forget_stale_login_attempts(
        state.stores.login_attempts.clone(),
        state.services.clock.clone(),
        http::security::LOGIN_ATTEMPTS_HOUSEKEEPING_INTERVAL,
    )));
    let _stop_ceremonies = AbortOnDrop(tokio::spawn(http::mfa::passkeys::forget_expired_ceremonies(
        state.stores.passkeys.clone(),
        state.services.clock.clone(),
        http::mfa::passkeys::CEREMONY_HOUSEKEEPING_INTERVAL,
    )));
    let _stop_federation_housekeeping =
        AbortOnDrop(tokio::spawn(http::oidc::federation::forget_expired_federation_state(
            state.stores.federation.clone(),
            state.services.clock.clone(),
            http::oidc::federation::FEDERATION_HOUSEKEEPING_INTERVAL,
        )));
    let _stop_reloading = tls.as_ref().map(|(_, certificate)| {
        AbortOnDrop(tokio::spawn(certificate.clone().watch(http::security::tls::RELOAD_CHECK_INTERVAL)))
    });
    let served = http::security::connections::serve_with_tls(
        listener,
        http::app(state),
        http::shutdown_signal(),
        config.server.shutdown_timeout,
        config.security.connections,
        tls.map(|(server_config, _)| server_config),
    )
    .await;
    // Whatever the server's outcome, what was audited reaches the database.
    audit.shutdown(config.server.shutdown_timeout).await;
    served.context("the HTTP server failed")?;
    Ok(())
}

/// Aborts a background task when dropped (when `serve` returns).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn bind(address: SocketAddr) -> Result<TcpListener, Failure> {
    TcpListener::bind(address).await.with_context(|| format!("cannot listen on {address}")).map_err(Failure::from)
}

/// What the operator needs to sign in after a bootstrap.
pub fn login_hint(outcome: &BootstrapOutcome, public_url: &PublicUrl) -> String {
    let issuer = public_url.issuer(outcome.organization.slug.as_str());
    let email = outcome.admin.email.as_str();
    let mut hint = if outcome.organization_created || outcome.admin_created || outcome.signing_key_created {
        String::from("ZenoAuth is bootstrapped. Sign in to the system organization:\n")
    } else {
        String::from("ZenoAuth was already bootstrapped; nothing was created. The system organization:\n")
    };
    hint.push_str(&format!("  issuer:   {issuer}\n  email:    {email}\n"));
    match (&outcome.generated_password, outcome.admin_created) {
        (Some(password), _) => hint.push_str(&format!(
            "  password: {}\n  (generated; shown only this once — change it after signing in)\n",
            password.expose()
        )),
        (None, true) => hint.push_str("  password: the configured bootstrap.admin_password\n"),
        (None, false) => hint.push_str("  password: unchanged (the admin already existed)\n"),
    }
    hint
}

fn print_login_hint(hint: &str) {
    // The hint may carry a one-time password: stderr, not the log.
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(hint.as_bytes());
    let _ = stderr.flush();
}
