//! RP-Initiated Logout 1.0: `end_session` with `id_token_hint`,
//! `post_logout_redirect_uri` (exactly as registered) and `state`.

use serde_json::Value as Json;

use super::settings::ApplicationSettings;
use super::{Issuer, OpenIdProvider, Params, ID_TOKEN_TYP};
use crate::error::Result;
use crate::model::Session;
use crate::values::{ClientId, RedirectUri};

/// A validated logout request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndSessionRequest {
    /// Where to send the user agent afterwards (registered), with `state`.
    pub redirect: Option<(RedirectUri, Option<String>)>,
    /// The `sid` of a valid `id_token_hint`.
    pub hinted_session: Option<String>,
    /// Whether a valid `id_token_hint` came with the request.
    pub has_valid_hint: bool,
}

/// What to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndSessionOutcome {
    /// Ask the user to confirm (no valid hint, or a hint for another session).
    Confirm(EndSessionRequest),
    /// The session (if any) has ended; redirect or show "signed out".
    Done(Option<String>),
    /// The request is unusable (bad hint, unregistered redirect): error page.
    Page(&'static str),
}

impl EndSessionRequest {
    /// The redirect location with `state`, if a redirect was asked for.
    pub fn location(&self) -> Option<String> {
        let (uri, state) = self.redirect.as_ref()?;
        let mut url = url::Url::parse(uri.as_str()).ok()?;
        if let Some(state) = state {
            url.query_pairs_mut().append_pair("state", state);
        }
        Some(url.into())
    }
}

impl OpenIdProvider {
    /// Validates an end_session request (without acting on it).
    pub async fn end_session_request(
        &self,
        issuer: &Issuer,
        params: &Params,
    ) -> Result<std::result::Result<EndSessionRequest, &'static str>> {
        if params.has_repeats() {
            return Ok(Err("A parameter was repeated."));
        }
        let get = |name: &str| params.get(name).ok().flatten();
        let mut client_id = get("client_id").map(str::to_owned);
        let mut hinted_session = None;
        let mut has_valid_hint = false;
        if let Some(hint) = get("id_token_hint") {
            // Expired hints are fine (the session may outlive the ID token).
            let keys = self.keys.published_keys(issuer.organization.id).await?;
            let Ok(claims) = self.verifier.verify(&keys, hint, ID_TOKEN_TYP) else {
                return Ok(Err("The id_token_hint is not valid."));
            };
            if claims.get("iss").and_then(Json::as_str) != Some(issuer.url.as_str()) {
                return Ok(Err("The id_token_hint is not valid."));
            }
            let audience = match claims.get("aud") {
                Some(Json::String(aud)) => Some(aud.clone()),
                Some(Json::Array(auds)) if auds.len() == 1 => auds[0].as_str().map(str::to_owned),
                _ => None,
            };
            if client_id.is_some() && audience.is_some() && client_id != audience {
                return Ok(Err("The client_id does not match the id_token_hint."));
            }
            client_id = client_id.or(audience);
            hinted_session = claims.get("sid").and_then(Json::as_str).map(str::to_owned);
            has_valid_hint = true;
        }
        let redirect = match get("post_logout_redirect_uri") {
            None => None,
            Some(raw) => {
                let Some(client_id) = client_id.as_deref().and_then(|id| ClientId::parse(id).ok()) else {
                    return Ok(Err("A post_logout_redirect_uri needs an id_token_hint or client_id."));
                };
                let Some(application) =
                    self.stores.applications.find_by_client_id(issuer.organization.id, &client_id).await?
                else {
                    return Ok(Err("The application is not known here."));
                };
                let registered = ApplicationSettings::from_application(&application)
                    .map(|settings| settings.post_logout_redirect_uris)
                    .unwrap_or_default();
                let Some(uri) = RedirectUri::parse(raw).ok().filter(|uri| registered.contains(uri)) else {
                    return Ok(Err("The post_logout_redirect_uri is not registered for this application."));
                };
                Some((uri, get("state").filter(|state| state.len() <= 2048).map(str::to_owned)))
            }
        };
        Ok(Ok(EndSessionRequest { redirect, hinted_session, has_valid_hint }))
    }

    /// Logs out at once when a valid hint names the current session (or there
    /// is no session); otherwise asks for confirmation.
    pub async fn end_session(
        &self,
        issuer: &Issuer,
        params: &Params,
        session: Option<&Session>,
        confirmed: bool,
    ) -> Result<EndSessionOutcome> {
        let request = match self.end_session_request(issuer, params).await? {
            Ok(request) => request,
            Err(page) => return Ok(EndSessionOutcome::Page(page)),
        };
        let hint_matches = request.has_valid_hint
            && session.is_none_or(|session| request.hinted_session.as_deref() == Some(session.id.to_string().as_str()));
        if !(confirmed || hint_matches) {
            return Ok(EndSessionOutcome::Confirm(request));
        }
        if let Some(session) = session {
            self.end_session_now(issuer, session).await?;
        }
        Ok(EndSessionOutcome::Done(request.location()))
    }
}
