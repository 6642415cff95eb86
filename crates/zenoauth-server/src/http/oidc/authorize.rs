//! `GET/POST /authorize` (RFC 6749 §4.1.1, OIDC Core §3.1.2): validates the
//! request, then shows the login or consent page, or answers the client.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use zenoauth_domain::model::Session;
use zenoauth_domain::oauth::{AuthorizeRejection, Issuer, OpenIdProvider, Params, Step};

use super::flow::{self, authorization_response, branding, internal_page};
use super::{consent, login, Tenant};
use crate::http::pages::{error_page, strings, Branding};
use crate::http::AppState;

/// The whole authorization request, as received, at most this long.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024;

pub async fn authorize(
    State(state): State<AppState>,
    tenant: Tenant,
    method: Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let branding = branding(&tenant);
    let raw = if method == Method::POST {
        match flow::form_body(&headers, &body) {
            Some(text) => text,
            None => return error_page(StatusCode::BAD_REQUEST, "The request must be a form.", &branding),
        }
    } else {
        query.unwrap_or_default()
    };
    if raw.len() > MAX_REQUEST_BYTES {
        return error_page(StatusCode::BAD_REQUEST, "The request is too large.", &branding);
    }
    let pairs = flow::decode_pairs(&raw);
    let session = match current_session(&state, &tenant, &headers).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    proceed(&state, &tenant, &headers, pairs, session, false, method == Method::POST).await
}

pub(super) async fn current_session(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
) -> Result<Option<Session>, Response> {
    let provider = flow::provider(state);
    let issuer = flow::issuer(tenant, state);
    let value = flow::cookie(headers, &flow::session_cookie_name(state, tenant));
    provider.current_session(&issuer, value.as_deref()).await.map_err(|error| internal_page(&error, &branding(tenant)))
}

/// Validates the authorization request in `pairs` and takes its next step.
pub(crate) async fn proceed(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
    pairs: Vec<(String, String)>,
    session: Option<Session>,
    just_authenticated: bool,
    after_post: bool,
) -> Response {
    let branding = branding(tenant);
    let provider = flow::provider(state);
    let issuer = flow::issuer(tenant, state);
    let serialized = flow::encode_pairs(&pairs);
    let params = match Params::new(pairs) {
        Ok(params) => params,
        Err(_) => {
            return error_page(StatusCode::BAD_REQUEST, "The request has too many or too long parameters.", &branding)
        }
    };
    let request = match provider.authorization_request(&issuer, &params).await {
        Ok(request) => request,
        Err(rejection) => return rejected(rejection, after_post, &branding),
    };
    let step = match provider.next_step(&issuer, &request, session.as_ref(), just_authenticated).await {
        Ok(step) => step,
        Err(error) => return internal_page(&error, &branding),
    };
    match (step, session) {
        (Step::Redirect(response), _) => authorization_response(&response, after_post, &branding),
        (Step::Login, _) => {
            // Upstream identity providers (issue 6): `idp_hint` goes straight to one.
            let providers = super::federation::enabled_providers(state, tenant).await;
            let hint = params.get("idp_hint").ok().flatten();
            let hinted = hint.and_then(|hint| {
                providers.iter().find(|provider| provider.id.to_string() == hint || provider.name == hint)
            });
            if let Some(provider) = hinted {
                return super::federation::redirect_to_upstream(state, tenant, headers, provider, Some(&serialized))
                    .await;
            }
            login::login_page_with(
                state,
                headers,
                &branding,
                Some(&serialized),
                request.login_hint.as_deref(),
                Some(request.redirect_uri.as_str()),
                None,
                &providers,
            )
        }
        (Step::Consent, Some(session)) => {
            consent_page(state, headers, provider, &issuer, &branding, &request, &session, &serialized).await
        }
        (Step::Consent, None) => error_page(StatusCode::BAD_REQUEST, strings::ERROR_TITLE, &branding),
        // A second factor is required and this session has not passed one (crate::http::mfa).
        (Step::SecondFactor, Some(session)) => {
            crate::http::mfa::step_up(state, tenant, headers, &session, &serialized).await
        }
        (Step::SecondFactor, None) => error_page(StatusCode::BAD_REQUEST, strings::ERROR_TITLE, &branding),
    }
}

#[allow(clippy::too_many_arguments)]
async fn consent_page(
    state: &AppState,
    headers: &HeaderMap,
    provider: &OpenIdProvider,
    issuer: &Issuer,
    branding: &Branding,
    request: &zenoauth_domain::oauth::AuthorizationRequest,
    session: &Session,
    serialized: &str,
) -> Response {
    match provider.session_user(issuer, session).await {
        Ok(user) => consent::consent_page(state, headers, branding, request, user.email.as_str(), serialized),
        Err(error) => internal_page(&error, branding),
    }
}

pub(super) fn rejected(rejection: AuthorizeRejection, after_post: bool, branding: &Branding) -> Response {
    match rejection {
        AuthorizeRejection::Page(message) => error_page(StatusCode::BAD_REQUEST, message, branding),
        AuthorizeRejection::Redirect(response) => authorization_response(&response, after_post, branding),
        AuthorizeRejection::Internal(error) => internal_page(&error, branding),
    }
}
