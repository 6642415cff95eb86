//! `zenoauth keys …`: an operator's view of and hand on an organization's
//! signing keys. The rules are the domain's `KeyRing`; this module parses
//! arguments and prints one line per key or rotation.

use std::io::Write;

use anyhow::{anyhow, Context};
use clap::Subcommand;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use zenoauth_domain::keys::{KeyRing, Rotation, RotationOutcome, ALGORITHMS};
use zenoauth_domain::model::{Organization, SigningAlgorithm};
use zenoauth_domain::ports::Stores;
use zenoauth_domain::values::Slug;

use crate::cli::{open_database, Failure};
use crate::config::Config;
use crate::services::Services;

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum KeysCommand {
    /// Replace an organization's signing key(s). By default the new key is
    /// published now and signs after keys.publish_before_signing_seconds, so
    /// clients with a cached JWKS keep working; the old key stays published
    /// until its tokens have expired.
    Rotate {
        /// The organization's slug, e.g. `system`.
        #[arg(long, value_name = "SLUG")]
        org: String,
        /// EdDSA, ES256, RS256, or all.
        #[arg(long, value_name = "ALG", default_value = "all")]
        alg: String,
        /// Sign with the new key at once and stop signing with the old one now
        /// (e.g. after a suspected leak). Clients holding a cached JWKS fail
        /// to verify new tokens until they refetch it.
        #[arg(long)]
        immediate: bool,
    },
    /// List an organization's published signing keys.
    List {
        /// The organization's slug, e.g. `system`.
        #[arg(long, value_name = "SLUG")]
        org: String,
    },
}

/// Runs a `keys` subcommand.
pub async fn run(config: Config, command: KeysCommand) -> Result<(), Failure> {
    let services = Services::from_config(&config)?;
    let database = open_database(&config).await?;
    if config.database.migrate_on_start {
        database.migrate().await.context("cannot migrate the database")?;
    }
    let stores = database.stores();
    let key_ring = KeyRing::new(
        stores.signing_keys.clone(),
        services.signer.clone(),
        services.clock.clone(),
        services.random.clone(),
    )
    .with_policy(config.keys.policy);
    let lines = match command {
        KeysCommand::Rotate { org, alg, immediate } => {
            let algorithms = parse_algorithms(&alg)?;
            let organization = find_organization(&stores, &org).await?;
            let rotation = if immediate { Rotation::Immediate } else { Rotation::Staged };
            let mut lines = Vec::new();
            for algorithm in algorithms {
                let outcome = key_ring
                    .rotate(organization.id, algorithm, rotation)
                    .await
                    .with_context(|| format!("cannot rotate the {} key of {org:?}", algorithm.as_str()))?;
                lines.push(describe_rotation(&outcome, services.clock.now(), &key_ring));
            }
            lines
        }
        KeysCommand::List { org } => {
            let organization = find_organization(&stores, &org).await?;
            let keys = key_ring.published_keys(organization.id).await.context("cannot read the signing keys")?;
            let mut lines =
                vec![format!("{:<36}  {:<5}  {:<7}  {:<25}  {}", "kid", "alg", "state", "created", "expires")];
            for key in keys {
                lines.push(format!(
                    "{:<36}  {:<5}  {:<7}  {:<25}  {}",
                    key.id.to_string(),
                    key.algorithm.as_str(),
                    key.state.as_str(),
                    rfc3339(key.created_at),
                    key.expires_at.map_or_else(|| "-".to_owned(), rfc3339)
                ));
            }
            lines
        }
    };
    let mut stdout = std::io::stdout().lock();
    for line in lines {
        writeln!(stdout, "{line}").context("cannot write to stdout")?;
    }
    Ok(())
}

fn parse_algorithms(text: &str) -> Result<Vec<SigningAlgorithm>, Failure> {
    if text.eq_ignore_ascii_case("all") {
        return Ok(ALGORITHMS.to_vec());
    }
    ALGORITHMS
        .into_iter()
        .find(|algorithm| algorithm.as_str().eq_ignore_ascii_case(text))
        .map(|algorithm| vec![algorithm])
        .ok_or_else(|| Failure::from(anyhow!("--alg {text:?} is not EdDSA, ES256, RS256 or all")))
}

async fn find_organization(stores: &Stores, text: &str) -> Result<Organization, Failure> {
    let slug = Slug::parse(text).map_err(|error| anyhow!("--org {text:?} is not a valid slug: {}", error.reason))?;
    stores
        .organizations
        .find_by_slug(&slug)
        .await
        .context("cannot read the organization")?
        .ok_or_else(|| Failure::from(anyhow!("no organization has the slug {text:?}")))
}

fn describe_rotation(outcome: &RotationOutcome, now: OffsetDateTime, key_ring: &KeyRing) -> String {
    let algorithm = outcome.algorithm.as_str();
    let kid = outcome.key.id;
    let replaced: Vec<String> = outcome.replaces.iter().map(ToString::to_string).collect();
    let replaced = replaced.join(", ");
    let published_until = rfc3339(outcome.signs_from + key_ring.policy().retired_key_publish);
    if replaced.is_empty() {
        format!("{algorithm}: new key {kid} signs now (the organization's first {algorithm} key)")
    } else if outcome.signs_from > now {
        format!(
            "{algorithm}: new key {kid} is published now and signs from {}; {replaced} signs until then and stays published until about {published_until}",
            rfc3339(outcome.signs_from)
        )
    } else {
        format!("{algorithm}: new key {kid} signs now; {replaced} stopped signing and stays published until {published_until}")
    }
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_else(|_| at.to_string())
}
