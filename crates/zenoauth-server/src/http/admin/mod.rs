//! The admin REST API under `/api/v1` (issue 4): organizations, users,
//! applications, roles and their assignments, sessions, signing keys and
//! audit events, for integrators automating ZenoAuth.
//!
//! Conventions (docs/admin-api.md): bearer access tokens of ZenoAuth itself
//! ([`auth`]); cursor pagination `?limit=&after=` → `{items, next_cursor}`;
//! RFC 9457 problem+json with `type` URIs under
//! `https://zenoauth.dev/problems/` ([`error`]); `ETag` on reads, `If-Match`
//! required on PATCH (428 without, 412 on mismatch); 201 + `Location` on
//! create; idempotent DELETE (204); client secrets shown once. Handlers parse
//! and render; rules live in the domain's value objects and settings.

pub mod applications;
pub mod audit;
pub mod auth;
pub mod common;
pub mod consents;
pub mod error;
pub mod identities;
pub mod identity_providers;
pub mod keys;
pub mod lockout;
pub mod mfa;
pub mod organizations;
pub mod roles;
pub mod sessions;
pub mod users;

use axum::routing::{delete, get, post, put};
use axum::Router;
use serde_json::Value as Json;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref};
use utoipa::{Modify, OpenApi};
use zenoauth_domain::ids::{IdGenerator, OrganizationId};
use zenoauth_domain::model::AuditEvent;

use self::auth::Admin;
use super::AppState;

/// Every admin route, nested at `/api/v1`.
pub fn router() -> Router<AppState> {
    let org = "/organizations/{org_id}";
    Router::new()
        .route("/organizations", get(organizations::list).post(organizations::create))
        .route(org, get(organizations::read).patch(organizations::update).delete(organizations::delete))
        .route(&format!("{org}/users"), get(users::list).post(users::create))
        .route(&format!("{org}/users/{{user_id}}"), get(users::read).patch(users::update).delete(users::delete))
        .route(&format!("{org}/users/{{user_id}}/deactivate"), post(users::deactivate))
        .route(&format!("{org}/users/{{user_id}}/reactivate"), post(users::reactivate))
        .route(&format!("{org}/users/{{user_id}}/password"), put(users::set_password))
        .route(&format!("{org}/users/{{user_id}}/verification"), post(users::send_verification))
        .route(&format!("{org}/users/{{user_id}}/mfa"), get(mfa::read).delete(mfa::reset))
        .route(&format!("{org}/users/{{user_id}}/lockout"), get(lockout::read).delete(lockout::unlock_user))
        .route(&format!("{org}/lockouts/addresses/{{address}}"), delete(lockout::unlock_address))
        .route(&format!("{org}/users/{{user_id}}/roles"), get(roles::user_roles))
        .route(
            &format!("{org}/users/{{user_id}}/roles/{{role_id}}"),
            put(roles::assign_to_user).delete(roles::unassign_from_user),
        )
        .route(&format!("{org}/users/{{user_id}}/sessions"), get(sessions::list).delete(sessions::revoke_all))
        .route(&format!("{org}/users/{{user_id}}/sessions/{{session_id}}"), delete(sessions::revoke))
        .route(&format!("{org}/users/{{user_id}}/consents"), get(consents::list).delete(consents::revoke_all))
        .route(&format!("{org}/users/{{user_id}}/consents/{{application_id}}"), delete(consents::revoke))
        .route(&format!("{org}/users/{{user_id}}/identities"), get(identities::list))
        .route(&format!("{org}/users/{{user_id}}/identities/{{provider_id}}/{{subject}}"), delete(identities::delete))
        .route(&format!("{org}/applications"), get(applications::list).post(applications::create))
        .route(
            &format!("{org}/applications/{{application_id}}"),
            get(applications::read).patch(applications::update).delete(applications::delete),
        )
        .route(&format!("{org}/applications/{{application_id}}/secret"), post(applications::rotate_secret))
        .route(&format!("{org}/applications/{{application_id}}/roles"), get(roles::application_roles))
        .route(
            &format!("{org}/applications/{{application_id}}/roles/{{role_id}}"),
            put(roles::assign_to_application).delete(roles::unassign_from_application),
        )
        .route(&format!("{org}/roles"), get(roles::list).post(roles::create))
        .route(&format!("{org}/roles/{{role_id}}"), get(roles::read).patch(roles::update).delete(roles::delete))
        .route(&format!("{org}/keys"), get(keys::list))
        .route(&format!("{org}/keys/rotate"), post(keys::rotate))
        .route(&format!("{org}/audit-events"), get(audit::list))
        .route(&format!("{org}/identity-providers"), get(identity_providers::list).post(identity_providers::create))
        .route(
            &format!("{org}/identity-providers/{{provider_id}}"),
            get(identity_providers::read).patch(identity_providers::update).delete(identity_providers::delete),
        )
}

/// Ids from the state's clock and randomness.
pub(crate) fn ids(state: &AppState) -> IdGenerator {
    IdGenerator::new(state.services.clock.clone(), state.services.random.clone())
}

/// Writes an audit event for an admin change, at once (not through the
/// buffered pipeline: admin changes are rare, and a caller reading the log
/// right after a change finds it). The change is already made: a failure to
/// record it is logged, not returned.
pub(crate) async fn record(
    state: &AppState,
    admin: &Admin,
    organization: OrganizationId,
    event_type: &str,
    subject: String,
    data: Json,
) {
    // The request's correlation id, peer IP and user agent (issue 5's request context).
    let context = super::security::context::current().unwrap_or_default();
    let event = AuditEvent {
        id: ids(state).next(),
        organization_id: organization,
        occurred_at: state.services.clock.now(),
        event_type: event_type.to_owned(),
        actor: Some(admin.actor()),
        subject: Some(subject),
        correlation_id: context.correlation_id,
        ip: context.ip.map(|ip| ip.to_string()),
        user_agent: context.user_agent,
        data,
    };
    if let Err(error) = state.stores.audit.append(&[event]).await {
        tracing::warn!(%error, event_type, "could not record an admin audit event");
    }
}

/// The admin API's part of the OpenAPI document (paths relative to `/api/v1`).
#[derive(Debug, OpenApi)]
#[openapi(
    paths(
        organizations::list, organizations::create, organizations::read, organizations::update, organizations::delete,
        users::list, users::create, users::read, users::update, users::delete, users::deactivate, users::reactivate,
        users::set_password, users::send_verification, mfa::read, mfa::reset,
        lockout::read, lockout::unlock_user, lockout::unlock_address,
        applications::list, applications::create, applications::read, applications::update, applications::delete,
        applications::rotate_secret,
        roles::list, roles::create, roles::read, roles::update, roles::delete,
        roles::user_roles, roles::assign_to_user, roles::unassign_from_user,
        roles::application_roles, roles::assign_to_application, roles::unassign_from_application,
        sessions::list, sessions::revoke, sessions::revoke_all,
        consents::list, consents::revoke, consents::revoke_all,
        identities::list, identities::delete,
        keys::list, keys::rotate,
        audit::list,
        identity_providers::list, identity_providers::create, identity_providers::read,
        identity_providers::update, identity_providers::delete,
    ),
    tags(
        (name = "organizations", description = "Tenants: each is an OpenID issuer `{public_url}/o/{slug}`"),
        (name = "users", description = "People who log in to one organization"),
        (name = "applications", description = "OAuth clients; secrets are shown once"),
        (name = "roles", description = "Roles and permissions, carried in access tokens as `roles` and `permissions`"),
        (name = "sessions", description = "Users' login sessions"),
        (name = "consents", description = "Users' remembered consents to applications"),
        (name = "keys", description = "Signing keys and their rotation"),
        (name = "audit", description = "The audit log"),
        (name = "identity-providers", description = "Upstream OpenID Connect providers (federation); secrets are write-only"),
    ),
)]
pub struct AdminApi;

/// Adds the bearer security scheme and the problem responses every admin
/// operation can give, so each is documented once and everywhere.
#[derive(Debug)]
pub struct AdminConventions;

impl Modify for AdminConventions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token of ZenoAuth (typ at+jwt) issued for the scope `zenoauth:admin` \
                         (audience `{public_url}/api`) to a subject holding `platform-admin` (system \
                         organization) or `org-admin`.",
                    ))
                    .build(),
            ),
        );
        for (path, item) in openapi.paths.paths.iter_mut() {
            if path.starts_with("/api/v1/") {
                add_problem_responses(item);
            }
        }
    }
}

fn problem(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/problem+json",
            ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build(),
        )
        .build()
}

fn add_problem_responses(item: &mut PathItem) {
    let operations: [(&mut Option<Operation>, bool, bool); 5] = [
        (&mut item.get, false, false),
        (&mut item.post, true, false),
        (&mut item.put, true, false),
        (&mut item.patch, true, true),
        (&mut item.delete, false, false),
    ];
    for (operation, has_body, is_update) in operations {
        let Some(operation) = operation.as_mut() else { continue };
        let mut add = |status: &str, description: &str| {
            operation.responses.responses.entry(status.to_owned()).or_insert_with(|| problem(description).into());
        };
        add("400", "Invalid request: a malformed body, query or value (type …/problems/validation)");
        add("401", "No valid bearer token (…/problems/unauthenticated); see WWW-Authenticate");
        add("403", "The token carries no admin role for this (…/problems/forbidden)");
        add("404", "No such object, or one of another organization (…/problems/not-found)");
        add("405", "Method not allowed");
        add("409", "A uniqueness rule or the object's state forbids this (…/problems/conflict)");
        add("413", "The body is larger than the server's limit (…/problems/payload-too-large)");
        if has_body {
            add("415", "The body is not application/json (…/problems/unsupported-media-type)");
        }
        if is_update {
            add("412", "If-Match does not match the current ETag (…/problems/precondition-failed)");
            add("428", "If-Match is missing (…/problems/precondition-required)");
        }
        add("429", "Too many requests from this source (see Retry-After)");
        add("500", "An unexpected failure; nothing internal is disclosed (…/problems/internal)");
        add("503", "A dependency is unavailable or the request timed out (…/problems/unavailable)");
    }
}
