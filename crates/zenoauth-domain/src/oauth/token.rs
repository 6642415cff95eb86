//! The token endpoint (RFC 6749 §3.2, §4.1.3, §4.4, §6; RFC 7636 §4.6;
//! RFC 7523 §2.2 and §3; OIDC Core §3.1.3) and client authentication,
//! which introspection and revocation share.

use serde_json::{json, Value as Json};
use time::{Duration, OffsetDateTime};

use super::settings::{ApplicationSettings, ClientAuthMethod, GrantType};
use super::{base64url, ErrorCode, Issuer, OAuthError, OpenIdProvider, Params, ACCESS_TOKEN_TYP, ID_TOKEN_TYP};
use crate::error::Error;
use crate::ids::{AuthorizationCodeId, SessionId, UserId};
use crate::model::{Application, CodeRedemption, RefreshRotation, RefreshToken, RefreshTokenFamily, Revocation};
use crate::ports::SecretKind;
use crate::security::audit::event_types;
use crate::values::{ClientId, ScopeSet};

/// The `client_assertion_type` of RFC 7523 §2.2.
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Client assertions may live at most this long (exp − now).
const MAX_ASSERTION_LIFETIME: Duration = Duration::minutes(10);

/// Credentials from the `Authorization: Basic` header (RFC 6749 §2.3.1),
/// already form-urldecoded by the server.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: String,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials").field("client_id", &self.client_id).finish_non_exhaustive()
    }
}

/// A successful token response (RFC 6749 §5.1, OIDC Core §3.1.3.3).
#[derive(Clone, PartialEq, Eq)]
pub struct TokenResponse {
    pub access_token: String,
    pub expires_in: i64,
    pub scope: String,
    pub id_token: Option<String>,
    pub refresh_token: Option<String>,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse").field("scope", &self.scope).finish_non_exhaustive()
    }
}

/// Who and how the user authenticated, carried into tokens.
#[derive(Debug, Clone)]
struct UserGrant {
    user: UserId,
    session: Option<SessionId>,
    auth_time: OffsetDateTime,
    nonce: Option<String>,
    /// The access token's `jti` when chosen in advance (recorded against
    /// the code before signing); otherwise `mint` makes one.
    access_jti: Option<String>,
}

impl OpenIdProvider {
    /// Authenticates the client of a token, introspection or revocation
    /// request by exactly one method, the one it registered. `audience_ok`
    /// lists the `aud` values a client assertion may carry.
    pub async fn authenticate_client(
        &self,
        issuer: &Issuer,
        params: &Params,
        basic: Option<&ClientCredentials>,
        audiences: &[String],
    ) -> Result<(Application, ApplicationSettings), OAuthError> {
        let body_client_id = params.get("client_id")?;
        let body_secret = params.get("client_secret")?;
        let assertion = params.get("client_assertion")?;
        let assertion_type = params.get("client_assertion_type")?;
        let methods =
            usize::from(basic.is_some()) + usize::from(body_secret.is_some()) + usize::from(assertion.is_some());
        if methods > 1 {
            return Err(OAuthError::invalid_request("use exactly one client authentication method"));
        }
        if assertion.is_some() != assertion_type.is_some() {
            return Err(OAuthError::invalid_request("client_assertion and client_assertion_type go together"));
        }
        let (method, client_id) = if let Some(basic) = basic {
            if body_client_id.is_some_and(|id| id != basic.client_id) {
                return Err(OAuthError::invalid_request("client_id differs from the authenticated client"));
            }
            (ClientAuthMethod::ClientSecretBasic, basic.client_id.clone())
        } else if let Some(assertion) = assertion {
            if assertion_type != Some(JWT_BEARER_ASSERTION) {
                return Err(OAuthError::invalid_request("client_assertion_type must be jwt-bearer"));
            }
            let subject = unverified_claim(assertion, "sub").ok_or(OAuthError::invalid_client())?;
            if body_client_id.is_some_and(|id| id != subject) {
                return Err(OAuthError::invalid_client());
            }
            (ClientAuthMethod::PrivateKeyJwt, subject)
        } else {
            let client_id = body_client_id.ok_or(OAuthError::invalid_client())?.to_owned();
            let method =
                if body_secret.is_some() { ClientAuthMethod::ClientSecretPost } else { ClientAuthMethod::None };
            (method, client_id)
        };
        let client_id = ClientId::parse(&client_id).map_err(|_| OAuthError::invalid_client())?;
        let application = self
            .stores
            .applications
            .find_by_client_id(issuer.organization.id, &client_id)
            .await?
            .ok_or(OAuthError::invalid_client())?;
        let settings = ApplicationSettings::from_application(&application).map_err(|_| OAuthError::invalid_client())?;
        if settings.token_endpoint_auth_method != method {
            return Err(OAuthError::invalid_client());
        }
        let authenticated = match method {
            ClientAuthMethod::None => !application.client_type.is_confidential(),
            ClientAuthMethod::ClientSecretBasic | ClientAuthMethod::ClientSecretPost => {
                let presented = basic.map(|basic| basic.client_secret.as_str()).or(body_secret).unwrap_or_default();
                let digest = self.crypto.digest_secret(presented);
                let current = application
                    .client_type
                    .secret_digest()
                    .is_some_and(|stored| digests_equal(stored.as_bytes(), digest.as_bytes()));
                // After a rotation, the replaced secret works until its grace period ends.
                current
                    || (application.client_type.is_confidential()
                        && self
                            .stores
                            .client_secrets
                            .find_previous(issuer.organization.id, application.id, self.clock.now())
                            .await?
                            .is_some_and(|previous| digests_equal(previous.as_bytes(), digest.as_bytes())))
            }
            ClientAuthMethod::PrivateKeyJwt => {
                self.check_assertion(issuer, &application, &settings, assertion.unwrap_or_default(), audiences).await?
            }
        };
        if !authenticated {
            return Err(OAuthError::invalid_client());
        }
        Ok((application, settings))
    }

    /// RFC 7523 §3: signature by a registered key, iss = sub = client_id,
    /// an accepted audience, unexpired (and not too long-lived), nbf passed,
    /// and a jti never seen before.
    async fn check_assertion(
        &self,
        issuer: &Issuer,
        application: &Application,
        settings: &ApplicationSettings,
        assertion: &str,
        audiences: &[String],
    ) -> Result<bool, OAuthError> {
        let Some(jwks) = &settings.jwks else { return Ok(false) };
        let Ok(claims) = self.crypto.verify_with_jwks(jwks, assertion) else { return Ok(false) };
        let client_id = application.client_id.as_str();
        let now = self.clock.now();
        let text = |name: &str| claims.get(name).and_then(Json::as_str);
        let audience_ok = match claims.get("aud") {
            Some(Json::String(aud)) => audiences.contains(aud),
            Some(Json::Array(auds)) => {
                auds.iter().filter_map(Json::as_str).any(|aud| audiences.iter().any(|a| a == aud))
            }
            _ => false,
        };
        let Some(expires_at) = instant(&claims, "exp") else { return Ok(false) };
        let not_before_ok = instant(&claims, "nbf").is_none_or(|nbf| nbf <= now + Duration::seconds(60));
        let Some(jti) = text("jti").filter(|jti| !jti.is_empty() && jti.len() <= 256) else { return Ok(false) };
        if text("iss") != Some(client_id)
            || text("sub") != Some(client_id)
            || !audience_ok
            || expires_at <= now
            || expires_at > now + MAX_ASSERTION_LIFETIME
            || !not_before_ok
        {
            return Ok(false);
        }
        let first_use = self
            .stores
            .client_assertions
            .record_jti(issuer.organization.id, &application.client_id, jti, expires_at, now)
            .await?;
        Ok(first_use)
    }

    /// The token endpoint: dispatches on `grant_type` after authenticating
    /// the client.
    pub async fn token(
        &self,
        issuer: &Issuer,
        params: &Params,
        basic: Option<&ClientCredentials>,
    ) -> Result<TokenResponse, OAuthError> {
        if params.has_repeats() {
            return Err(OAuthError::invalid_request("a parameter was repeated"));
        }
        let audiences = [issuer.token_endpoint(), issuer.url.clone()];
        let (application, settings) = self.authenticate_client(issuer, params, basic, &audiences).await?;
        let grant = params.require("grant_type", "grant_type is required")?;
        let grant_type = GrantType::parse(grant)
            .ok_or(OAuthError::new(ErrorCode::UnsupportedGrantType, "grant_type is not supported"))?;
        if !settings.allows(grant_type) {
            return Err(OAuthError::new(ErrorCode::UnauthorizedClient, "the client may not use this grant type"));
        }
        match grant_type {
            GrantType::AuthorizationCode => self.code_grant(issuer, params, &application, &settings).await,
            GrantType::RefreshToken => self.refresh_grant(issuer, params, &application, &settings).await,
            GrantType::ClientCredentials => {
                self.client_credentials_grant(issuer, params, &application, &settings).await
            }
        }
    }

    async fn code_grant(
        &self,
        issuer: &Issuer,
        params: &Params,
        application: &Application,
        settings: &ApplicationSettings,
    ) -> Result<TokenResponse, OAuthError> {
        let organization = issuer.organization.id;
        let code = params.require("code", "code is required")?;
        let redirect_uri = params.require("redirect_uri", "redirect_uri is required")?;
        let verifier = params.get("code_verifier")?;
        let now = self.clock.now();
        let digest = self.crypto.digest_secret(code);
        let code = match self.stores.authorization_codes.redeem(organization, &digest, now).await {
            Ok(CodeRedemption::Redeemed(code)) => code,
            Ok(CodeRedemption::Replayed(code)) => {
                // RFC 6749 §4.1.2: revoke what was issued from a replayed code.
                let revoked = self.stores.refresh_tokens.revoke_for_code(organization, code.id, now).await?;
                let access = self.stores.authorization_codes.issued_access_token(organization, code.id).await?;
                let access_revoked = match access {
                    Some((jti, expires_at)) if expires_at > now => {
                        let revocation = Revocation { organization_id: organization, jti, revoked_at: now, expires_at };
                        self.stores.revocations.revoke(&revocation).await?;
                        true
                    }
                    _ => false,
                };
                let data = json!({
                    "code_id": code.id.to_string(),
                    "refresh_families_revoked": revoked,
                    "access_token_revoked": access_revoked,
                });
                let (client, user) = (application.client_id.to_string(), code.user_id.to_string());
                self.emit(organization, event_types::CODE_REPLAY_DETECTED, Some(client), Some(user), data);
                return Err(OAuthError::invalid_grant("the code was already used"));
            }
            Err(Error::InvalidGrant) => return Err(OAuthError::invalid_grant("the code is unknown or expired")),
            Err(error) => return Err(error.into()),
        };
        if code.application_id != application.id {
            return Err(OAuthError::invalid_grant("the code was issued to another client"));
        }
        if code.redirect_uri.as_str() != redirect_uri
            && crate::values::RedirectUri::parse(redirect_uri).ok().as_ref() != Some(&code.redirect_uri)
        {
            return Err(OAuthError::invalid_grant("redirect_uri differs from the authorization request"));
        }
        let Some(verifier) = verifier else {
            return Err(OAuthError::invalid_grant("code_verifier is required"));
        };
        if !self.crypto.verify_pkce_s256(verifier, &code.code_challenge) {
            return Err(OAuthError::invalid_grant("code_verifier does not match the code_challenge"));
        }
        let user = self.stores.users.get(organization, code.user_id).await;
        match user {
            Ok(user) if user.is_active => {}
            Ok(_) | Err(Error::NotFound(_)) => return Err(OAuthError::invalid_grant("the user is not active")),
            Err(error) => return Err(error.into()),
        }
        // Remember the access token's jti before it exists, so a replay racing
        // this exchange finds it. The margin covers the clock reads between
        // here and signing (the token's `exp` is counted from a later `now`).
        let jti = self.ids.uuid().to_string();
        let recorded_until = self.clock.now() + settings.access_token_lifetime + Duration::minutes(1);
        self.stores.authorization_codes.record_access_token(organization, code.id, &jti, recorded_until).await?;
        let grant = UserGrant {
            user: code.user_id,
            session: code.session_id,
            auth_time: code.auth_time,
            nonce: code.nonce,
            access_jti: Some(jti),
        };
        let refresh = if code.scope.contains("offline_access") && settings.allows(GrantType::RefreshToken) {
            Some(self.start_family(issuer, application, settings, &code.scope, &grant, Some(code.id)).await?)
        } else {
            None
        };
        let tokens = self.mint(issuer, application, settings, &code.scope, Some(&grant), refresh).await?;
        self.audit_tokens(
            event_types::TOKEN_ISSUED,
            issuer,
            application,
            Some(grant.user),
            "authorization_code",
            &tokens,
        );
        Ok(tokens)
    }

    async fn start_family(
        &self,
        issuer: &Issuer,
        application: &Application,
        settings: &ApplicationSettings,
        scope: &ScopeSet,
        grant: &UserGrant,
        code: Option<AuthorizationCodeId>,
    ) -> Result<String, OAuthError> {
        let now = self.clock.now();
        let secret = self.crypto.issue_secret(SecretKind::RefreshToken);
        let family = RefreshTokenFamily {
            id: self.ids.next(),
            organization_id: issuer.organization.id,
            application_id: application.id,
            user_id: Some(grant.user),
            session_id: grant.session,
            authorization_code_id: code,
            scope: scope.clone(),
            auth_time: Some(grant.auth_time),
            created_at: now,
            expires_at: now + settings.refresh_token_lifetime,
            revoked_at: None,
        };
        let first = RefreshToken {
            token_digest: secret.digest,
            family_id: family.id,
            organization_id: issuer.organization.id,
            created_at: now,
            expires_at: family.expires_at,
            rotated_at: None,
        };
        self.stores.refresh_tokens.create_family(&family, &first).await?;
        Ok(secret.plaintext)
    }

    async fn refresh_grant(
        &self,
        issuer: &Issuer,
        params: &Params,
        application: &Application,
        settings: &ApplicationSettings,
    ) -> Result<TokenResponse, OAuthError> {
        let organization = issuer.organization.id;
        let presented = params.require("refresh_token", "refresh_token is required")?;
        let digest = self.crypto.digest_secret(presented);
        let Some((_, family)) = self.stores.refresh_tokens.find(organization, &digest).await? else {
            return Err(OAuthError::invalid_grant("the refresh token is unknown"));
        };
        if family.application_id != application.id {
            return Err(OAuthError::invalid_grant("the refresh token was issued to another client"));
        }
        let scope = match params.get("scope")? {
            None => family.scope.clone(),
            Some(text) => {
                let asked = ScopeSet::parse(text)
                    .map_err(|_| OAuthError::new(ErrorCode::InvalidScope, "scope is malformed"))?;
                if !asked.is_subset_of(&family.scope) {
                    return Err(OAuthError::new(ErrorCode::InvalidScope, "scope exceeds the original grant"));
                }
                asked
            }
        };
        let now = self.clock.now();
        let successor = self.crypto.issue_secret(SecretKind::RefreshToken);
        let family = match self
            .stores
            .refresh_tokens
            .rotate(organization, &digest, &successor.digest, family.expires_at, now)
            .await
        {
            Ok(RefreshRotation::Rotated(family)) => family,
            Ok(RefreshRotation::ReuseDetected(family)) => {
                let data = json!({"family_id": family.id.to_string()});
                let user = family.user_id.map(|user| user.to_string());
                let client = Some(application.client_id.to_string());
                self.emit(organization, event_types::REFRESH_REUSE_DETECTED, client, user, data);
                return Err(OAuthError::invalid_grant("the refresh token was already used; its family is revoked"));
            }
            Err(Error::InvalidGrant) => {
                return Err(OAuthError::invalid_grant("the refresh token is expired or revoked"))
            }
            Err(error) => return Err(error.into()),
        };
        let Some(user) = family.user_id else {
            return Err(OAuthError::invalid_grant("the refresh token has no user"));
        };
        match self.stores.users.get(organization, user).await {
            Ok(found) if found.is_active => {}
            Ok(_) | Err(Error::NotFound(_)) => {
                self.stores.refresh_tokens.revoke_family(organization, family.id, now).await?;
                return Err(OAuthError::invalid_grant("the user is not active"));
            }
            Err(error) => return Err(error.into()),
        }
        let grant = UserGrant {
            user,
            session: family.session_id,
            auth_time: family.auth_time.unwrap_or(family.created_at),
            nonce: None,
            access_jti: None,
        };
        let tokens = self.mint(issuer, application, settings, &scope, Some(&grant), Some(successor.plaintext)).await?;
        self.audit_tokens(event_types::TOKEN_REFRESHED, issuer, application, Some(user), "refresh_token", &tokens);
        Ok(tokens)
    }

    async fn client_credentials_grant(
        &self,
        issuer: &Issuer,
        params: &Params,
        application: &Application,
        settings: &ApplicationSettings,
    ) -> Result<TokenResponse, OAuthError> {
        if !application.client_type.is_confidential() {
            return Err(OAuthError::new(ErrorCode::UnauthorizedClient, "public clients cannot use client_credentials"));
        }
        let user_scopes = ["openid", "profile", "email", "offline_access"];
        let scope = match params.get("scope")? {
            Some(text) => {
                let asked = ScopeSet::parse(text)
                    .map_err(|_| OAuthError::new(ErrorCode::InvalidScope, "scope is malformed"))?;
                if !asked.is_subset_of(&application.allowed_scopes) || user_scopes.iter().any(|s| asked.contains(s)) {
                    return Err(OAuthError::new(ErrorCode::InvalidScope, "a requested scope is not allowed"));
                }
                asked
            }
            None => ScopeSet::from_scopes(
                application.allowed_scopes.iter().filter(|scope| !user_scopes.contains(&scope.as_str())).cloned(),
            ),
        };
        let tokens = self.mint(issuer, application, settings, &scope, None, None).await?;
        self.audit_tokens(event_types::TOKEN_ISSUED, issuer, application, None, "client_credentials", &tokens);
        Ok(tokens)
    }

    fn audit_tokens(
        &self,
        event_type: &str,
        issuer: &Issuer,
        application: &Application,
        user: Option<UserId>,
        grant_type: &str,
        tokens: &TokenResponse,
    ) {
        let data = json!({
            "grant_type": grant_type,
            "scope": tokens.scope,
            "id_token": tokens.id_token.is_some(),
            "refresh_token": tokens.refresh_token.is_some(),
        });
        let client = application.client_id.to_string();
        let subject = user.map_or_else(|| client.clone(), |user| user.to_string());
        self.emit(issuer.organization.id, event_type, Some(client), Some(subject), data);
    }

    /// Signs the access token (and, for `openid` user grants, the ID token).
    async fn mint(
        &self,
        issuer: &Issuer,
        application: &Application,
        settings: &ApplicationSettings,
        scope: &ScopeSet,
        grant: Option<&UserGrant>,
        refresh_token: Option<String>,
    ) -> Result<TokenResponse, OAuthError> {
        let now = self.clock.now();
        let jti = grant.and_then(|grant| grant.access_jti.clone()).unwrap_or_else(|| self.ids.uuid().to_string());
        let key = self.keys.signing_key(issuer.organization.id, settings.signing_algorithm).await?;
        let client_id = application.client_id.as_str();
        let subject = grant.map_or_else(|| client_id.to_owned(), |grant| grant.user.to_string());
        // The subject's roles in this organization (crate::roles), for resource servers.
        let roles = match grant {
            Some(grant) => self.stores.roles.roles_of_user(issuer.organization.id, grant.user).await?,
            None => self.stores.roles.roles_of_application(issuer.organization.id, application.id).await?,
        };
        let (role_names, permissions) = crate::roles::claims_of(&roles);
        // A token for the admin API (scope zenoauth:admin) is also for `{public_url}/api`.
        let audience = match admin_audience(issuer) {
            Some(admin) if scope.contains(crate::roles::ADMIN_SCOPE) => json!([client_id, admin]),
            _ => json!(client_id),
        };
        let mut access = json!({
            "iss": issuer.url,
            "sub": subject,
            "aud": audience,
            "roles": role_names,
            "permissions": permissions,
            "client_id": client_id,
            "scope": scope.to_string(),
            "jti": jti,
            "iat": now.unix_timestamp(),
            "exp": (now + settings.access_token_lifetime).unix_timestamp(),
        });
        if let (Some(grant), Some(claims)) = (grant, access.as_object_mut()) {
            claims.insert("auth_time".to_owned(), json!(grant.auth_time.unix_timestamp()));
            if let Some(session) = grant.session {
                claims.insert("sid".to_owned(), json!(session.to_string()));
            }
        }
        let access_token = self.signer.sign(&key, ACCESS_TOKEN_TYP, &access)?;
        let id_token = match grant {
            Some(grant) if scope.contains("openid") => {
                // What the session's login used (crate::mfa): RFC 8176 `amr`, and `acr`.
                let (acr, amr) = match grant.session {
                    Some(session) => match self.stores.sessions.get(issuer.organization.id, session).await {
                        Ok(session) => (crate::mfa::acr_of(&session), crate::mfa::amr_of(&session)),
                        Err(Error::NotFound(_)) => (crate::mfa::ACR_PASSWORD, vec!["pwd".to_owned()]),
                        Err(error) => return Err(error.into()),
                    },
                    None => (crate::mfa::ACR_PASSWORD, vec!["pwd".to_owned()]),
                };
                let mut claims = json!({
                    "iss": issuer.url,
                    "sub": subject,
                    "aud": [client_id],
                    "azp": client_id,
                    "iat": now.unix_timestamp(),
                    "exp": (now + settings.id_token_lifetime).unix_timestamp(),
                    "auth_time": grant.auth_time.unix_timestamp(),
                    "at_hash": self.crypto.left_half_hash(settings.signing_algorithm, &access_token),
                    "acr": acr,
                    "amr": amr,
                });
                if let Some(object) = claims.as_object_mut() {
                    if let Some(nonce) = &grant.nonce {
                        object.insert("nonce".to_owned(), json!(nonce));
                    }
                    if let Some(session) = grant.session {
                        object.insert("sid".to_owned(), json!(session.to_string()));
                    }
                }
                Some(self.signer.sign(&key, ID_TOKEN_TYP, &claims)?)
            }
            _ => None,
        };
        Ok(TokenResponse {
            access_token,
            expires_in: settings.access_token_lifetime.whole_seconds(),
            scope: scope.to_string(),
            id_token,
            refresh_token,
        })
    }
}

/// The admin API's resource identifier, `{public_url}/api`, from an issuer
/// `{public_url}/o/{slug}`.
pub fn admin_audience(issuer: &Issuer) -> Option<String> {
    let suffix = format!("/o/{}", issuer.organization.slug);
    issuer.url.strip_suffix(&suffix).map(|public_url| format!("{public_url}/api"))
}

/// Digests are not secret, but compare them without early exit anyway.
fn digests_equal(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b.iter()).fold(0u8, |difference, (x, y)| difference | (x ^ y)) == 0
}

/// A string claim of a JWS payload, read WITHOUT verifying the signature:
/// only to find which client's keys to verify it with.
fn unverified_claim(token: &str, name: &str) -> Option<String> {
    if token.len() > 16 * 1024 {
        return None;
    }
    let payload = token.split('.').nth(1)?;
    let claims: Json = serde_json::from_slice(&base64url::decode(payload)?).ok()?;
    claims.get(name)?.as_str().map(str::to_owned)
}

/// A NumericDate claim as an instant.
pub(crate) fn instant(claims: &Json, name: &str) -> Option<OffsetDateTime> {
    let seconds = claims.get(name)?.as_i64()?;
    OffsetDateTime::from_unix_timestamp(seconds).ok()
}
