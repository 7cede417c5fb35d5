//! The `session.revoked` event, emitted by every route that ends sessions (sign-out,
//! revoke-session(s), revoke-other-sessions, the admin's revocations and bans) after they ended.
//!
//! One session: `targetType = "session"`, `data = {session, userId, reason}` (the session without
//! its token). Every session of a user at once: `targetType = "user"`, `data = {userId, reason,
//! scope: "all" | "others"}`. Must never: carry a token, or look anything up when nobody listens.

use super::RequestMeta;
use crate::app::events::{session_data, Event};
use crate::app::Auth;
use crate::store::model::Session;
use serde_json::json;

/// `session` was revoked by `actor` (`reason`: `sign-out`, `revoke-session`, `admin.ban-user`...).
pub async fn one(auth: &Auth, meta: &RequestMeta, actor: Option<&str>, session: &Session, reason: &'static str) {
    if !auth.listens() {
        return;
    }
    let data = json!({ "session": session_data(session), "userId": session.user_id, "reason": reason });
    auth.emit(Event::new(auth, "session.revoked", "session", Some(&session.id)).actor(actor).meta(meta).data(data)).await;
}

/// Every session of `user_id` was revoked (`others`: all but the caller's).
pub async fn all(auth: &Auth, meta: &RequestMeta, actor: Option<&str>, user_id: &str, others: bool, reason: &'static str) {
    if !auth.listens() {
        return;
    }
    let scope = if others { "others" } else { "all" };
    let data = json!({ "userId": user_id, "reason": reason, "scope": scope });
    auth.emit(Event::new(auth, "session.revoked", "user", Some(user_id)).actor(actor).meta(meta).data(data)).await;
}
