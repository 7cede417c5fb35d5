//! The passkey endpoints (spec plugins §2.4).

use super::errors::*;
use super::rp::{self, UserData};
use super::store::{self, PasskeyRow};
use super::{CHALLENGE_TTL, COOKIE};
use crate::app::Auth;
use crate::error::{codes, ApiError, ApiResult};
use crate::http::cookies;
use crate::http::input::{Input, Obj, Shape, Valid, ValidQuery};
use crate::http::reply::Reply;
use crate::session::hooks::{self, Born, Method, SignIn};
use crate::session::{self, FreshSession, MaybeSession, RequestMeta, SessionAuth};
use crate::store::model::Verification;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64URL};
use base64::Engine;
use chrono::Duration;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The challenge row's value: Better Auth's JSON, plus webauthn-rs-core's state (`state`, which
/// Better Auth ignores).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Challenge {
    #[serde(rename = "type")]
    kind: String,
    expected_challenge: String,
    user_data: UserData,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    context: Option<Value>,
    #[serde(default)]
    state: Value,
}

/// Stores a ceremony's challenge under a random token; the token goes in the signed cookie.
async fn issue(auth: &Auth, challenge: &Challenge) -> ApiResult<HeaderValue> {
    let token = crate::crypto::random_id(32);
    let now = auth.now();
    let ttl = Duration::seconds(CHALLENGE_TTL as i64);
    let value = serde_json::to_string(challenge).map_err(ApiError::internal)?;
    let row = Verification { id: auth.new_id(), identifier: token.clone(), value, expires_at: now + ttl, created_at: now, updated_at: now };
    auth.store.create_verification(&row).await?;
    Ok(auth.cookies.cookie(COOKIE, Some(CHALLENGE_TTL)).set(&cookies::signed_value(auth.secret(), &token)))
}

/// The challenge this browser was issued for a `kind` ceremony, consumed (single use). A missing
/// or forged cookie, a used or expired row, or the other ceremony's row: `CHALLENGE_NOT_FOUND`.
async fn take(auth: &Auth, headers: &HeaderMap, kind: &str) -> ApiResult<Challenge> {
    let name = auth.cookies.cookie(COOKIE, Some(CHALLENGE_TTL)).name;
    let token = cookies::get_signed(headers, &name, auth.secrets()).ok_or(CHALLENGE_NOT_FOUND)?;
    let row = auth.store.find_verification(&token).await?.ok_or(CHALLENGE_NOT_FOUND)?;
    if !auth.store.consume_verification(&row.id).await? || row.expires_at <= auth.now() {
        return Err(CHALLENGE_NOT_FOUND);
    }
    let c: Challenge = serde_json::from_str(&row.value).map_err(|_| CHALLENGE_NOT_FOUND)?;
    if c.kind != kind {
        return Err(CHALLENGE_NOT_FOUND);
    }
    Ok(c)
}

fn webauthn_error(e: webauthn_rs_core::error::WebauthnError) -> ApiError {
    ApiError::internal(format!("webauthn: {e:?}"))
}

/// `GET /passkey/generate-register-options` query.
pub struct RegisterQuery {
    attachment: Option<String>,
    name: Option<String>,
    context: Option<String>,
}
impl Input for RegisterQuery {
    const SHAPE: Shape = Shape::OptionalObject;
    fn parse(o: &mut Obj<'_>) -> Self {
        RegisterQuery { attachment: o.opt_string("authenticatorAttachment"), name: o.opt_string("name"), context: o.opt_string("context") }
    }
}

pub async fn register_options(
    State(auth): State<Auth>,
    ValidQuery(q): ValidQuery<RegisterQuery>,
    FreshSession(cur): FreshSession,
) -> ApiResult<Reply> {
    let user = &cur.user;
    let name = q.name.filter(|n| !n.is_empty()).unwrap_or_else(|| if user.email.is_empty() { user.id.clone() } else { user.email.clone() });
    let user_data = UserData { id: user.id.clone(), name: Some(name), display_name: Some(user.name.clone()).filter(|n| !n.is_empty()) };
    let existing = store::of_user(&auth, &user.id).await?;
    let (options, state) = rp::registration(&auth, &user_data, &existing, q.attachment.as_deref()).map_err(webauthn_error)?;
    let challenge = Challenge {
        kind: "registration".into(),
        expected_challenge: options["challenge"].as_str().unwrap_or_default().to_string(),
        user_data,
        context: Some(q.context.map_or(Value::Null, Value::String)),
        state: serde_json::to_value(&state).map_err(ApiError::internal)?,
    };
    let cookie = issue(&auth, &challenge).await?;
    Ok(Reply::json(&options).cookie(cookie))
}

/// `POST /passkey/verify-registration` body.
pub struct RegistrationBody {
    response: Value,
    name: Option<String>,
    create_session: Option<bool>,
}
impl Input for RegistrationBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        // `z.any()`: anything, absent included; what is not a credential fails verification.
        let response = o.raw("response").cloned().unwrap_or(Value::Null);
        RegistrationBody { response, name: o.opt_string("name"), create_session: o.opt_bool("createSession") }
    }
}

pub async fn verify_registration(
    State(auth): State<Auth>,
    Valid(b): Valid<RegistrationBody>,
    FreshSession(cur): FreshSession,
    meta: RequestMeta,
    headers: HeaderMap,
) -> ApiResult<Reply> {
    if headers.get(header::ORIGIN).is_none() {
        return Err(FAILED_TO_VERIFY_REGISTRATION);
    }
    let challenge = take(&auth, &headers, "registration").await?;
    if challenge.user_data.id != cur.user.id {
        return Err(YOU_ARE_NOT_ALLOWED_TO_REGISTER_THIS_PASSKEY);
    }
    let state: webauthn_rs_core::proto::RegistrationState = serde_json::from_value(challenge.state).map_err(|_| CHALLENGE_NOT_FOUND)?;
    // Transports are read as the browser sent them (strings), not as webauthn-rs-core's enum, so
    // an unknown one neither fails the ceremony nor gets lost.
    let mut response = b.response;
    let transports = response.pointer_mut("/response").and_then(Value::as_object_mut).and_then(|r| r.remove("transports"));
    let transports: Vec<String> = transports.and_then(|t| serde_json::from_value(t).ok()).unwrap_or_default();
    let reg: webauthn_rs_core::proto::RegisterPublicKeyCredential =
        serde_json::from_value(response).map_err(|_| FAILED_TO_VERIFY_REGISTRATION)?;
    let cred = rp::core(&auth).register_credential(&reg, &state, None).map_err(|e| {
        tracing::info!(error = ?e, "passkey registration refused");
        FAILED_TO_VERIFY_REGISTRATION
    })?;
    let attested = rp::attested(reg.response.attestation_object.as_ref()).ok_or(FAILED_TO_VERIFY_REGISTRATION)?;
    let row = PasskeyRow {
        name: b.name.map(|n| n.trim().to_string()).filter(|n| !n.is_empty()),
        public_key: STANDARD.encode(&attested.cose_key),
        user_id: cur.user.id.clone(),
        credential_id: B64URL.encode(cred.cred_id.as_ref()),
        counter: i64::from(cred.counter),
        device_type: if cred.backup_eligible { "multiDevice" } else { "singleDevice" }.into(),
        backed_up: cred.backup_state,
        transports: Some(transports.join(",")),
        created_at: Some(crate::store::model::iso_ms::format(&auth.now())),
        aaguid: Some(attested.aaguid),
        id: auth.new_id(),
    };
    let row = store::create(&auth, &row).await?;
    session::changed::emit(&auth, "passkey.added", Some(&meta), Some(&cur.user.id), &cur.user, passkey_data(&row)).await;
    if b.create_session != Some(true) {
        return Ok(Reply::json(&row));
    }
    let born = hooks::sign_in(
        &auth,
        SignIn { user: &cur.user, method: Method::Other("passkey"), meta: &meta, headers: &headers, remember: true, federated: None },
    )
    .await?;
    let s = match born {
        Born::Session(s) => s,
        Born::Answered(r) => return Ok(r),
    };
    let mut out = serde_json::to_value(&row).map_err(ApiError::internal)?;
    out["session"] = serde_json::to_value(&s).map_err(ApiError::internal)?;
    out["user"] = serde_json::to_value(&cur.user).map_err(ApiError::internal)?;
    Ok(Reply::json(&out).cookies(session::issue_cookies(&auth, &s, &cur.user, false)))
}

pub async fn authenticate_options(State(auth): State<Auth>, MaybeSession(cur): MaybeSession) -> ApiResult<Reply> {
    let allow = match &cur {
        Some(c) => store::of_user(&auth, &c.user.id).await?,
        None => Vec::new(),
    };
    let (options, state) = rp::authentication(&auth, &allow).map_err(webauthn_error)?;
    let challenge = Challenge {
        kind: "authentication".into(),
        expected_challenge: options["challenge"].as_str().unwrap_or_default().to_string(),
        user_data: UserData { id: cur.map(|c| c.user.id).unwrap_or_default(), name: None, display_name: None },
        context: None,
        state: serde_json::to_value(&state).map_err(ApiError::internal)?,
    };
    let cookie = issue(&auth, &challenge).await?;
    Ok(Reply::json(&options).cookie(cookie))
}

/// `POST /passkey/verify-authentication` body.
pub struct AuthenticationBody {
    response: Value,
}
impl Input for AuthenticationBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        AuthenticationBody { response: o.raw("response").cloned().unwrap_or(Value::Null) }
    }
}

/// The passkey whose assertion `b` carries, verified against the browser's challenge (its counter
/// advanced); or the refusal, with the passkey's user when the credential was known (for
/// `sign-in.failed`; nothing more is read for it).
async fn assertion(auth: &Auth, b: AuthenticationBody, headers: &HeaderMap) -> Result<PasskeyRow, (ApiError, Option<String>)> {
    if headers.get(header::ORIGIN).is_none() {
        return Err((ApiError::uncoded(StatusCode::BAD_REQUEST, "origin missing"), None));
    }
    let challenge = take(auth, headers, "authentication").await.map_err(|e| (e, None))?;
    let mut state: webauthn_rs_core::proto::AuthenticationState =
        serde_json::from_value(challenge.state).map_err(|_| (CHALLENGE_NOT_FOUND, None))?;
    let pkc: webauthn_rs_core::proto::PublicKeyCredential =
        serde_json::from_value(b.response).map_err(|_| (AUTHENTICATION_FAILED.with_status(StatusCode::BAD_REQUEST), None))?;
    let row = store::by_credential_id(auth, &pkc.id).await.map_err(|e| (e.into(), None))?.ok_or((PASSKEY_NOT_FOUND, None))?;
    let refused = |e: ApiError| (e, Some(row.user_id.clone()));
    let Some(cred) = rp::credential(&row) else {
        tracing::warn!(passkey = %row.id, "stored passkey is unreadable");
        return Err(refused(AUTHENTICATION_FAILED));
    };
    state.set_allowed_credentials(vec![cred]);
    let result = rp::core(auth).authenticate_credential(&pkc, &state).map_err(|e| {
        tracing::info!(error = ?e, passkey = %row.id, "passkey authentication refused");
        refused(AUTHENTICATION_FAILED)
    })?;
    let counter = i64::from(result.counter());
    if counter != row.counter && !store::advance_counter(auth, &row.id, row.counter, counter).await.map_err(|e| refused(e.into()))? {
        // Another sign-in moved the counter first: this assertion is a replay or a clone.
        return Err(refused(AUTHENTICATION_FAILED));
    }
    Ok(row)
}

pub async fn verify_authentication(
    State(auth): State<Auth>,
    Valid(b): Valid<AuthenticationBody>,
    meta: RequestMeta,
    headers: HeaderMap,
) -> ApiResult<Reply> {
    let row = match assertion(&auth, b, &headers).await {
        Ok(row) => row,
        Err((e, user_id)) => {
            let f = session::failed::Failed { method: "passkey", user_id: user_id.as_deref(), email: None, error: &e };
            session::failed::emit(&auth, &meta, f).await;
            return Err(e);
        }
    };
    let user = auth.store.find_user_by_id(&row.user_id).await?.ok_or(codes::USER_NOT_FOUND)?;
    let born = hooks::sign_in(
        &auth,
        SignIn { user: &user, method: Method::Other("passkey"), meta: &meta, headers: &headers, remember: true, federated: None },
    )
    .await?;
    let s = match born {
        Born::Session(s) => s,
        Born::Answered(r) => return Ok(r),
    };
    let cookies = session::issue_cookies(&auth, &s, &user, false);
    Ok(Reply::json(&json!({"session": s, "user": user})).cookies(cookies))
}

pub async fn list(State(auth): State<Auth>, SessionAuth(cur): SessionAuth) -> ApiResult<Reply> {
    Ok(Reply::json(&store::of_user(&auth, &cur.user.id).await?))
}

/// `POST /passkey/update-passkey` body.
pub struct UpdateBody {
    id: String,
    name: String,
}
impl Input for UpdateBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        UpdateBody { id: o.string("id"), name: o.string("name") }
    }
}

pub async fn update(State(auth): State<Auth>, Valid(b): Valid<UpdateBody>, SessionAuth(cur): SessionAuth) -> ApiResult<Reply> {
    let name = b.name.trim();
    if name.is_empty() {
        return Err(ApiError::validation("[body.name] Too small: expected string to have >=1 characters"));
    }
    let row = store::by_id(&auth, &b.id).await?.ok_or(PASSKEY_NOT_FOUND.with_status(StatusCode::NOT_FOUND))?;
    if row.user_id != cur.user.id {
        return Err(YOU_ARE_NOT_ALLOWED_TO_REGISTER_THIS_PASSKEY);
    }
    let updated = store::rename(&auth, &row.id, name).await?.ok_or(FAILED_TO_UPDATE_PASSKEY)?;
    Ok(Reply::json(&json!({ "passkey": updated })))
}

/// `POST /passkey/delete-passkey` body.
pub struct DeleteBody(String);
impl Input for DeleteBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        DeleteBody(o.string("id"))
    }
}

pub async fn delete(
    State(auth): State<Auth>,
    Valid(b): Valid<DeleteBody>,
    SessionAuth(cur): SessionAuth,
    meta: RequestMeta,
) -> ApiResult<Reply> {
    let row = store::by_id(&auth, &b.0).await?.ok_or(PASSKEY_NOT_FOUND.with_status(StatusCode::NOT_FOUND))?;
    if row.user_id != cur.user.id {
        return Err(ApiError::bare(StatusCode::UNAUTHORIZED));
    }
    store::delete(&auth, &row.id).await?;
    session::changed::emit(&auth, "passkey.deleted", Some(&meta), Some(&cur.user.id), &cur.user, passkey_data(&row)).await;
    Ok(Reply::json(&json!({ "status": true })))
}

/// A passkey as events carry it: what identifies it, never its public key or counter.
fn passkey_data(row: &PasskeyRow) -> Value {
    json!({ "passkey": { "id": row.id, "name": row.name, "credentialID": row.credential_id, "deviceType": row.device_type, "backedUp": row.backed_up, "aaguid": row.aaguid } })
}
