//! The authorization endpoint (RFC 6749 §4.1.1, OIDC Core §3.1.2, RFC 9700):
//! validating the request, deciding what the user must do next (log in,
//! consent) and issuing the code.

use time::Duration;

use super::settings::{ApplicationSettings, GrantType, CODE_LIFETIME};
use super::{ErrorCode, Issuer, OAuthError, OpenIdProvider, Params};
use crate::error::Result;
use crate::model::{Application, AuthorizationCode, CodeChallenge, Consent, Session};
use crate::ports::SecretKind;
use crate::values::{ClientId, RedirectUri, ScopeSet};

/// How the authorization response reaches the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    /// Redirect with the parameters in the query (RFC 6749 §4.1.2).
    Query,
    /// An HTML form POSTed to the redirect URI (OAuth 2.0 Form Post Response Mode).
    FormPost,
}

/// The `prompt` values (OIDC Core §3.1.2.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

/// A validated authorization request.
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    pub application: Application,
    pub settings: ApplicationSettings,
    pub redirect_uri: RedirectUri,
    pub response_mode: ResponseMode,
    pub scope: ScopeSet,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: CodeChallenge,
    pub prompt: Prompt,
    /// Seconds; `Some(0)` forces a fresh login.
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// `acr_values` (OIDC Core §3.1.2.1) asked for `mfa`: a second factor is
    /// required for this request. Other values are ignored (voluntary).
    pub requires_mfa: bool,
}

/// Where the user agent goes with the response: `redirect_uri` plus these
/// parameters (already including `state` and `iss`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectResponse {
    pub redirect_uri: RedirectUri,
    pub response_mode: ResponseMode,
    pub params: Vec<(&'static str, String)>,
}

impl RedirectResponse {
    /// The redirect URI with the parameters added to its query (for `Query`).
    pub fn location(&self) -> String {
        let mut url = match url::Url::parse(self.redirect_uri.as_str()) {
            Ok(url) => url,
            Err(_) => return self.redirect_uri.as_str().to_owned(),
        };
        {
            let mut query = url.query_pairs_mut();
            for (name, value) in &self.params {
                query.append_pair(name, value);
            }
        }
        url.into()
    }
}

/// A request that cannot proceed.
#[derive(Debug)]
pub enum AuthorizeRejection {
    /// Unknown client or unusable redirect URI: show an error page, never
    /// redirect (RFC 6749 §4.1.2.1). The text is safe to show.
    Page(&'static str),
    /// Send the error to the client's redirect URI.
    Redirect(RedirectResponse),
    Internal(crate::error::Error),
}

impl From<crate::error::Error> for AuthorizeRejection {
    fn from(error: crate::error::Error) -> Self {
        Self::Internal(error)
    }
}

/// What happens next for a valid request.
#[derive(Debug)]
pub enum Step {
    /// Show the login page.
    Login,
    /// Show the consent page for these scopes.
    Consent,
    /// The session has not passed a second factor and one is required (the
    /// organization's MFA policy, or `acr_values=mfa`): challenge or enrol
    /// (see [`crate::mfa::MultiFactor::demand_second_factor`]).
    SecondFactor,
    /// Done: send the user agent to the client (a code, or an error such as
    /// `login_required`).
    Redirect(RedirectResponse),
}

/// Longest accepted `state`, `nonce` and `login_hint`.
const MAX_STATE: usize = 2048;
const MAX_NONCE: usize = 512;
const MAX_LOGIN_HINT: usize = 256;

impl AuthorizationRequest {
    /// An error response for this request (RFC 6749 §4.1.2.1 with `iss`, RFC 9207).
    pub fn error(&self, issuer: &Issuer, code: ErrorCode, description: &'static str) -> RedirectResponse {
        error_response(issuer, &self.redirect_uri, self.response_mode, self.state.as_deref(), code, description)
    }

    /// Whether the user must consent: never for first-party applications
    /// (unless `prompt=consent`), otherwise unless a remembered consent covers
    /// every requested scope.
    fn needs_consent(&self, remembered: Option<&Consent>) -> bool {
        if self.prompt.consent {
            return true;
        }
        if self.settings.is_first_party {
            return false;
        }
        !remembered.is_some_and(|consent| self.scope.is_subset_of(&consent.scope))
    }
}

fn error_response(
    issuer: &Issuer,
    redirect_uri: &RedirectUri,
    response_mode: ResponseMode,
    state: Option<&str>,
    code: ErrorCode,
    description: &'static str,
) -> RedirectResponse {
    let mut params = vec![("error", code.as_str().to_owned()), ("error_description", description.to_owned())];
    if let Some(state) = state {
        params.push(("state", state.to_owned()));
    }
    params.push(("iss", issuer.url.clone()));
    RedirectResponse { redirect_uri: redirect_uri.clone(), response_mode, params }
}

impl OpenIdProvider {
    /// Validates an authorization request. Errors before the client and its
    /// redirect URI are established are pages; later ones redirect.
    pub async fn authorization_request(
        &self,
        issuer: &Issuer,
        params: &Params,
    ) -> Result<AuthorizationRequest, AuthorizeRejection> {
        let page = |_: OAuthError| AuthorizeRejection::Page("The request is malformed.");
        let client_id = params
            .get("client_id")
            .map_err(page)?
            .ok_or(AuthorizeRejection::Page("The request names no client (client_id is missing)."))?;
        let client_id =
            ClientId::parse(client_id).map_err(|_| AuthorizeRejection::Page("The client_id is not valid."))?;
        let application = self
            .stores
            .applications
            .find_by_client_id(issuer.organization.id, &client_id)
            .await?
            .ok_or(AuthorizeRejection::Page("The application is not known here."))?;
        let raw_redirect = params
            .get("redirect_uri")
            .map_err(page)?
            .ok_or(AuthorizeRejection::Page("The request has no redirect_uri."))?;
        let redirect_uri = RedirectUri::parse(raw_redirect)
            .ok()
            .filter(|uri| application.redirect_uris.contains(uri))
            .ok_or(AuthorizeRejection::Page("The redirect_uri is not registered for this application."))?;
        let settings = ApplicationSettings::from_application(&application)
            .map_err(|_| AuthorizeRejection::Page("The application is misconfigured."))?;

        // From here on errors go back to the client. State first, so it can be echoed.
        let state = match params.get("state") {
            Ok(state) => state.filter(|state| state.len() <= MAX_STATE).map(str::to_owned),
            Err(_) => None,
        };
        let (response_mode, mode_error) = match params.get("response_mode") {
            Ok(None | Some("query")) => (ResponseMode::Query, None),
            Ok(Some("form_post")) => (ResponseMode::FormPost, None),
            Ok(Some(_)) => (ResponseMode::Query, Some("response_mode must be query or form_post")),
            Err(_) => (ResponseMode::Query, Some("a parameter was repeated")),
        };
        let fail = |code: ErrorCode, description: &'static str| {
            AuthorizeRejection::Redirect(error_response(
                issuer,
                &redirect_uri,
                response_mode,
                state.as_deref(),
                code,
                description,
            ))
        };
        if let Some(description) = mode_error {
            return Err(fail(ErrorCode::InvalidRequest, description));
        }
        if params.has_repeats() {
            return Err(fail(ErrorCode::InvalidRequest, "a parameter was repeated"));
        }
        let get = |name: &str| params.get(name).ok().flatten();
        if get("request").is_some() {
            return Err(fail(ErrorCode::RequestNotSupported, "request objects are not supported"));
        }
        if get("request_uri").is_some() {
            return Err(fail(ErrorCode::RequestUriNotSupported, "request_uri is not supported"));
        }
        if get("state").is_some_and(|state| state.len() > MAX_STATE) {
            return Err(fail(ErrorCode::InvalidRequest, "state is too long"));
        }
        match get("response_type") {
            None => return Err(fail(ErrorCode::InvalidRequest, "response_type is required")),
            Some("code") => {}
            Some(_) => return Err(fail(ErrorCode::UnsupportedResponseType, "only response_type=code is supported")),
        }
        if !settings.allows(GrantType::AuthorizationCode) {
            return Err(fail(ErrorCode::UnauthorizedClient, "the client may not use the authorization code grant"));
        }
        let challenge = get("code_challenge")
            .ok_or_else(|| fail(ErrorCode::InvalidRequest, "PKCE is required: code_challenge is missing"))?;
        if get("code_challenge_method") != Some("S256") {
            return Err(fail(ErrorCode::InvalidRequest, "code_challenge_method must be S256"));
        }
        let code_challenge = CodeChallenge::parse_s256(challenge)
            .map_err(|_| fail(ErrorCode::InvalidRequest, "code_challenge is not a valid S256 challenge"))?;
        let scope = ScopeSet::parse(get("scope").unwrap_or_default())
            .map_err(|_| fail(ErrorCode::InvalidScope, "scope is malformed"))?;
        if scope.is_empty() {
            return Err(fail(ErrorCode::InvalidScope, "scope is required"));
        }
        if !scope.is_subset_of(&application.allowed_scopes) {
            return Err(fail(ErrorCode::InvalidScope, "a requested scope is not allowed for this client"));
        }
        if scope.contains("offline_access") && !settings.allows(GrantType::RefreshToken) {
            return Err(fail(ErrorCode::InvalidScope, "offline_access needs the refresh_token grant"));
        }
        let mut prompt = Prompt::default();
        for value in get("prompt").unwrap_or_default().split(' ').filter(|value| !value.is_empty()) {
            match value {
                "none" => prompt.none = true,
                "login" => prompt.login = true,
                "consent" => prompt.consent = true,
                _ => return Err(fail(ErrorCode::InvalidRequest, "prompt must be none, login or consent")),
            }
        }
        if prompt.none && (prompt.login || prompt.consent) {
            return Err(fail(ErrorCode::InvalidRequest, "prompt=none cannot be combined with other values"));
        }
        let requires_mfa = get("acr_values").unwrap_or_default().split(' ').any(|value| value == crate::mfa::ACR_MFA);
        let max_age = match get("max_age") {
            None => None,
            Some(text) => Some(
                text.parse::<i64>()
                    .ok()
                    .filter(|seconds| (0..=100 * 365 * 86_400).contains(seconds))
                    .ok_or_else(|| fail(ErrorCode::InvalidRequest, "max_age must be a non-negative integer"))?,
            ),
        };
        let nonce = get("nonce").map(str::to_owned);
        if nonce.as_ref().is_some_and(|nonce| nonce.len() > MAX_NONCE) {
            return Err(fail(ErrorCode::InvalidRequest, "nonce is too long"));
        }
        let login_hint = get("login_hint").map(str::to_owned);
        if login_hint.as_ref().is_some_and(|hint| hint.len() > MAX_LOGIN_HINT) {
            return Err(fail(ErrorCode::InvalidRequest, "login_hint is too long"));
        }
        Ok(AuthorizationRequest {
            application,
            settings,
            redirect_uri,
            response_mode,
            scope,
            state,
            nonce,
            code_challenge,
            prompt,
            max_age,
            login_hint,
            requires_mfa,
        })
    }

    /// What the user must do next, given the session the browser brought
    /// (`None` when it has none) and whether the user has just logged in
    /// within this request (which satisfies `prompt=login` and `max_age`).
    pub async fn next_step(
        &self,
        issuer: &Issuer,
        request: &AuthorizationRequest,
        session: Option<&Session>,
        just_authenticated: bool,
    ) -> Result<Step> {
        let now = self.clock.now();
        let Some(session) = session else {
            return Ok(if request.prompt.none {
                Step::Redirect(request.error(issuer, ErrorCode::LoginRequired, "the user is not logged in"))
            } else {
                Step::Login
            });
        };
        if !just_authenticated {
            let too_old =
                request.max_age.is_some_and(|max_age| now - session.authenticated_at > Duration::seconds(max_age));
            if request.prompt.login || too_old {
                return Ok(if request.prompt.none {
                    Step::Redirect(request.error(issuer, ErrorCode::LoginRequired, "the user must log in again"))
                } else {
                    Step::Login
                });
            }
        }
        let policy = crate::mfa::MfaPolicy::from_organization(&issuer.organization).unwrap_or_default();
        let needs_mfa = request.requires_mfa || policy == crate::mfa::MfaPolicy::Required;
        if needs_mfa && !crate::mfa::amr_of(session).iter().any(|value| value == "mfa") {
            return Ok(if request.prompt.none {
                Step::Redirect(request.error(issuer, ErrorCode::InteractionRequired, "a second factor is required"))
            } else {
                Step::SecondFactor
            });
        }
        let remembered =
            self.stores.consents.find(issuer.organization.id, session.user_id, request.application.id).await?;
        if request.needs_consent(remembered.as_ref()) {
            return Ok(if request.prompt.none {
                Step::Redirect(request.error(issuer, ErrorCode::ConsentRequired, "the user has not consented"))
            } else {
                Step::Consent
            });
        }
        self.issue_code(issuer, request, session).await.map(Step::Redirect)
    }

    /// The user approved (or declined) the consent page.
    pub async fn decide_consent(
        &self,
        issuer: &Issuer,
        request: &AuthorizationRequest,
        session: &Session,
        approved: bool,
    ) -> Result<RedirectResponse> {
        if !approved {
            return Ok(request.error(issuer, ErrorCode::AccessDenied, "the user declined"));
        }
        let now = self.clock.now();
        let earlier =
            self.stores.consents.find(issuer.organization.id, session.user_id, request.application.id).await?;
        let scope = match earlier {
            Some(consent) => ScopeSet::from_scopes(consent.scope.iter().chain(request.scope.iter()).cloned()),
            None => request.scope.clone(),
        };
        self.stores
            .consents
            .save(&Consent {
                organization_id: issuer.organization.id,
                user_id: session.user_id,
                application_id: request.application.id,
                scope,
                granted_at: now,
            })
            .await?;
        self.issue_code(issuer, request, session).await
    }

    /// Issues a code bound to the client, redirect URI, PKCE challenge, nonce,
    /// session and auth_time; valid for [`CODE_LIFETIME`].
    async fn issue_code(
        &self,
        issuer: &Issuer,
        request: &AuthorizationRequest,
        session: &Session,
    ) -> Result<RedirectResponse> {
        let now = self.clock.now();
        let secret = self.crypto.issue_secret(SecretKind::AuthorizationCode);
        self.stores
            .authorization_codes
            .create(&AuthorizationCode {
                id: self.ids.next(),
                organization_id: issuer.organization.id,
                code_digest: secret.digest,
                application_id: request.application.id,
                user_id: session.user_id,
                session_id: Some(session.id),
                redirect_uri: request.redirect_uri.clone(),
                scope: request.scope.clone(),
                code_challenge: request.code_challenge.clone(),
                nonce: request.nonce.clone(),
                auth_time: session.authenticated_at,
                created_at: now,
                expires_at: now + CODE_LIFETIME,
                consumed_at: None,
            })
            .await?;
        let mut params = vec![("code", secret.plaintext)];
        if let Some(state) = &request.state {
            params.push(("state", state.clone()));
        }
        params.push(("iss", issuer.url.clone()));
        Ok(RedirectResponse {
            redirect_uri: request.redirect_uri.clone(),
            response_mode: request.response_mode,
            params,
        })
    }

    /// Forgets the user's consent to an application (they can revoke it) and
    /// revokes the refresh-token families the application holds for the user,
    /// so the grant ends now, not when those tokens would have expired.
    /// `Ok(false)` when there was no consent (the families are revoked anyway).
    pub async fn revoke_consent(
        &self,
        issuer: &Issuer,
        user: crate::ids::UserId,
        application: crate::ids::ApplicationId,
    ) -> Result<bool> {
        let organization = issuer.organization.id;
        let existed = self.stores.consents.delete(organization, user, application).await?;
        let now = self.clock.now();
        self.stores.refresh_tokens.revoke_for_user_application(organization, user, application, now).await?;
        Ok(existed)
    }
}
