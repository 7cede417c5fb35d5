//! OAuth state, Better Auth's database strategy (spec §11.1, §11.2 step 5): a verification row
//! `auth-state:<state>` holding the flow as JSON for 10 minutes, plus the signed `state` cookie
//! (Max-Age 300) that binds the flow to the browser that started it. A state is used once.
//!
//! The row is consumed only after the cookie matched, so a request from another browser cannot burn
//! a victim's flow; replays find no row and get `state_mismatch`.
//!
//! Portcullis also records the provider the flow was started with (`portcullisProvider`; Better
//! Auth does not) and refuses the state at any other provider's callback with `state_mismatch`, so
//! a code and state from one provider cannot be replayed through another (an IdP mix-up). Such a
//! state is consumed, not left: it can only arrive from the browser that owns the flow (the cookie
//! matched), the flow has been diverted and its code delivered to the wrong place, and RFC 9207 /
//! the OAuth security BCP say to abort a mixed-up flow rather than let it be finished later. A row
//! written by Better Auth names no provider and is accepted at any callback, as Better Auth does.

use crate::app::Auth;
use crate::crypto::{self, ct_eq};
use crate::http::cookies;
use crate::store::model::Verification;
use axum::http::{HeaderMap, HeaderValue};
use chrono::Duration;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

const ROW_TTL_MS: i64 = 600_000;
const COOKIE_MAX_AGE: u64 = 300;
/// The state cookie's short name (registered in `Capability::cookies`).
pub const COOKIE: &str = "state";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkData {
    pub user_id: String,
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted_session_token: Option<String>,
}

/// Portcullis addition: finish the flow by handing the session to a native/extension client.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Handoff {
    pub client: String,
    pub target: String,
}

/// The stored flow, in Better Auth's JSON shape.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StateData {
    #[serde(rename = "callbackURL")]
    pub callback_url: String,
    pub code_verifier: String,
    #[serde(rename = "errorURL", default, skip_serializing_if = "Option::is_none")]
    pub error_url: Option<String>,
    #[serde(rename = "newUserURL", default, skip_serializing_if = "Option::is_none")]
    pub new_user_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<LinkData>,
    pub expires_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_sign_up: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_nonce: Option<String>,
    pub oauth_state: String,
    /// Whether the verifier was sent as a PKCE challenge (Better Auth always stores one).
    #[serde(rename = "portcullisPkce", default = "yes")]
    pub pkce: bool,
    /// The scopes requested, for the account's `scope` when the token response names none.
    #[serde(rename = "portcullisScopes", default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    #[serde(rename = "portcullisHandoff", default, skip_serializing_if = "Option::is_none")]
    pub handoff: Option<Handoff>,
    /// The provider the flow was started with; `None` in rows written by Better Auth.
    #[serde(rename = "portcullisProvider", default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// `additionalData` from the request, kept alongside as Better Auth does.
    #[serde(flatten)]
    pub additional: Map<String, Value>,
}

fn yes() -> bool {
    true
}

/// A new flow's random values.
pub struct Fresh {
    pub state: String,
    pub code_verifier: String,
    pub nonce: String,
}

pub fn fresh() -> Fresh {
    Fresh {
        state: crypto::random_string(32, crypto::URL_SAFE_ALPHABET),
        code_verifier: crypto::random_string(128, crypto::URL_SAFE_ALPHABET),
        nonce: crypto::random_string(32, crypto::URL_SAFE_ALPHABET),
    }
}

/// The signed state cookie (Better Auth's `createAuthCookie("state", { maxAge: 300 })`).
pub fn cookie(auth: &Auth) -> crate::http::cookies::AuthCookie {
    auth.cookies.cookie(COOKIE, Some(COOKIE_MAX_AGE))
}

pub fn expire_cookie(auth: &Auth) -> HeaderValue {
    cookie(auth).delete()
}

/// Stores the flow; returns the `Set-Cookie` for the state cookie.
pub async fn store(auth: &Auth, data: &mut StateData) -> Result<HeaderValue, crate::ApiError> {
    let now = auth.now();
    data.expires_at = now.timestamp_millis() + ROW_TTL_MS;
    let value = serde_json::to_string(data).map_err(crate::ApiError::internal)?;
    let row = Verification {
        id: auth.new_id(),
        identifier: format!("auth-state:{}", data.oauth_state),
        value,
        expires_at: now + Duration::milliseconds(ROW_TTL_MS),
        created_at: now,
        updated_at: now,
    };
    auth.store.create_verification(&row).await?;
    Ok(cookie(auth).set(&cookies::signed_value(auth.secret(), &data.oauth_state)))
}

/// Why a state was refused, and whether its own error URL is known.
pub struct StateError {
    pub code: &'static str,
    pub error_url: Option<String>,
    /// The state was consumed: the response must expire the cookie.
    pub consumed: bool,
}

/// Loads, checks and consumes the state of a callback to `provider`.
pub async fn take(auth: &Auth, headers: &HeaderMap, state: &str, provider: &str) -> Result<StateData, StateError> {
    let fail = |code, error_url, consumed| StateError { code, error_url, consumed };
    let row = match auth.store.find_verification(&format!("auth-state:{state}")).await {
        Ok(Some(r)) => r,
        Ok(None) => return Err(fail("state_mismatch", None, false)),
        Err(e) => {
            tracing::error!(error = %e, "reading OAuth state");
            return Err(fail("internal_server_error", None, false));
        }
    };
    let Ok(data) = serde_json::from_str::<StateData>(&row.value) else {
        return Err(fail("state_invalid", None, false));
    };
    let err_url = data.error_url.clone();
    if !ct_eq(data.oauth_state.as_bytes(), state.as_bytes()) {
        return Err(fail("state_mismatch", err_url, false));
    }
    let cookie_ok = cookies::get_signed(headers, &cookie(auth).name, auth.secrets()).is_some_and(|s| ct_eq(s.as_bytes(), state.as_bytes()));
    if !cookie_ok {
        // Not this browser's flow: leave the row for the browser that owns it.
        return Err(fail("state_mismatch", err_url, false));
    }
    // Checked before the row's consumption can count as success; the row is consumed either way
    // (module doc), so the diverted flow cannot be finished afterwards.
    let provider_ok = match data.provider.as_deref() {
        Some(issued_for) => issued_for == provider,
        None => true,
    };
    match auth.store.consume_verification(&row.id).await {
        Ok(true) => {}
        // Another request consumed it first (a concurrent replay).
        Ok(false) => return Err(fail("state_mismatch", err_url, true)),
        Err(e) => {
            tracing::error!(error = %e, "consuming OAuth state");
            return Err(fail("internal_server_error", err_url, true));
        }
    }
    if !provider_ok {
        tracing::warn!(callback = provider, "OAuth state presented at another provider's callback; the flow is aborted");
        return Err(fail("state_mismatch", err_url, true));
    }
    if data.expires_at < auth.now().timestamp_millis() || row.expires_at < auth.now() {
        return Err(fail("state_mismatch", err_url, true));
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_json_shape() {
        let d = StateData {
            callback_url: "/dash".into(),
            code_verifier: "v".into(),
            error_url: Some("/err".into()),
            new_user_url: None,
            link: None,
            expires_at: 1,
            request_sign_up: None,
            id_token_nonce: None,
            oauth_state: "s".into(),
            pkce: true,
            scopes: Vec::new(),
            handoff: None,
            provider: Some("google".into()),
            additional: Map::new(),
        };
        let j = serde_json::to_string(&d).unwrap();
        assert!(j.starts_with(r#"{"callbackURL":"/dash","codeVerifier":"v","errorURL":"/err","expiresAt":1,"oauthState":"s""#), "{j}");
        assert!(j.contains(r#""portcullisProvider":"google""#), "{j}");
        // A row written by Better Auth reads.
        let ba = r#"{"callbackURL":"/dash","codeVerifier":"AHeY","errorURL":"/err","newUserURL":"/welcome","expiresAt":1795354051193,"oauthState":"ujuT","foo":1}"#;
        let d: StateData = serde_json::from_str(ba).unwrap();
        assert_eq!(d.new_user_url.as_deref(), Some("/welcome"));
        assert!(d.pkce);
        assert_eq!(d.additional["foo"], 1);
        assert_eq!(d.provider, None, "Better Auth's rows name no provider");
    }

    #[test]
    fn fresh_values() {
        let f = fresh();
        assert_eq!(f.state.len(), 32);
        assert_eq!(f.code_verifier.len(), 128);
        assert_ne!(f.state, fresh().state);
    }
}
