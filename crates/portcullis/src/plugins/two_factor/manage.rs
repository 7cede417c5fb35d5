//! Enrolment and its management: `enable`, `disable`, `get-totp-uri`, `generate-backup-codes`
//! (spec plugins §1.5).

use super::account::{check_password, rotate, set_enabled};
use super::verifier::Verifier;
use super::{backup, challenge, errors, keys, row, settings, totp};
use crate::app::Auth;
use crate::error::codes;
use crate::error::ApiResult;
use crate::http::input::{Input, Obj, Valid};
use crate::http::reply::Reply;
use crate::session::{MaybeSensitiveSession, RequestMeta, SensitiveSession, SessionAuth};
use crate::store::model::User;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::json;

/// `{password}` (optional with `allow_passwordless`: the handlers read this lenient form, the
/// pipeline checks the configured one first, see `TwoFactor::inputs`).
pub struct PasswordBody {
    pub password: Option<String>,
}

impl Input for PasswordBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        PasswordBody { password: o.opt_string("password") }
    }
}

/// `{password: string}`: the schema without `allow_passwordless`.
pub struct StrictPasswordBody;

impl Input for StrictPasswordBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        o.string("password");
        StrictPasswordBody
    }
}

/// `{password, method?: "otp"|"totp", issuer?}`
pub struct EnableBody {
    password: Option<String>,
    method: Option<String>,
    issuer: Option<String>,
}

impl Input for EnableBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        EnableBody { password: o.opt_string("password"), method: o.opt_enum("method", &["otp", "totp"]), issuer: o.opt_string("issuer") }
    }
}

/// [`EnableBody`] with the password required.
pub struct StrictEnableBody;

impl Input for StrictEnableBody {
    fn parse(o: &mut Obj<'_>) -> Self {
        o.string("password");
        o.opt_enum("method", &["otp", "totp"]);
        o.opt_string("issuer");
        StrictEnableBody
    }
}

/// `POST /two-factor/enable`
///
/// Also for a user `required_for_roles` keeps from signing in until they enrol: without a session,
/// the enrolment challenge's `two_factor` cookie names the user ([`enrolling`]).
pub async fn enable(
    State(auth): State<Auth>,
    Valid(b): Valid<EnableBody>,
    MaybeSensitiveSession(cur): MaybeSensitiveSession,
    meta: RequestMeta,
    headers: HeaderMap,
) -> ApiResult<Reply> {
    let cfg = settings(&auth);
    let enrolling_user = match &cur {
        Some(_) => None,
        None => Some(enrolling(&auth, &headers).await?),
    };
    let Some(user) = cur.as_ref().map(|c| &c.user).or(enrolling_user.as_ref()) else { return Err(codes::UNAUTHORIZED) };
    check_password(&auth, &user.id, b.password.as_deref()).await?;
    let otp = b.method.as_deref() == Some("otp");
    if otp && !cfg.otp_on() {
        return Err(errors::OTP_NOT_CONFIGURED);
    }
    if !otp && cfg.totp.disable {
        return Err(errors::TOTP_NOT_CONFIGURED);
    }
    if otp {
        let updated = set_enabled(&auth, user, true, &meta).await?;
        let Some(cur) = &cur else { return Ok(Reply::json(&json!({ "method": "otp" }))) };
        let cookies = match rotate(&auth, cur, &updated, &meta, &headers).await? {
            Ok((_, cookies)) => cookies,
            Err(answer) => return Ok(answer),
        };
        return Ok(Reply::json(&json!({ "method": "otp" })).cookies(cookies));
    }
    let existing = row::find(&auth, &user.id).await?;
    if existing.as_ref().is_some_and(|r| r.verified != Some(false)) {
        return Err(errors::TOTP_ALREADY_ENABLED);
    }
    let keys = keys(&auth);
    let codes = backup::generate(&cfg.backup_codes);
    let secret = totp::new_secret();
    let mut cookies = Vec::new();
    if cfg.skip_verification_on_enable {
        let updated = set_enabled(&auth, user, true, &meta).await?;
        if let Some(cur) = &cur {
            match rotate(&auth, cur, &updated, &meta, &headers).await? {
                Ok((_, c)) => cookies = c,
                Err(answer) => return Ok(answer),
            }
        }
    }
    let stored_codes = backup::encode(&codes, &keys, cfg.backup_codes.store_backup_codes);
    row::upsert(&auth, &user.id, existing.as_ref(), &keys.encrypt(&secret), &stored_codes, cfg.skip_verification_on_enable).await?;
    let issuer =
        [b.issuer.as_deref(), cfg.issuer.as_deref()].into_iter().flatten().find(|i| !i.is_empty()).unwrap_or(&auth.config.app_name);
    let uri = totp::uri(secret.as_bytes(), issuer, &user.email, cfg.totp.digits, cfg.totp.period);
    Ok(Reply::json(&json!({ "method": "totp", "totpURI": uri, "backupCodes": codes })).cookies(cookies))
}

/// The user of an enrolment challenge (the `two_factor` cookie of a sign-in `required_for_roles`
/// held back): only a user who must enrol and has not; 401 otherwise (a session is needed).
pub async fn enrolling(auth: &Auth, headers: &HeaderMap) -> ApiResult<User> {
    let v = Verifier::resolve(auth, headers, None).await.map_err(|_| codes::UNAUTHORIZED)?;
    let user = v.user();
    if challenge::enabled_for(user) || !challenge::required_for(settings(auth), user) {
        return Err(codes::UNAUTHORIZED);
    }
    Ok(user.clone())
}

/// `POST /two-factor/disable`
pub async fn disable(
    State(auth): State<Auth>,
    Valid(b): Valid<PasswordBody>,
    SensitiveSession(cur): SensitiveSession,
    meta: RequestMeta,
    headers: HeaderMap,
) -> ApiResult<Reply> {
    check_password(&auth, &cur.user.id, b.password.as_deref()).await?;
    if challenge::required_for(settings(&auth), &cur.user) {
        return Err(errors::TWO_FACTOR_REQUIRED_FOR_ROLE);
    }
    let updated = set_enabled(&auth, &cur.user, false, &meta).await?;
    row::delete_for_user(&auth, &updated.id).await?;
    let mut cookies = match rotate(&auth, &cur, &updated, &meta, &headers).await? {
        Ok((_, cookies)) => cookies,
        Err(answer) => return Ok(answer),
    };
    cookies.extend(challenge::forget_device(&auth, &headers).await?);
    Ok(Reply::json(&json!({ "status": true })).cookies(cookies))
}

/// `POST /two-factor/get-totp-uri`
pub async fn get_totp_uri(State(auth): State<Auth>, Valid(b): Valid<PasswordBody>, SessionAuth(cur): SessionAuth) -> ApiResult<Reply> {
    let cfg = settings(&auth);
    if cfg.totp.disable {
        return Err(errors::totp_not_configured());
    }
    let user = &cur.user;
    let r = row::find(&auth, &user.id).await?.ok_or(errors::TOTP_NOT_ENABLED)?;
    let secret = keys(&auth)
        .decrypt(&r.secret)
        .ok_or_else(|| crate::ApiError::internal("a two-factor secret does not decrypt with the configured secrets"))?;
    check_password(&auth, &user.id, b.password.as_deref()).await?;
    // Better Auth's quirk: the plugin-level issuer does not reach this endpoint.
    let issuer = cfg.totp.issuer.as_deref().filter(|i| !i.is_empty()).unwrap_or(&auth.config.app_name);
    let uri = totp::uri(&totp::key_of(&secret), issuer, &user.email, cfg.totp.digits, cfg.totp.period);
    Ok(Reply::json(&json!({ "totpURI": uri })))
}

/// `POST /two-factor/generate-backup-codes`
pub async fn generate_backup_codes(
    State(auth): State<Auth>,
    Valid(b): Valid<PasswordBody>,
    SessionAuth(cur): SessionAuth,
    meta: RequestMeta,
) -> ApiResult<Reply> {
    let cfg = settings(&auth);
    let user = &cur.user;
    if !challenge::enabled_for(user) {
        return Err(errors::TWO_FACTOR_NOT_ENABLED);
    }
    check_password(&auth, &user.id, b.password.as_deref()).await?;
    let r = row::find(&auth, &user.id).await?.ok_or(errors::TWO_FACTOR_NOT_ENABLED)?;
    let codes = backup::generate(&cfg.backup_codes);
    row::set(&auth, &r.id, json!({ "backupCodes": backup::encode(&codes, &keys(&auth), cfg.backup_codes.store_backup_codes) })).await?;
    crate::session::changed::emit(&auth, "two-factor.backup-codes-generated", Some(&meta), Some(&user.id), user, serde_json::Value::Null)
        .await;
    Ok(Reply::json(&json!({ "status": true, "backupCodes": codes })))
}
