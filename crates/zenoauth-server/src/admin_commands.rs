//! `zenoauth org|user|app|role …`: the essentials of the admin API for
//! operators, straight against the database, so a server can be provisioned
//! from a shell script. Output is one `key=value` line per fact for created
//! objects (secrets shown once), one tab-separated line per listed object.
//! Passwords are read from an environment variable or stdin, never argv.

use std::io::{BufRead, Write};
use std::sync::Arc;

use anyhow::{anyhow, Context};
use clap::{Args, Subcommand};
use serde_json::json;
use zenoauth_crypto::{issue_secret, SecretPrefix};
use zenoauth_domain::ids::{IdGenerator, UserId};
use zenoauth_domain::model::{Application, ClientType, Organization, User};
use zenoauth_domain::ports::{PageRequest, PasswordHasher, Stores, UserQuery};
use zenoauth_domain::roles::{ensure_user_role, parse_description, PermissionSet, Role, RoleName, PLATFORM_ADMIN};
use zenoauth_domain::values::{ClientId, DisplayName, Email, Password, ScopeSet, Slug};

use crate::cli::{open_database, Failure};
use crate::config::Config;
use crate::http::admin::applications::{apply, ApplicationFields};
use crate::http::admin::common::next_version;
use crate::services::Services;
use zenoauth_domain::security::audit::RecordingAuditSink;
use zenoauth_domain::security::lockout::LoginLockout;
use zenoauth_domain::security::password_policy::PasswordPolicy;

/// The audit actor of changes made with these commands.
const CLI_ACTOR: &str = "cli";

/// The context of a failed conditional user write (it also fails when the
/// user changed between this command's read and its write: run it again).
const CHANGED_MEANWHILE: &str = "cannot update the user (if it changed meanwhile, run the command again)";

/// Gives `user` of `organization` (the system organization) the
/// platform-admin role, creating the role if needed. Idempotent.
pub async fn ensure_platform_admin(
    services: &Services,
    stores: &Stores,
    organization: &Organization,
    user: UserId,
) -> zenoauth_domain::Result<bool> {
    let ids = IdGenerator::new(services.clock.clone(), services.random.clone());
    let description = "Manages every organization through the admin API";
    ensure_user_role(stores, &ids, services.clock.now(), organization, user, PLATFORM_ADMIN, description).await
}

/// Where a new password comes from.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct PasswordSource {
    /// Read the password from this environment variable.
    #[arg(long, value_name = "VAR", conflicts_with = "password_stdin")]
    pub password_env: Option<String>,
    /// Read the password from the first line of stdin.
    #[arg(long)]
    pub password_stdin: bool,
}

impl PasswordSource {
    fn read(&self) -> Result<Option<Password>, Failure> {
        let text = if let Some(variable) = &self.password_env {
            std::env::var(variable).map_err(|_| anyhow!("the environment variable {variable} is not set"))?
        } else if self.password_stdin {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).context("cannot read the password from stdin")?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        } else {
            return Ok(None);
        };
        Ok(Some(Password::parse(&text).map_err(|error| anyhow!("the password {}", error.reason))?))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum OrgCommand {
    /// Create an organization (an issuer `{public_url}/o/{slug}`).
    Create {
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: String,
    },
    /// List organizations: id, slug, name.
    List,
    /// Delete an organization with everything it owns.
    Delete {
        #[arg(long, value_name = "SLUG")]
        org: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum UserCommand {
    /// Create a user (without --password-env/--password-stdin: no password yet).
    Create {
        #[arg(long, value_name = "SLUG")]
        org: String,
        #[arg(long)]
        email: String,
        #[command(flatten)]
        password: PasswordSource,
        /// Mark the email as verified.
        #[arg(long)]
        verified: bool,
        /// Give the user this role (repeatable; the role must exist).
        #[arg(long = "role", value_name = "NAME")]
        roles: Vec<String>,
    },
    /// List users: id, email, active.
    List {
        #[arg(long, value_name = "SLUG")]
        org: String,
        #[arg(long)]
        email_prefix: Option<String>,
    },
    /// Set a user's password.
    SetPassword {
        #[arg(long, value_name = "SLUG")]
        org: String,
        #[arg(long)]
        email: String,
        #[command(flatten)]
        password: PasswordSource,
    },
    /// Deactivate a user: no logins, sessions ended, refresh tokens revoked.
    Deactivate {
        #[arg(long, value_name = "SLUG")]
        org: String,
        #[arg(long)]
        email: String,
    },
    /// Delete a user.
    Delete {
        #[arg(long, value_name = "SLUG")]
        org: String,
        #[arg(long)]
        email: String,
    },
    /// Lift a user's brute-force lockout and forget their failed logins
    /// (audited as `login.unlocked` with actor `cli`).
    Unlock {
        #[arg(long, value_name = "SLUG")]
        org: String,
        #[arg(long)]
        email: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum AppCommand {
    /// Create an application; prints client_id and (confidential) client_secret once.
    Create {
        #[arg(long, value_name = "SLUG")]
        org: String,
        #[arg(long)]
        client_id: String,
        #[arg(long)]
        name: String,
        /// A public client (no secret, PKCE only).
        #[arg(long)]
        public: bool,
        #[arg(long = "redirect-uri", value_name = "URI")]
        redirect_uris: Vec<String>,
        /// Where RP-initiated logout may send the user back to (repeatable).
        #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
        post_logout_redirect_uris: Vec<String>,
        /// An allowed scope (repeatable); `zenoauth:admin` allows admin-API tokens.
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// authorization_code, refresh_token, client_credentials (repeatable).
        #[arg(long = "grant", value_name = "GRANT")]
        grants: Vec<String>,
        /// Give the application (service account) this role (repeatable).
        #[arg(long = "role", value_name = "NAME")]
        roles: Vec<String>,
        /// Skip the consent page.
        #[arg(long)]
        first_party: bool,
    },
    /// List applications: id, client_id, type, name.
    List {
        #[arg(long, value_name = "SLUG")]
        org: String,
    },
    /// Issue a new secret; prints it once.
    RotateSecret {
        #[arg(long, value_name = "SLUG")]
        org: String,
        #[arg(long)]
        client_id: String,
        /// Keep the old secret working this many seconds.
        #[arg(long, default_value_t = 0)]
        grace_seconds: i64,
    },
    /// Delete an application.
    Delete {
        #[arg(long, value_name = "SLUG")]
        org: String,
        #[arg(long)]
        client_id: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum RoleCommand {
    /// Create a role (`org-admin` grants the admin API for the organization).
    Create {
        #[arg(long, value_name = "SLUG")]
        org: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        description: String,
        /// A permission string (repeatable).
        #[arg(long = "permission", value_name = "PERMISSION")]
        permissions: Vec<String>,
    },
    /// List roles: id, name, permissions.
    List {
        #[arg(long, value_name = "SLUG")]
        org: String,
    },
    /// Give a role to a user (--user EMAIL) or an application (--app CLIENT_ID).
    Assign(Assignment),
    /// Take a role from a user or an application.
    Unassign(Assignment),
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct Assignment {
    #[arg(long, value_name = "SLUG")]
    pub org: String,
    #[arg(long, value_name = "NAME")]
    pub role: String,
    #[arg(long, value_name = "EMAIL", required_unless_present = "app", conflicts_with = "app")]
    pub user: Option<String>,
    #[arg(long, value_name = "CLIENT_ID")]
    pub app: Option<String>,
}

/// One of the admin command groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminCommand {
    Org(OrgCommand),
    User(UserCommand),
    App(AppCommand),
    Role(RoleCommand),
    Idp(crate::idp_commands::IdpCommand),
}

/// The opened database and services a command works with.
pub(crate) struct Workspace {
    pub(crate) stores: Stores,
    pub(crate) services: Services,
    pub(crate) ids: IdGenerator,
}

/// Runs an admin command and prints its lines.
pub async fn run(config: Config, command: AdminCommand) -> Result<(), Failure> {
    let services = Services::from_config(&config)?;
    let database = open_database(&config).await?;
    if config.database.migrate_on_start {
        database.migrate().await.context("cannot migrate the database")?;
    }
    let ids = IdGenerator::new(services.clock.clone(), services.random.clone());
    let context = Workspace { stores: database.stores(), services, ids };
    let lines = match command {
        AdminCommand::Org(command) => org(&context, command).await?,
        AdminCommand::User(command) => user(&context, command).await?,
        AdminCommand::App(command) => app(&context, command).await?,
        AdminCommand::Role(command) => role(&context, command).await?,
        AdminCommand::Idp(command) => crate::idp_commands::run(&context, command).await?,
    };
    let mut stdout = std::io::stdout().lock();
    for line in lines {
        writeln!(stdout, "{line}").context("cannot write to stdout")?;
    }
    Ok(())
}

fn invalid(what: &str, error: zenoauth_domain::ValidationError) -> Failure {
    Failure::from(anyhow!("{what}: {}", error.reason))
}

pub(crate) async fn organization(context: &Workspace, slug: &str) -> Result<Organization, Failure> {
    let parsed = Slug::parse(slug).map_err(|error| invalid("--org", error))?;
    context
        .stores
        .organizations
        .find_by_slug(&parsed)
        .await
        .context("cannot read the organization")?
        .ok_or_else(|| Failure::from(anyhow!("no organization has the slug {slug:?}")))
}

async fn find_user(context: &Workspace, organization: &Organization, email: &str) -> Result<User, Failure> {
    let parsed = Email::parse(email).map_err(|error| invalid("--email", error))?;
    context
        .stores
        .users
        .find_by_email(organization.id, &parsed)
        .await
        .context("cannot read the user")?
        .ok_or_else(|| Failure::from(anyhow!("no user of {:?} has the email {email:?}", organization.slug.as_str())))
}

async fn find_app(context: &Workspace, organization: &Organization, client_id: &str) -> Result<Application, Failure> {
    let parsed = ClientId::parse(client_id).map_err(|error| invalid("--client-id", error))?;
    context
        .stores
        .applications
        .find_by_client_id(organization.id, &parsed)
        .await
        .context("cannot read the application")?
        .ok_or_else(|| {
            Failure::from(anyhow!("no application of {:?} has the client_id {client_id:?}", organization.slug.as_str()))
        })
}

async fn find_role(context: &Workspace, organization: &Organization, name: &str) -> Result<Role, Failure> {
    let parsed = RoleName::parse(name).map_err(|error| invalid("--role", error))?;
    context
        .stores
        .roles
        .find_by_name(organization.id, &parsed)
        .await
        .context("cannot read the role")?
        .ok_or_else(|| Failure::from(anyhow!("no role of {:?} is called {name:?}", organization.slug.as_str())))
}

async fn org(context: &Workspace, command: OrgCommand) -> Result<Vec<String>, Failure> {
    match command {
        OrgCommand::Create { slug, name } => {
            let now = context.services.clock.now();
            let organization = Organization {
                id: context.ids.next(),
                slug: Slug::parse(&slug).map_err(|error| invalid("--slug", error))?,
                name: DisplayName::parse(&name).map_err(|error| invalid("--name", error))?,
                settings: json!({}),
                created_at: now,
                updated_at: now,
            };
            context.stores.organizations.create(&organization).await.context("cannot create the organization")?;
            Ok(vec![format!("id={}", organization.id), format!("slug={}", organization.slug)])
        }
        OrgCommand::List => {
            let mut lines = Vec::new();
            let mut after = None;
            loop {
                let page = PageRequest::new(after, PageRequest::MAX_LIMIT).map_err(|error| invalid("page", error))?;
                let organizations =
                    context.stores.organizations.list(&page).await.context("cannot list organizations")?;
                for organization in &organizations {
                    lines.push(format!("{}\t{}\t{}", organization.id, organization.slug, organization.name.as_str()));
                }
                match organizations.last() {
                    Some(last) if organizations.len() == PageRequest::MAX_LIMIT as usize => {
                        after = Some(last.id.as_uuid())
                    }
                    _ => break,
                }
            }
            Ok(lines)
        }
        OrgCommand::Delete { org } => {
            let organization = organization(context, &org).await?;
            if organization.slug == Slug::system() {
                return Err(Failure::from(anyhow!("the system organization cannot be deleted")));
            }
            context.stores.organizations.delete(organization.id).await.context("cannot delete the organization")?;
            Ok(vec![format!("deleted={}", organization.id)])
        }
    }
}

async fn user(context: &Workspace, command: UserCommand) -> Result<Vec<String>, Failure> {
    match command {
        UserCommand::Create { org, email, password, verified, roles } => {
            let organization = organization(context, &org).await?;
            let email = Email::parse(&email).map_err(|error| invalid("--email", error))?;
            let password = password.read()?;
            if let Some(password) = &password {
                PasswordPolicy::from_organization(&organization)
                    .and_then(|policy| policy.check(password, &email))
                    .map_err(|error| anyhow!("the password breaks the policy: {error}"))?;
            }
            let mut held = Vec::new();
            for name in &roles {
                held.push(find_role(context, &organization, name).await?);
            }
            let password_hash = match &password {
                Some(password) => {
                    Some(context.services.hasher.hash(password).await.context("cannot hash the password")?)
                }
                None => None,
            };
            let now = context.services.clock.now();
            let user = User {
                id: context.ids.next(),
                organization_id: organization.id,
                email,
                email_verified: verified,
                password_hash,
                profile: json!({}),
                is_active: true,
                created_at: now,
                updated_at: now,
            };
            context.stores.users.create(&user).await.context("cannot create the user")?;
            for role in &held {
                context
                    .stores
                    .roles
                    .assign_to_user(organization.id, user.id, role.id)
                    .await
                    .context("cannot assign the role")?;
            }
            Ok(vec![format!("id={}", user.id), format!("email={}", user.email)])
        }
        UserCommand::List { org, email_prefix } => {
            let organization = organization(context, &org).await?;
            let query = UserQuery { email_prefix, profile_attribute: None };
            let mut lines = Vec::new();
            let mut after = None;
            loop {
                let page = PageRequest::new(after, PageRequest::MAX_LIMIT).map_err(|error| invalid("page", error))?;
                let users =
                    context.stores.users.list(organization.id, &query, &page).await.context("cannot list users")?;
                for user in &users {
                    lines.push(format!(
                        "{}\t{}\t{}",
                        user.id,
                        user.email,
                        if user.is_active { "active" } else { "inactive" }
                    ));
                }
                match users.last() {
                    Some(last) if users.len() == PageRequest::MAX_LIMIT as usize => after = Some(last.id.as_uuid()),
                    _ => break,
                }
            }
            Ok(lines)
        }
        UserCommand::SetPassword { org, email, password } => {
            let organization = organization(context, &org).await?;
            let user = find_user(context, &organization, &email).await?;
            let password = password.read()?.ok_or_else(|| anyhow!("give --password-env VAR or --password-stdin"))?;
            // Policy checked; conditional write (a concurrent change is never
            // undone); the user's sessions and refresh tokens end.
            let set = zenoauth_domain::users::set_password(
                &context.stores,
                context.services.hasher.as_ref(),
                context.services.clock.as_ref(),
                &organization,
                user,
                password.expose(),
            )
            .await
            .map_err(|error| match error {
                zenoauth_domain::Error::InvalidInput(error) => anyhow!("the password breaks the policy: {error}"),
                error => anyhow!(error).context(CHANGED_MEANWHILE),
            })?;
            Ok(vec![format!("password_set={}", set.user.id), format!("sessions_ended={}", set.sessions_ended)])
        }
        UserCommand::Deactivate { org, email } => {
            let organization = organization(context, &org).await?;
            let mut user = find_user(context, &organization, &email).await?;
            let now = context.services.clock.now();
            user.is_active = false;
            let read_at = user.updated_at;
            user.updated_at = next_version(read_at, now);
            context.stores.users.update_if_unchanged(&user, read_at).await.context(CHANGED_MEANWHILE)?;
            context
                .stores
                .refresh_tokens
                .revoke_for_user(organization.id, user.id, now)
                .await
                .context("cannot revoke")?;
            context.stores.sessions.delete_for_user(organization.id, user.id).await.context("cannot end sessions")?;
            Ok(vec![format!("deactivated={}", user.id)])
        }
        UserCommand::Delete { org, email } => {
            let organization = organization(context, &org).await?;
            let user = find_user(context, &organization, &email).await?;
            context.stores.users.delete(organization.id, user.id).await.context("cannot delete the user")?;
            Ok(vec![format!("deleted={}", user.id)])
        }
        UserCommand::Unlock { org, email } => {
            let organization = organization(context, &org).await?;
            let user = find_user(context, &organization, &email).await?;
            // The domain's unlock, its audit event written at once (this
            // process has no audit pipeline and exits right after).
            let audit = Arc::new(RecordingAuditSink::new());
            let lockout = LoginLockout::new(
                context.stores.login_attempts.clone(),
                audit.clone(),
                context.services.clock.clone(),
                context.services.random.clone(),
            );
            let lifted =
                lockout.unlock_account(organization.id, &user.email, CLI_ACTOR).await.context("cannot unlock")?;
            context.stores.audit.append(&audit.events()).await.context("cannot record the audit event")?;
            Ok(vec![if lifted { format!("unlocked={}", user.id) } else { format!("not_locked={}", user.id) }])
        }
    }
}

async fn app(context: &Workspace, command: AppCommand) -> Result<Vec<String>, Failure> {
    match command {
        AppCommand::Create {
            org,
            client_id,
            name,
            public,
            redirect_uris,
            post_logout_redirect_uris,
            scopes,
            grants,
            roles,
            first_party,
        } => {
            let organization = organization(context, &org).await?;
            let mut held = Vec::new();
            for role in &roles {
                held.push(find_role(context, &organization, role).await?);
            }
            let secret = (!public).then(|| issue_secret(context.services.random.as_ref(), SecretPrefix::ClientSecret));
            let now = context.services.clock.now();
            let mut application = Application {
                id: context.ids.next(),
                organization_id: organization.id,
                client_id: ClientId::parse(&client_id).map_err(|error| invalid("--client-id", error))?,
                name: DisplayName::parse(&name).map_err(|error| invalid("--name", error))?,
                client_type: match &secret {
                    Some(secret) => ClientType::Confidential { secret_digest: secret.digest() },
                    None => ClientType::Public,
                },
                redirect_uris: Vec::new(),
                allowed_scopes: ScopeSet::default(),
                settings: json!({}),
                created_at: now,
                updated_at: now,
            };
            let fields = ApplicationFields {
                redirect_uris: Some(redirect_uris),
                post_logout_redirect_uris: Some(post_logout_redirect_uris),
                allowed_scopes: Some(scopes),
                grant_types: (!grants.is_empty()).then_some(grants),
                is_first_party: first_party.then_some(true),
                ..ApplicationFields::default()
            };
            apply(&mut application, fields)
                .map_err(|error| anyhow!("{}", error.problem().detail.unwrap_or_default()))?;
            context.stores.applications.create(&application).await.context("cannot create the application")?;
            for role in &held {
                context
                    .stores
                    .roles
                    .assign_to_application(organization.id, application.id, role.id)
                    .await
                    .context("cannot assign the role")?;
            }
            let mut lines = vec![format!("id={}", application.id), format!("client_id={}", application.client_id)];
            if let Some(secret) = secret {
                lines.push(format!("client_secret={}", secret.expose()));
            }
            Ok(lines)
        }
        AppCommand::List { org } => {
            let organization = organization(context, &org).await?;
            let mut lines = Vec::new();
            let mut after = None;
            loop {
                let page = PageRequest::new(after, PageRequest::MAX_LIMIT).map_err(|error| invalid("page", error))?;
                let applications = context
                    .stores
                    .applications
                    .list(organization.id, &page)
                    .await
                    .context("cannot list applications")?;
                for application in &applications {
                    let kind = if application.client_type.is_confidential() { "confidential" } else { "public" };
                    lines.push(format!(
                        "{}\t{}\t{kind}\t{}",
                        application.id,
                        application.client_id,
                        application.name.as_str()
                    ));
                }
                match applications.last() {
                    Some(last) if applications.len() == PageRequest::MAX_LIMIT as usize => {
                        after = Some(last.id.as_uuid())
                    }
                    _ => break,
                }
            }
            Ok(lines)
        }
        AppCommand::RotateSecret { org, client_id, grace_seconds } => {
            let organization = organization(context, &org).await?;
            let application = find_app(context, &organization, &client_id).await?;
            if !(0..=crate::http::admin::applications::MAX_GRACE_PERIOD_SECONDS).contains(&grace_seconds) {
                return Err(Failure::from(anyhow!("--grace-seconds must be 0 to 2592000")));
            }
            let now = context.services.clock.now();
            let until = (grace_seconds > 0).then(|| now + time::Duration::seconds(grace_seconds));
            let secret = issue_secret(context.services.random.as_ref(), SecretPrefix::ClientSecret);
            context
                .stores
                .client_secrets
                .rotate(organization.id, application.id, &secret.digest(), until, now)
                .await
                .context("cannot rotate the secret (is the application confidential?)")?;
            Ok(vec![format!("client_id={}", application.client_id), format!("client_secret={}", secret.expose())])
        }
        AppCommand::Delete { org, client_id } => {
            let organization = organization(context, &org).await?;
            let application = find_app(context, &organization, &client_id).await?;
            context
                .stores
                .applications
                .delete(organization.id, application.id)
                .await
                .context("cannot delete the application")?;
            Ok(vec![format!("deleted={}", application.id)])
        }
    }
}

async fn role(context: &Workspace, command: RoleCommand) -> Result<Vec<String>, Failure> {
    match command {
        RoleCommand::Create { org, name, description, permissions } => {
            let organization = organization(context, &org).await?;
            let now = context.services.clock.now();
            let role = Role {
                id: context.ids.next(),
                organization_id: organization.id,
                name: RoleName::parse(&name).map_err(|error| invalid("--name", error))?,
                description: parse_description(&description).map_err(|error| invalid("--description", error))?,
                permissions: PermissionSet::parse(permissions.iter().map(String::as_str))
                    .map_err(|error| invalid("--permission", error))?,
                created_at: now,
                updated_at: now,
            };
            context.stores.roles.create(&role).await.context("cannot create the role")?;
            Ok(vec![format!("id={}", role.id), format!("name={}", role.name)])
        }
        RoleCommand::List { org } => {
            let organization = organization(context, &org).await?;
            let mut lines = Vec::new();
            let mut after = None;
            loop {
                let page = PageRequest::new(after, PageRequest::MAX_LIMIT).map_err(|error| invalid("page", error))?;
                let roles = context.stores.roles.list(organization.id, &page).await.context("cannot list roles")?;
                for role in &roles {
                    let permissions: Vec<&str> =
                        role.permissions.iter().map(|permission| permission.as_str()).collect();
                    lines.push(format!("{}\t{}\t{}", role.id, role.name, permissions.join(" ")));
                }
                match roles.last() {
                    Some(last) if roles.len() == PageRequest::MAX_LIMIT as usize => after = Some(last.id.as_uuid()),
                    _ => break,
                }
            }
            Ok(lines)
        }
        RoleCommand::Assign(assignment) => assign(context, assignment, true).await,
        RoleCommand::Unassign(assignment) => assign(context, assignment, false).await,
    }
}

async fn assign(context: &Workspace, assignment: Assignment, give: bool) -> Result<Vec<String>, Failure> {
    let organization = organization(context, &assignment.org).await?;
    let role = find_role(context, &organization, &assignment.role).await?;
    let roles = &context.stores.roles;
    let holder = match (&assignment.user, &assignment.app) {
        (Some(email), _) => {
            let user = find_user(context, &organization, email).await?;
            if give {
                roles.assign_to_user(organization.id, user.id, role.id).await.context("cannot assign the role")?;
            } else {
                roles
                    .unassign_from_user(organization.id, user.id, role.id)
                    .await
                    .context("cannot unassign the role")?;
            }
            format!("user={}", user.id)
        }
        (None, Some(client_id)) => {
            let application = find_app(context, &organization, client_id).await?;
            if give {
                roles
                    .assign_to_application(organization.id, application.id, role.id)
                    .await
                    .context("cannot assign the role")?;
            } else {
                roles
                    .unassign_from_application(organization.id, application.id, role.id)
                    .await
                    .context("cannot unassign the role")?;
            }
            format!("application={}", application.id)
        }
        (None, None) => return Err(Failure::from(anyhow!("give --user EMAIL or --app CLIENT_ID"))),
    };
    let verb = if give { "assigned" } else { "unassigned" };
    Ok(vec![format!("{verb}={}", role.name), holder])
}
