//! Account deletion confirmed by e-mail (Better Auth's `user.deleteUser.sendDeleteAccountVerification`):
//! `delete-user` mails a single-use link to `GET /delete-user/callback`, which deletes the signed-in
//! user when the link's token is theirs. A token is 32 `[0-9a-z]` characters, stored as the
//! verification row `delete-account-<token>` holding the user id, valid for
//! `user.delete_token_expires_in` seconds (1 day).
//!
//! Must never: delete a user other than the session's (a token of another user is burned and
//! refused), or let one token delete twice (it is consumed before anything is deleted).

use crate::app::Auth;
use crate::crypto;
use crate::error::{codes, ApiError, ApiResult};
use crate::http::input::{TokenQuery, ValidQuery};
use crate::http::reply::Reply;
use crate::session::{self, hooks, MaybeSensitiveSession};
use crate::store::model::{User, Verification};
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Duration;
use serde_json::json;

const PREFIX: &str = "delete-account-";

/// Stores a deletion token for `user` and mails its link.
pub async fn send_link(auth: &Auth, user: &User, callback: Option<&str>) -> ApiResult<()> {
    let token = crypto::random_string(32, crypto::LOWER_ALNUM);
    let now = auth.now();
    let ttl = auth.config.user.delete_token_expires_in.unwrap_or(86_400) as i64;
    let v = Verification {
        id: auth.new_id(),
        identifier: format!("{PREFIX}{token}"),
        value: user.id.clone(),
        expires_at: now + Duration::seconds(ttl),
        created_at: now,
        updated_at: now,
    };
    auth.store.create_verification(&v).await?;
    let callback: String = url::form_urlencoded::byte_serialize(callback.unwrap_or("/").as_bytes()).collect();
    let url = format!("{}/delete-user/callback?token={token}&callbackURL={callback}", auth.auth_url);
    auth.send_mail(super::DELETE_ACCOUNT, &user.email, json!({ "url": url, "token": token, "user_name": user.name }));
    Ok(())
}

/// Consumes `token` (single use); refuses it unless it is `user_id`'s and still valid.
pub async fn consume_token(auth: &Auth, token: &str, user_id: &str) -> ApiResult<()> {
    let invalid = ApiError::new(StatusCode::NOT_FOUND, "INVALID_TOKEN", "Invalid token");
    let v = auth.store.find_verification(&format!("{PREFIX}{token}")).await?.ok_or(invalid.clone())?;
    // Burned whatever the outcome; only the one caller that removed it may go on.
    if !auth.store.consume_verification(&v.id).await? || v.value != user_id || v.expires_at <= auth.now() {
        return Err(invalid);
    }
    Ok(())
}

/// `GET /delete-user/callback?token=…&callbackURL=…`
pub async fn callback(
    State(auth): State<Auth>,
    ValidQuery(q): ValidQuery<TokenQuery>,
    MaybeSensitiveSession(cur): MaybeSensitiveSession,
) -> ApiResult<Reply> {
    if !auth.config.user.delete_user_enabled {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", "Not found"));
    }
    // Better Auth's `if (callbackURL)`: an empty one is no callback at all.
    let callback = q.callback_url.as_deref().filter(|c| !c.is_empty());
    if let Some(cb) = callback {
        if !auth.origins.matches(cb, true) {
            return Err(codes::INVALID_CALLBACK_URL);
        }
    }
    let cur = cur.ok_or(codes::FAILED_TO_GET_USER_INFO)?;
    consume_token(&auth, &q.token, &cur.user.id).await?;
    hooks::delete_user(&auth, &cur.user).await?;
    let cleared = session::clear_cookies(&auth);
    Ok(match callback {
        Some(cb) => Reply::redirect(cb).cookies(cleared),
        None => Reply::json(&json!({"success": true, "message": "User deleted"})).cookies(cleared),
    })
}
