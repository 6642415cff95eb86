//! Protected resources of the provider itself: userinfo (OIDC Core §5.3,
//! RFC 6750), introspection (RFC 7662) and revocation (RFC 7009).

use serde_json::{json, Map, Value as Json};

use super::token::{instant, ClientCredentials};
use super::{ErrorCode, Issuer, OAuthError, OpenIdProvider, Params, ACCESS_TOKEN_TYP};
use crate::error::Error;
use crate::model::Revocation;
use crate::security::audit::event_types;

/// Why a bearer request failed (RFC 6750 §3.1).
#[derive(Debug)]
pub enum BearerError {
    /// No token, or an expired, revoked, malformed or foreign one: 401.
    InvalidToken,
    /// A valid token without the `openid` scope: 403.
    InsufficientScope,
    Internal(Error),
}

impl From<Error> for BearerError {
    fn from(error: Error) -> Self {
        Self::Internal(error)
    }
}

/// Profile claims copied from the user's `profile` object with scope `profile`.
const PROFILE_CLAIMS: [&str; 13] = [
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "profile",
    "picture",
    "website",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
];

impl OpenIdProvider {
    /// The claims of one of this issuer's access tokens, if it is valid now:
    /// signed by a published key of the organization as `at+jwt`, issued by
    /// this issuer, unexpired, not before its `nbf` (when it has one) and
    /// not revoked.
    pub async fn verify_access_token(&self, issuer: &Issuer, token: &str) -> Result<Option<Json>, Error> {
        let keys = self.keys.published_keys(issuer.organization.id).await?;
        let Ok(claims) = self.verifier.verify(&keys, token, ACCESS_TOKEN_TYP) else {
            return Ok(None);
        };
        if claims.get("iss").and_then(Json::as_str) != Some(issuer.url.as_str()) {
            return Ok(None);
        }
        let now = self.clock.now();
        if instant(&claims, "exp").is_none_or(|exp| exp <= now) || instant(&claims, "nbf").is_some_and(|nbf| nbf > now)
        {
            return Ok(None);
        }
        let Some(jti) = claims.get("jti").and_then(Json::as_str) else { return Ok(None) };
        if self.stores.revocations.is_revoked(issuer.organization.id, jti).await? {
            return Ok(None);
        }
        Ok(Some(claims))
    }

    /// The userinfo response for a bearer token.
    pub async fn userinfo(&self, issuer: &Issuer, token: &str) -> Result<Json, BearerError> {
        let claims = self.verify_access_token(issuer, token).await?.ok_or(BearerError::InvalidToken)?;
        let scope = claims.get("scope").and_then(Json::as_str).unwrap_or_default();
        let scopes: Vec<&str> = scope.split(' ').collect();
        if !scopes.contains(&"openid") {
            return Err(BearerError::InsufficientScope);
        }
        let subject = claims.get("sub").and_then(Json::as_str).unwrap_or_default();
        let user_id = subject.parse().map_err(|_| BearerError::InvalidToken)?;
        let user = match self.stores.users.get(issuer.organization.id, user_id).await {
            Ok(user) if user.is_active => user,
            Ok(_) | Err(Error::NotFound(_)) => return Err(BearerError::InvalidToken),
            Err(error) => return Err(error.into()),
        };
        let mut response = Map::new();
        response.insert("sub".to_owned(), json!(subject));
        if scopes.contains(&"email") {
            response.insert("email".to_owned(), json!(user.email.as_str()));
            response.insert("email_verified".to_owned(), json!(user.email_verified));
        }
        if scopes.contains(&"profile") {
            for claim in PROFILE_CLAIMS {
                if let Some(value) = user.profile.get(claim).filter(|value| !value.is_null()) {
                    response.insert(claim.to_owned(), value.clone());
                }
            }
            response.insert("updated_at".to_owned(), json!(user.updated_at.unix_timestamp()));
        }
        Ok(Json::Object(response))
    }

    /// RFC 7662: any authenticated client of the organization may introspect
    /// access tokens; refresh tokens only by the client they were issued to.
    pub async fn introspect(
        &self,
        issuer: &Issuer,
        params: &Params,
        basic: Option<&ClientCredentials>,
    ) -> Result<Json, OAuthError> {
        if params.has_repeats() {
            return Err(OAuthError::invalid_request("a parameter was repeated"));
        }
        let audiences = [format!("{}/introspect", issuer.url), issuer.url.clone()];
        let (application, _) = self.authenticate_client(issuer, params, basic, &audiences).await?;
        let token = params.require("token", "token is required")?;
        let hint = params.get("token_type_hint")?;
        if hint != Some("refresh_token") {
            if let Some(claims) = self.verify_access_token(issuer, token).await? {
                let mut response = json!({"active": true, "token_type": "Bearer"});
                if let (Some(object), Some(claims)) = (response.as_object_mut(), claims.as_object()) {
                    for name in ["scope", "client_id", "sub", "exp", "iat", "iss", "aud", "jti", "auth_time", "sid"] {
                        if let Some(value) = claims.get(name) {
                            object.insert(name.to_owned(), value.clone());
                        }
                    }
                }
                return Ok(response);
            }
        }
        let digest = self.crypto.digest_secret(token);
        if let Some((refresh, family)) = self.stores.refresh_tokens.find(issuer.organization.id, &digest).await? {
            let now = self.clock.now();
            let live = family.revoked_at.is_none()
                && refresh.rotated_at.is_none()
                && refresh.expires_at > now
                && family.expires_at > now
                && family.application_id == application.id;
            if live {
                let mut response = json!({
                    "active": true,
                    "scope": family.scope.to_string(),
                    "client_id": application.client_id.as_str(),
                    "exp": refresh.expires_at.unix_timestamp(),
                    "iat": refresh.created_at.unix_timestamp(),
                    "iss": issuer.url,
                    "token_type": "refresh_token",
                });
                if let (Some(object), Some(user)) = (response.as_object_mut(), family.user_id) {
                    object.insert("sub".to_owned(), json!(user.to_string()));
                }
                return Ok(response);
            }
        }
        Ok(json!({"active": false}))
    }

    /// RFC 7009: revokes a refresh token (its whole family) or an access
    /// token (by jti) of the authenticated client. Unknown tokens, and tokens
    /// of other clients, are answered the same way (200) and left alone.
    pub async fn revoke(
        &self,
        issuer: &Issuer,
        params: &Params,
        basic: Option<&ClientCredentials>,
    ) -> Result<(), OAuthError> {
        if params.has_repeats() {
            return Err(OAuthError::invalid_request("a parameter was repeated"));
        }
        let audiences = [format!("{}/revoke", issuer.url), issuer.url.clone()];
        let (application, _) = self.authenticate_client(issuer, params, basic, &audiences).await?;
        let token = params.require("token", "token is required")?;
        match params.get("token_type_hint")? {
            None | Some("access_token" | "refresh_token") => {}
            Some(_) => return Err(OAuthError::new(ErrorCode::UnsupportedTokenType, "unknown token_type_hint")),
        }
        let organization = issuer.organization.id;
        let now = self.clock.now();
        let digest = self.crypto.digest_secret(token);
        if let Some((_, family)) = self.stores.refresh_tokens.find(organization, &digest).await? {
            if family.application_id == application.id {
                self.stores.refresh_tokens.revoke_family(organization, family.id, now).await?;
                let data = json!({"token_type": "refresh_token", "family_id": family.id.to_string()});
                let user = family.user_id.map(|user| user.to_string());
                self.emit(
                    organization,
                    event_types::TOKEN_REVOKED,
                    Some(application.client_id.to_string()),
                    user,
                    data,
                );
            }
            return Ok(());
        }
        if let Some(claims) = self.verify_access_token(issuer, token).await? {
            let client = claims.get("client_id").and_then(Json::as_str);
            let jti = claims.get("jti").and_then(Json::as_str);
            let expires_at = instant(&claims, "exp");
            if let (Some(jti), Some(expires_at), true) =
                (jti, expires_at, client == Some(application.client_id.as_str()))
            {
                self.stores
                    .revocations
                    .revoke(&Revocation {
                        organization_id: organization,
                        jti: jti.to_owned(),
                        revoked_at: now,
                        expires_at,
                    })
                    .await?;
                let data = json!({"token_type": "access_token", "jti": jti});
                let subject = claims.get("sub").and_then(Json::as_str).map(str::to_owned);
                self.emit(
                    organization,
                    event_types::TOKEN_REVOKED,
                    Some(application.client_id.to_string()),
                    subject,
                    data,
                );
            }
        }
        Ok(())
    }
}

impl BearerError {
    /// The RFC 6750 error code (`None` when no token was presented is the
    /// server's concern).
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::Internal(_) => ErrorCode::ServerError.as_str(),
        }
    }
}
