//! Account resolution and linking (spec §11.3 and §11.2 step 11): which local user a provider
//! identity signs in as, when an existing user may be linked by e-mail, and how provider tokens are
//! stored (encrypted when `encrypt_oauth_tokens`).
//!
//! Errors are Better Auth's callback error codes (`account_not_linked`, ...). This module never
//! creates a session; the callback does, after this module said who the user is.

use super::cipher::{self, Keys};
use super::oauth::Tokens;
use super::profile::Profile;
use super::state::LinkData;
use crate::app::{Auth, Event};
use crate::session::hooks;
use crate::session::RequestMeta;
use crate::store::model::{Account, User, UserPatch};
use chrono::{DateTime, Duration, Utc};

pub type Code = &'static str;

fn keys(auth: &Auth) -> Keys {
    Keys::from_config(&auth.config)
}

/// A token as stored: encrypted when configured.
pub fn seal(auth: &Auth, token: Option<&str>) -> Option<String> {
    let t = token?;
    Some(if super::settings(auth).encrypt_oauth_tokens { keys(auth).encrypt(t) } else { t.to_string() })
}

/// A stored token in the clear. Values that do not look encrypted are plain (the flag was turned
/// on later); values that look encrypted but do not decrypt are returned as they are, since a
/// plain token may happen to be hex.
pub fn open(auth: &Auth, stored: Option<&str>) -> Option<String> {
    let s = stored?;
    if cipher::looks_encrypted(s) {
        if let Some(p) = keys(auth).decrypt(s) {
            return Some(p);
        }
    }
    Some(s.to_string())
}

fn expiry(now: DateTime<Utc>, secs: Option<i64>) -> Option<DateTime<Utc>> {
    secs.filter(|s| *s > 0 && *s < 10 * 365 * 86_400).map(|s| now + Duration::seconds(s))
}

/// Writes a token response onto an account (new tokens win; absent ones keep the stored value).
pub fn apply_tokens(auth: &Auth, a: &mut Account, t: &Tokens, now: DateTime<Utc>) {
    if t.access_token.is_some() {
        a.access_token = seal(auth, t.access_token.as_deref());
        a.access_token_expires_at = expiry(now, t.expires_in);
    }
    if t.refresh_token.is_some() {
        a.refresh_token = seal(auth, t.refresh_token.as_deref());
        a.refresh_token_expires_at = expiry(now, t.refresh_token_expires_in);
    }
    if t.id_token.is_some() {
        a.id_token = t.id_token.clone();
    }
    a.updated_at = now;
}

/// A new account row for `user_id` from a provider profile and tokens.
pub fn new_account(auth: &Auth, provider_id: &str, user_id: &str, p: &Profile, t: &Tokens, scopes: &[String]) -> Account {
    let now = auth.now();
    let mut a = Account {
        id: auth.new_id(),
        account_id: p.id.clone(),
        provider_id: provider_id.to_string(),
        user_id: user_id.to_string(),
        access_token: None,
        refresh_token: None,
        id_token: None,
        access_token_expires_at: None,
        refresh_token_expires_at: None,
        scope: (!scopes.is_empty()).then(|| scopes.join(",")),
        password: None,
        created_at: now,
        updated_at: now,
    };
    apply_tokens(auth, &mut a, t, now);
    a
}

/// Granted scopes, or the requested ones when the token response names none.
pub fn granted(t: &Tokens, requested: &[String]) -> Vec<String> {
    if t.scopes.is_empty() {
        requested.to_vec()
    } else {
        t.scopes.clone()
    }
}

fn same_email(a: &str, b: &str) -> bool {
    a.to_lowercase() == b.to_lowercase()
}

/// The profile's e-mail, or the documented placeholder when the provider sent none and
/// `allow_missing_email` is on.
pub fn email_of(auth: &Auth, provider_id: &str, p: &Profile) -> Option<String> {
    if let Some(e) = p.email.as_deref().filter(|e| !e.is_empty()) {
        return Some(e.to_lowercase());
    }
    if !super::settings(auth).allow_missing_email {
        return None;
    }
    let local: String =
        p.id.chars()
            .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c.to_ascii_lowercase() } else { '_' })
            .collect();
    let domain: String =
        provider_id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c.to_ascii_lowercase() } else { '-' }).collect();
    Some(format!("{local}@{domain}.portcullis.invalid"))
}

/// Emits `account.linked` or `account.unlinked` (`targetType = "account"`): the account's
/// provider and ids, never its tokens; `how` says which flow (`oauth`, `id-token`, `implicit`,
/// `unlink-account`).
pub async fn emit(auth: &Auth, kind: &'static str, meta: &RequestMeta, a: &Account, how: &'static str) {
    if !auth.listens() {
        return;
    }
    let data = serde_json::json!({
        "userId": a.user_id,
        "account": { "id": a.id, "providerId": a.provider_id, "accountId": a.account_id },
        "via": how,
    });
    auth.emit(Event::new(auth, kind, "account", Some(&a.id)).actor(Some(&a.user_id)).meta(meta).data(data)).await;
}

/// Sign-in (§11.3): returns the user and whether it was just created.
pub async fn sign_in(
    auth: &Auth,
    provider_id: &str,
    email: &str,
    p: &Profile,
    t: &Tokens,
    scopes: &[String],
    meta: &RequestMeta,
) -> Result<(User, bool), Code> {
    let cfg = super::settings(auth);
    let db = |e: crate::store::StoreError| {
        tracing::error!(error = %e, "social sign-in: store");
        "internal_server_error"
    };
    let refused = |e: hooks::WriteError| {
        tracing::warn!(error = %e, "social sign-in: the user could not be updated");
        "unable_to_update_user"
    };
    let now = auth.now();
    if let Some(mut account) = auth.store.find_account(provider_id, &p.id).await.map_err(db)? {
        let mut user = auth.store.find_user_by_id(&account.user_id).await.map_err(db)?.ok_or("unable_to_link_account")?;
        if cfg.update_account_on_sign_in {
            apply_tokens(auth, &mut account, t, now);
            auth.store.update_account_tokens(&account).await.map_err(|_| "unable_to_update_account")?;
        }
        if p.email_verified && !user.email_verified && same_email(&user.email, email) {
            let patch = UserPatch { email_verified: Some(true), ..Default::default() };
            user = hooks::update_user(auth, &user.id, patch).await.map_err(refused)?.unwrap_or(user);
        }
        return Ok((user, false));
    }
    if let Some(user) = auth.store.find_user_by_email(email).await.map_err(db)? {
        let l = &cfg.account_linking;
        let trusted = l.email_vouched_for(provider_id, p.email_verified);
        let local_ok = !l.require_local_email_verified || user.email_verified;
        if !(trusted && local_ok && l.enabled && !l.disable_implicit_linking) {
            return Err("account_not_linked");
        }
        let account = new_account(auth, provider_id, &user.id, p, t, scopes);
        auth.store.create_account(&account).await.map_err(|_| "unable_to_link_account")?;
        emit(auth, "account.linked", meta, &account, "implicit").await;
        let mut user = user;
        if p.email_verified && !user.email_verified && same_email(&user.email, email) {
            let patch = UserPatch { email_verified: Some(true), ..Default::default() };
            user = hooks::update_user(auth, &user.id, patch).await.map_err(refused)?.unwrap_or(user);
        }
        return Ok((user, false));
    }
    if cfg.disable_sign_up {
        return Err("signup_disabled");
    }
    let (extra, hidden) = auth.user_fields.defaults(now);
    let user = User {
        extra,
        hidden,
        id: auth.new_id(),
        name: p.name.clone(),
        email: email.to_string(),
        email_verified: p.email_verified && p.email.is_some(),
        image: p.image.clone(),
        created_at: now,
        updated_at: now,
    };
    let account = new_account(auth, provider_id, &user.id, p, t, scopes);
    let user = hooks::create_user(auth, user, Some(&account)).await.map_err(|e| {
        tracing::warn!(error = %e, "social sign-in: creating the user failed");
        "unable_to_create_user"
    })?;
    Ok((user, true))
}

/// Link flow (§11.2 step 11): attaches the provider account to the user who started it; the new
/// account (`None` when it was linked already and only its tokens changed).
pub async fn link(
    auth: &Auth,
    provider_id: &str,
    email: Option<&str>,
    p: &Profile,
    t: &Tokens,
    scopes: &[String],
    l: &LinkData,
) -> Result<Option<Account>, Code> {
    let cfg = super::settings(auth);
    if !cfg.account_linking.enabled {
        return Err("unable_to_link_account");
    }
    // The session that started the link must still be live (1.7.24).
    if let Some(enc) = &l.encrypted_session_token {
        let token = keys(auth).for_purpose("oauth-link-session-token").decrypt(enc).ok_or("unable_to_link_account")?;
        match crate::session::find(auth, &token).await {
            Ok(Some((s, _))) if s.user_id == l.user_id => {}
            _ => return Err("unable_to_link_account"),
        }
    }
    if !cfg.account_linking.email_vouched_for(provider_id, p.email_verified) {
        return Err("unable_to_link_account");
    }
    if !cfg.account_linking.allow_different_emails && !email.is_some_and(|e| same_email(e, &l.email)) {
        return Err("email_does_not_match");
    }
    let existing = auth.store.find_account(provider_id, &p.id).await.map_err(|_| "internal_server_error")?;
    match existing {
        Some(a) if a.user_id != l.user_id => Err("account_already_linked_to_different_user"),
        Some(mut a) => {
            apply_tokens(auth, &mut a, t, auth.now());
            // Re-linking merges scopes (set union, insertion order).
            let mut merged = a.scopes();
            for s in scopes {
                if !merged.contains(s) {
                    merged.push(s.clone());
                }
            }
            a.scope = Some(merged.join(","));
            auth.store.update_account_tokens(&a).await.map_err(|_| "unable_to_link_account").map(|()| None)
        }
        None => {
            let a = new_account(auth, provider_id, &l.user_id, p, t, scopes);
            auth.store.create_account(&a).await.map_err(|_| "unable_to_link_account")?;
            Ok(Some(a))
        }
    }
}
