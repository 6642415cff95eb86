//! What an upstream login proves (issue 6): the code exchanged at the
//! upstream's token endpoint, then the ID token validated (OpenID Connect
//! Core §3.1.3.7) and completed from userinfo, or — for a plain OAuth 2.0
//! provider — the userinfo response read as the identity. The HTTP handlers
//! (`http::oidc::federation`) only route the browser and render the outcome.

use serde_json::Value as Json;
use zenoauth_crypto::CryptoOAuth;
use zenoauth_domain::federation::{FederationLogin, IdentityProvider, ProviderKind};
use zenoauth_domain::oauth::UpstreamIdentity;
use zenoauth_domain::ports::FederationCrypto as _;

use super::{ProviderMetadata, UpstreamClient, UpstreamError};
use crate::services::Services;

/// Tolerated clock difference with the upstream for `exp` and `iat`.
const CLOCK_SKEW: i64 = 60;

/// The upstream's endpoints: from discovery (OpenID Connect, cached) or as
/// configured (OAuth 2.0).
pub async fn endpoints(
    client: &UpstreamClient,
    provider: &IdentityProvider,
) -> Result<ProviderMetadata, UpstreamError> {
    match provider.kind {
        ProviderKind::Oidc => client.discover(&provider.issuer).await,
        ProviderKind::OAuth2 => {
            match (&provider.authorization_endpoint, &provider.token_endpoint, &provider.userinfo_endpoint) {
                (Some(authorization), Some(token), Some(userinfo)) => {
                    Ok(ProviderMetadata::configured(&provider.issuer, authorization, token, userinfo))
                }
                _ => Err(UpstreamError::BadResponse("the provider's endpoints are not configured")),
            }
        }
    }
}

/// The identity of a plain OAuth 2.0 upstream: its userinfo response, read
/// with the upstream access token. The user is named by `subject_claim`
/// (string or integer); the email counts as verified only when it is the
/// `email` claim and userinfo says `email_verified: true` (a boolean) —
/// otherwise it is never linked automatically. No `amr`: there is no ID token to carry one.
fn oauth2_identity(provider: &IdentityProvider, userinfo: Json) -> Result<UpstreamIdentity, UpstreamError> {
    let subject = super::upstream::subject_of(&userinfo, &provider.subject_claim)
        .ok_or(UpstreamError::BadResponse("userinfo lacks the subject claim"))?;
    Ok(UpstreamIdentity {
        subject,
        email: userinfo.get(&provider.email_claim).and_then(Json::as_str).map(str::to_owned),
        email_verified: email_is_verified(provider, &userinfo),
        claims: userinfo,
        amr: Vec::new(),
    })
}

/// Whether the upstream vouches for the email: `email_verified: true` (a
/// boolean) describes the `email` claim only, so an email read from any other
/// `email_claim` is never counted as verified (it can then be linked only with
/// the password proof).
fn email_is_verified(provider: &IdentityProvider, claims: &Json) -> bool {
    provider.email_claim == "email" && claims.get("email_verified").and_then(Json::as_bool).unwrap_or(false)
}

/// Exchanges `code` (sent back to `redirect_uri`) and validates what the
/// upstream answers: the ID token (OpenID Connect) or the userinfo response
/// (plain OAuth 2.0). The upstream identity of the login.
pub async fn verify(
    client: &UpstreamClient,
    services: &Services,
    provider: &IdentityProvider,
    login: &FederationLogin,
    code: &str,
    redirect_uri: &str,
) -> Result<UpstreamIdentity, UpstreamError> {
    let metadata = endpoints(client, provider).await?;
    let secret = match &provider.encrypted_client_secret {
        Some(sealed) => Some(
            services
                .federation_crypto
                .open_client_secret(provider.organization_id, provider.id, sealed)
                .map_err(|_| UpstreamError::BadResponse("the client secret could not be opened"))?,
        ),
        None => None,
    };
    let tokens = client
        .exchange_code(&metadata, &provider.client_id, secret.as_deref(), code, redirect_uri, &login.code_verifier)
        .await?;
    if provider.kind == ProviderKind::OAuth2 {
        let endpoint = metadata.userinfo_endpoint.as_deref().unwrap_or_default();
        let userinfo = client.userinfo(endpoint, &tokens.access_token).await?;
        return oauth2_identity(provider, userinfo);
    }
    let id_token = tokens.id_token.ok_or(UpstreamError::InvalidToken("no ID token"))?;
    let crypto = CryptoOAuth::new(services.random.clone());
    let claims = client.verify_signature(&crypto, &metadata, &id_token).await?;
    let now = services.clock.now().unix_timestamp();
    check_claims(&claims, &metadata, provider, &login.nonce, now).map_err(UpstreamError::InvalidToken)?;
    // The `amr` is the ID token's own (signed) claim, never userinfo's.
    let amr = match claims.get("amr") {
        Some(Json::Array(values)) => values.iter().filter_map(Json::as_str).map(str::to_owned).collect(),
        _ => Vec::new(),
    };
    let claims = match &metadata.userinfo_endpoint {
        Some(endpoint) => merge_userinfo(claims, client.userinfo(endpoint, &tokens.access_token).await?)?,
        None => claims,
    };
    Ok(UpstreamIdentity {
        subject: claims.get("sub").and_then(Json::as_str).unwrap_or_default().to_owned(),
        email: claims.get(&provider.email_claim).and_then(Json::as_str).map(str::to_owned),
        email_verified: email_is_verified(provider, &claims),
        claims,
        amr,
    })
}

/// OIDC Core §3.1.3.7: `iss`, `aud` (and `azp`), `exp`, `iat`, `nonce`.
fn check_claims(
    claims: &Json,
    metadata: &ProviderMetadata,
    provider: &IdentityProvider,
    nonce: &str,
    now: i64,
) -> Result<(), &'static str> {
    if claims.get("iss").and_then(Json::as_str) != Some(metadata.issuer.as_str()) {
        return Err("wrong issuer");
    }
    let audience_ok = match claims.get("aud") {
        Some(Json::String(audience)) => audience == &provider.client_id,
        Some(Json::Array(audiences)) => {
            audiences.iter().any(|audience| audience.as_str() == Some(provider.client_id.as_str()))
                && (audiences.len() == 1
                    || claims.get("azp").and_then(Json::as_str) == Some(provider.client_id.as_str()))
        }
        _ => false,
    };
    if !audience_ok {
        return Err("wrong audience");
    }
    match claims.get("exp").and_then(Json::as_i64) {
        Some(exp) if exp + CLOCK_SKEW > now => {}
        _ => return Err("expired"),
    }
    if claims.get("iat").and_then(Json::as_i64).is_none_or(|iat| iat > now + CLOCK_SKEW) {
        return Err("bad iat");
    }
    if claims.get("nonce").and_then(Json::as_str) != Some(nonce) {
        return Err("nonce mismatch");
    }
    match claims.get("sub").and_then(Json::as_str) {
        Some(sub) if !sub.is_empty() && sub.len() <= 255 => Ok(()),
        _ => Err("bad sub"),
    }
}

/// Adds userinfo claims the ID token lacks; the userinfo `sub` must be the
/// ID token's (OIDC Core §5.3.2).
fn merge_userinfo(mut claims: Json, userinfo: Json) -> Result<Json, UpstreamError> {
    if userinfo.get("sub") != claims.get("sub") {
        return Err(UpstreamError::InvalidToken("userinfo names another subject"));
    }
    if let (Some(claims), Json::Object(userinfo)) = (claims.as_object_mut(), userinfo) {
        for (name, value) in userinfo {
            claims.entry(name).or_insert(value);
        }
    }
    Ok(claims)
}
