//! `zenoauth idp list|create|update|delete --org SLUG …`: an organization's
//! upstream identity providers (docs/federation.md), straight against the
//! database like the other admin commands. The client secret is read from
//! stdin, a file or an environment variable — never from the command line,
//! where `ps` would show it — and sealed under the key-encryption key.

use std::io::Read as _;
use std::path::PathBuf;

use anyhow::{anyhow, Context};
use clap::{Args, Subcommand, ValueEnum};
use uuid::Uuid;
use zenoauth_domain::federation::{ClaimMapping, IdentityProvider, ProviderKind};
use zenoauth_domain::model::Organization;
use zenoauth_domain::ports::FederationCrypto as _;

use crate::admin_commands::{organization, Workspace};
use crate::cli::Failure;

/// The largest client secret read from stdin or a file.
const MAX_SECRET_BYTES: u64 = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    /// OpenID Connect (endpoints from the issuer's discovery document).
    Oidc,
    /// Plain OAuth 2.0 with configured endpoints (GitHub-style).
    Oauth2,
}

impl From<KindArg> for ProviderKind {
    fn from(kind: KindArg) -> Self {
        match kind {
            KindArg::Oidc => Self::Oidc,
            KindArg::Oauth2 => Self::OAuth2,
        }
    }
}

/// Where the client secret comes from (at most one).
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct SecretSource {
    /// Read the client secret from stdin (up to its end; one trailing newline is dropped).
    #[arg(long, conflicts_with_all = ["client_secret_file", "client_secret_env"])]
    pub client_secret_stdin: bool,
    /// Read the client secret from this file (one trailing newline is dropped).
    #[arg(long, value_name = "PATH", conflicts_with = "client_secret_env")]
    pub client_secret_file: Option<PathBuf>,
    /// Read the client secret from this environment variable.
    #[arg(long, value_name = "VAR")]
    pub client_secret_env: Option<String>,
}

impl SecretSource {
    fn read(&self) -> Result<Option<String>, Failure> {
        let text = if self.client_secret_stdin {
            let mut text = String::new();
            std::io::stdin()
                .lock()
                .take(MAX_SECRET_BYTES + 1)
                .read_to_string(&mut text)
                .context("cannot read the client secret from stdin")?;
            text
        } else if let Some(path) = &self.client_secret_file {
            let file = std::fs::File::open(path)
                .with_context(|| format!("cannot read the client secret file {}", path.display()))?;
            let mut text = String::new();
            file.take(MAX_SECRET_BYTES + 1)
                .read_to_string(&mut text)
                .with_context(|| format!("cannot read the client secret file {}", path.display()))?;
            text
        } else if let Some(variable) = &self.client_secret_env {
            std::env::var(variable).map_err(|_| anyhow!("the environment variable {variable} is not set"))?
        } else {
            return Ok(None);
        };
        if text.len() as u64 > MAX_SECRET_BYTES {
            return Err(Failure::from(anyhow!("the client secret is longer than {MAX_SECRET_BYTES} bytes")));
        }
        let secret = text.strip_suffix('\n').map_or(text.as_str(), |text| text.strip_suffix('\r').unwrap_or(text));
        if secret.is_empty() {
            return Err(Failure::from(anyhow!("the client secret is empty")));
        }
        Ok(Some(secret.to_owned()))
    }
}

/// The settings `create` and `update` share; `update` changes only those given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct ProviderFields {
    /// oidc: the upstream issuer; oauth2: an identifier such as https://github.com.
    #[arg(long, value_name = "URL")]
    pub issuer: Option<String>,
    #[arg(long)]
    pub client_id: Option<String>,
    /// A scope to ask for (repeatable; replaces all on update). oidc default: openid profile email.
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// oauth2 only (required there).
    #[arg(long, value_name = "URL")]
    pub authorization_endpoint: Option<String>,
    /// oauth2 only (required there).
    #[arg(long, value_name = "URL")]
    pub token_endpoint: Option<String>,
    /// oauth2 only (required there).
    #[arg(long, value_name = "URL")]
    pub userinfo_endpoint: Option<String>,
    /// The claim naming the upstream user: sub (oidc), default id for oauth2.
    #[arg(long, value_name = "CLAIM")]
    pub subject_claim: Option<String>,
    /// The claim holding the email (default email).
    #[arg(long, value_name = "CLAIM")]
    pub email_claim: Option<String>,
    /// The login button's icon: an https URL or a data:image/png|svg+xml;base64 URL.
    #[arg(long, value_name = "URL")]
    pub icon_url: Option<String>,
    /// The claim mapping as JSON, e.g. '{"groups_claim":"groups","roles":{"eng":"developer"}}'.
    #[arg(long, value_name = "JSON")]
    pub claim_mapping: Option<String>,
    /// Offer the provider on the login page and accept its logins.
    #[arg(long, value_name = "BOOL")]
    pub enabled: Option<bool>,
    /// Create a local user at the first login of an unknown upstream identity.
    #[arg(long, value_name = "BOOL")]
    pub jit_provisioning: Option<bool>,
    /// Link to the local user with the same email when the upstream says it is verified.
    #[arg(long, value_name = "BOOL")]
    pub link_by_verified_email: Option<bool>,
    /// oidc only: a multi-factor upstream amr satisfies the organization's required MFA.
    #[arg(long, value_name = "BOOL")]
    pub trust_upstream_amr: Option<bool>,
    #[command(flatten)]
    pub secret: SecretSource,
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum IdpCommand {
    /// List providers: id, name, kind, issuer, enabled|disabled.
    List {
        #[arg(long, value_name = "SLUG")]
        org: String,
    },
    /// Add a provider; prints id= and name=.
    Create {
        #[arg(long, value_name = "SLUG")]
        org: String,
        /// Shown on the login button; unique in the organization.
        #[arg(long)]
        name: String,
        #[arg(long, value_enum, default_value = "oidc")]
        kind: KindArg,
        #[command(flatten)]
        fields: ProviderFields,
    },
    /// Change a provider (named by --provider NAME_OR_ID); only the options given change.
    Update {
        #[arg(long, value_name = "SLUG")]
        org: String,
        #[arg(long, value_name = "NAME_OR_ID")]
        provider: String,
        #[arg(long)]
        new_name: Option<String>,
        #[arg(long, value_enum)]
        kind: Option<KindArg>,
        /// Remove the client secret (a public client, PKCE only).
        #[arg(long, conflicts_with_all = ["client_secret_stdin", "client_secret_file", "client_secret_env"])]
        remove_client_secret: bool,
        /// Remove the icon.
        #[arg(long, conflicts_with = "icon_url")]
        remove_icon: bool,
        #[command(flatten)]
        fields: ProviderFields,
    },
    /// Delete a provider with its links to local users (the users stay).
    Delete {
        #[arg(long, value_name = "SLUG")]
        org: String,
        #[arg(long, value_name = "NAME_OR_ID")]
        provider: String,
    },
}

async fn find_provider(
    context: &Workspace,
    organization: &Organization,
    name_or_id: &str,
) -> Result<IdentityProvider, Failure> {
    let providers =
        context.stores.federation.list_providers(organization.id).await.context("cannot read the providers")?;
    let id = Uuid::parse_str(name_or_id).ok();
    providers.into_iter().find(|provider| Some(provider.id) == id || provider.name == name_or_id).ok_or_else(|| {
        Failure::from(anyhow!("no identity provider of {:?} is {name_or_id:?}", organization.slug.as_str()))
    })
}

/// Applies the options given; the secret is sealed after validation.
fn apply(provider: &mut IdentityProvider, fields: ProviderFields) -> Result<(), Failure> {
    if let Some(issuer) = fields.issuer {
        provider.issuer = issuer;
    }
    if let Some(client_id) = fields.client_id {
        provider.client_id = client_id;
    }
    if !fields.scopes.is_empty() {
        provider.scopes = fields.scopes;
    }
    if let Some(endpoint) = fields.authorization_endpoint {
        provider.authorization_endpoint = Some(endpoint).filter(|text| !text.is_empty());
    }
    if let Some(endpoint) = fields.token_endpoint {
        provider.token_endpoint = Some(endpoint).filter(|text| !text.is_empty());
    }
    if let Some(endpoint) = fields.userinfo_endpoint {
        provider.userinfo_endpoint = Some(endpoint).filter(|text| !text.is_empty());
    }
    if let Some(claim) = fields.subject_claim {
        provider.subject_claim = claim;
    }
    if let Some(claim) = fields.email_claim {
        provider.email_claim = claim;
    }
    if let Some(icon) = fields.icon_url {
        provider.icon_url = Some(icon);
    }
    if let Some(mapping) = fields.claim_mapping {
        provider.claim_mapping = serde_json::from_str::<ClaimMapping>(&mapping)
            .map_err(|error| anyhow!("--claim-mapping is not a valid claim mapping: {error}"))?;
    }
    if let Some(enabled) = fields.enabled {
        provider.enabled = enabled;
    }
    if let Some(jit) = fields.jit_provisioning {
        provider.jit_provisioning = jit;
    }
    if let Some(link) = fields.link_by_verified_email {
        provider.link_by_verified_email = link;
    }
    if let Some(trust) = fields.trust_upstream_amr {
        provider.trust_upstream_amr = trust;
    }
    Ok(())
}

fn validate(provider: &IdentityProvider) -> Result<(), Failure> {
    provider.validate().map_err(|error| Failure::from(anyhow!("--{}: {}", error.field.replace('_', "-"), error.reason)))
}

fn seal(context: &Workspace, provider: &IdentityProvider, secret: &str) -> Result<Vec<u8>, Failure> {
    Ok(context
        .services
        .federation_crypto
        .seal_client_secret(provider.organization_id, provider.id, secret)
        .context("cannot seal the client secret")?)
}

/// Runs one `idp` command; the lines to print.
pub(crate) async fn run(context: &Workspace, command: IdpCommand) -> Result<Vec<String>, Failure> {
    match command {
        IdpCommand::List { org } => {
            let organization = organization(context, &org).await?;
            let providers =
                context.stores.federation.list_providers(organization.id).await.context("cannot list providers")?;
            Ok(providers
                .iter()
                .map(|provider| {
                    let enabled = if provider.enabled { "enabled" } else { "disabled" };
                    format!(
                        "{}\t{}\t{}\t{}\t{enabled}",
                        provider.id,
                        provider.name,
                        provider.kind.as_str(),
                        provider.issuer
                    )
                })
                .collect())
        }
        IdpCommand::Create { org, name, kind, fields } => {
            let organization = organization(context, &org).await?;
            let kind = ProviderKind::from(kind);
            let secret = fields.secret.read()?;
            let now = context.services.clock.now();
            let mut provider = IdentityProvider {
                id: context.ids.next(),
                organization_id: organization.id,
                name: name.trim().to_owned(),
                kind,
                issuer: String::new(),
                authorization_endpoint: None,
                token_endpoint: None,
                userinfo_endpoint: None,
                subject_claim: kind.default_subject_claim().to_owned(),
                email_claim: "email".to_owned(),
                icon_url: None,
                trust_upstream_amr: false,
                client_id: String::new(),
                encrypted_client_secret: None,
                scopes: match kind {
                    ProviderKind::Oidc => vec!["openid".into(), "profile".into(), "email".into()],
                    ProviderKind::OAuth2 => Vec::new(),
                },
                enabled: true,
                jit_provisioning: true,
                link_by_verified_email: false,
                claim_mapping: ClaimMapping::default(),
                created_at: now,
                updated_at: now,
            };
            if fields.issuer.is_none() || fields.client_id.is_none() {
                return Err(Failure::from(anyhow!("give --issuer URL and --client-id ID")));
            }
            apply(&mut provider, fields)?;
            validate(&provider)?;
            if let Some(secret) = &secret {
                provider.encrypted_client_secret = Some(seal(context, &provider, secret)?);
            }
            context.stores.federation.create_provider(&provider).await.context("cannot create the provider")?;
            Ok(vec![format!("id={}", provider.id), format!("name={}", provider.name)])
        }
        IdpCommand::Update { org, provider, new_name, kind, remove_client_secret, remove_icon, fields } => {
            let organization = organization(context, &org).await?;
            let mut provider = find_provider(context, &organization, &provider).await?;
            let before = provider.clone();
            let secret = fields.secret.read()?;
            if let Some(name) = new_name {
                provider.name = name.trim().to_owned();
            }
            if let Some(kind) = kind.map(ProviderKind::from) {
                if kind != provider.kind && fields.subject_claim.is_none() {
                    provider.subject_claim = kind.default_subject_claim().to_owned();
                }
                provider.kind = kind;
            }
            apply(&mut provider, fields)?;
            if remove_icon {
                provider.icon_url = None;
            }
            validate(&provider)?;
            if provider.renames_subjects(&before)
                && context
                    .stores
                    .federation
                    .provider_has_identities(organization.id, provider.id)
                    .await
                    .context("cannot read the provider's links")?
            {
                return Err(Failure::from(anyhow!("{}", zenoauth_domain::federation::SUBJECT_RENAME_REFUSED)));
            }
            if let Some(secret) = &secret {
                provider.encrypted_client_secret = Some(seal(context, &provider, secret)?);
            } else if remove_client_secret {
                provider.encrypted_client_secret = None;
            }
            provider.updated_at =
                crate::http::admin::common::next_version(provider.updated_at, context.services.clock.now());
            context.stores.federation.update_provider(&provider).await.context("cannot update the provider")?;
            Ok(vec![format!("updated={}", provider.id), format!("name={}", provider.name)])
        }
        IdpCommand::Delete { org, provider } => {
            let organization = organization(context, &org).await?;
            let provider = find_provider(context, &organization, &provider).await?;
            context
                .stores
                .federation
                .delete_provider(organization.id, provider.id)
                .await
                .context("cannot delete the provider")?;
            Ok(vec![format!("deleted={}", provider.id)])
        }
    }
}
