//! The `idToken` variants of `POST /sign-in/social` and `POST /link-social` (spec §2.3, §2.4):
//! a native or one-tap client already holds an ID token from the provider (Google One Tap,
//! Sign in with Apple on iOS, MSAL) and hands it to the server instead of doing the redirect dance.
//!
//! Only providers whose identity is an OIDC ID token accept it (Google, Apple, Microsoft, generic
//! OIDC); the token is verified against the provider's JWKS (signature, `iss`, `aud`, `exp`, at
//! most one hour old, the nonce when the client gives one) before a single claim is used. The
//! answers and error codes are Better Auth's: sign-in returns `{redirect:false, token, user}` with
//! the session cookies, linking returns `{url:"", status:true, redirect:false}` and never creates a
//! session. Nothing here answers a 500.

use super::account::{self, Code};
use super::oauth::Tokens;
use super::profile::{self, Profile};
use super::provider::{Provider, Runtime};
use super::{errors, jwt};
use crate::app::Auth;
use crate::error::{codes, ApiError, ApiResult};
use crate::http::input::Obj;
use crate::http::reply::Reply;
use crate::session::hooks::{self, Born, Federated, Method, Outcome, SignIn};
use crate::session::{self, Current, RequestMeta};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};

/// The body's `idToken` object.
pub struct IdTokenBody {
    pub token: String,
    pub nonce: Option<String>,
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
    /// Apple's `user` object (`{name:{firstName,lastName}, email}`), as JSON.
    pub user: Option<String>,
}

impl IdTokenBody {
    /// `idToken` (zod: `{token, nonce?, accessToken?, refreshToken?}`; sign-in's also has
    /// `expiresAt?: number` and Apple's `user?: {name?: {firstName?, lastName?}, email?}`).
    pub fn read(o: &mut Obj<'_>, sign_in: bool) -> Option<IdTokenBody> {
        o.opt_object("idToken", |t| {
            let token = t.string("token");
            let nonce = t.opt_string("nonce");
            let access_token = t.opt_string("accessToken");
            let refresh_token = t.opt_string("refreshToken");
            let mut user = None;
            if sign_in {
                t.opt_number("expiresAt");
                t.opt_object("user", |u| {
                    u.opt_object("name", |n| (n.opt_string("firstName"), n.opt_string("lastName")));
                    u.opt_string("email");
                });
                user = t.raw("user").map(Value::to_string);
            }
            IdTokenBody { token, nonce, access_token, refresh_token, user }
        })
    }
}

fn unauthorized(e: ApiError) -> ApiError {
    ApiError { status: StatusCode::UNAUTHORIZED, ..e }
}

/// Verifies the token and maps it to a profile: `ID_TOKEN_NOT_SUPPORTED` (404), `INVALID_TOKEN`
/// (401) or `FAILED_TO_GET_USER_INFO` (401).
async fn verified_profile(rt: &Runtime, p: &Provider, body: &IdTokenBody) -> ApiResult<Profile> {
    if !p.supports_id_token() {
        return Err(errors::ID_TOKEN_NOT_SUPPORTED);
    }
    let http = rt.http().map_err(|e| {
        tracing::error!(error = %e, "id-token sign-in: no HTTP client");
        unauthorized(codes::INVALID_TOKEN)
    })?;
    // As in Better Auth, anything that stops the verification (IdP discovery or JWKS down
    // included) is an invalid token: the server cannot vouch for it.
    let ep = p.endpoints(http).await.map_err(|e| {
        tracing::warn!(provider = %p.id, error = %e, "id-token sign-in: provider endpoints unavailable");
        unauthorized(codes::INVALID_TOKEN)
    })?;
    let claims = jwt::verify_client_id_token(http, p, &ep, &body.token, body.nonce.as_deref()).await.map_err(|e| {
        tracing::warn!(provider = %p.id, error = %e, "invalid id token");
        unauthorized(codes::INVALID_TOKEN)
    })?;
    profile::from_id_token(p, claims, body.user.as_deref()).map_err(|e| {
        tracing::warn!(provider = %p.id, error = %e, "id-token sign-in: no user info");
        errors::FAILED_TO_GET_USER_INFO
    })
}

fn tokens_of(body: &IdTokenBody, with_refresh: bool) -> Tokens {
    Tokens {
        access_token: body.access_token.clone(),
        refresh_token: if with_refresh { body.refresh_token.clone() } else { None },
        id_token: Some(body.token.clone()),
        ..Default::default()
    }
}

/// Better Auth's `OAUTH_LINK_ERROR`: 401 with the linking error's text as the message.
fn link_error(code: Code) -> ApiError {
    if code == "email_not_verified" {
        return codes::EMAIL_NOT_VERIFIED;
    }
    ApiError::new(StatusCode::UNAUTHORIZED, "OAUTH_LINK_ERROR", "").with_message(code.replace('_', " "))
}

/// `POST /sign-in/social` with `idToken`.
pub async fn sign_in(
    auth: &Auth,
    rt: &Runtime,
    p: &Provider,
    body: &IdTokenBody,
    meta: &RequestMeta,
    headers: &HeaderMap,
) -> ApiResult<Reply> {
    let prof = verified_profile(rt, p, body).await?;
    let email = account::email_of(auth, &p.id, &prof).ok_or(errors::USER_EMAIL_NOT_FOUND)?;
    // Better Auth stores the access token and the id token on sign-in, not the refresh token.
    let (user, is_new) = account::sign_in(auth, &p.id, &email, &prof, &tokens_of(body, false), &[], meta).await.map_err(link_error)?;
    let kind = format!("{:?}", p.kind).to_ascii_lowercase();
    let federated = Federated {
        provider: &p.id,
        kind: &kind,
        claims: &prof.raw,
        access_token: body.access_token.as_deref(),
        api_url: p.cfg.api_url.as_deref(),
        http: rt.http().ok(),
        new_user: is_new,
    };
    let sign_in = SignIn { user: &user, method: Method::IdToken(p.id.clone()), meta, headers, remember: true, federated: Some(federated) };
    let (s, user) = match hooks::sign_in_amended(auth, sign_in, Default::default()).await {
        Ok(Outcome { born: Born::Session(s), user: amended, .. }) => (s, amended.unwrap_or(user)),
        Ok(Outcome { born: Born::Answered(r), .. }) => return Ok(r),
        Err(e) if e.code.is_some() => return Err(e),
        Err(e) => {
            tracing::warn!(error = %e, "id-token sign-in: creating the session failed");
            return Err(link_error("unable_to_create_session"));
        }
    };
    let cookies = session::issue_cookies(auth, &s, &user, false);
    Ok(Reply::json(&json!({"redirect": false, "token": s.token, "user": user})).cookies(cookies))
}

/// `POST /link-social` with `idToken`: links the provider account to the session's user.
pub async fn link(auth: &Auth, rt: &Runtime, p: &Provider, body: &IdTokenBody, cur: &Current, meta: &RequestMeta) -> ApiResult<Reply> {
    let prof = verified_profile(rt, p, body).await?;
    let email = account::email_of(auth, &p.id, &prof).ok_or(errors::USER_EMAIL_NOT_FOUND)?;
    let existing = auth.store.find_account(&p.id, &prof.id).await.map_err(|e| {
        tracing::error!(error = %e, "link-social: store");
        errors::LINKING_FAILED
    })?;
    let done = Reply::json(&json!({"url": "", "status": true, "redirect": false}));
    match existing {
        Some(mut a) if a.user_id == cur.user.id => {
            // Already linked: refresh the stored tokens (only those the client sent).
            if body.access_token.is_some() {
                a.access_token = account::seal(auth, body.access_token.as_deref());
            }
            if body.refresh_token.is_some() {
                a.refresh_token = account::seal(auth, body.refresh_token.as_deref());
            }
            a.id_token = Some(body.token.clone());
            a.updated_at = auth.now();
            auth.store.update_account_tokens(&a).await.map_err(|e| {
                tracing::warn!(error = %e, "link-social: updating the account failed");
                errors::LINKING_FAILED
            })?;
            return Ok(done);
        }
        Some(_) => return Err(errors::SOCIAL_ACCOUNT_ALREADY_LINKED),
        None => {}
    }
    let l = &super::settings(auth).account_linking;
    if !l.email_vouched_for(&p.id, prof.email_verified) || !l.enabled {
        return Err(errors::LINKING_NOT_ALLOWED);
    }
    if email.to_lowercase() != cur.user.email.to_lowercase() && !l.allow_different_emails {
        return Err(errors::LINKING_DIFFERENT_EMAILS_NOT_ALLOWED);
    }
    let a = account::new_account(auth, &p.id, &cur.user.id, &prof, &tokens_of(body, true), &[]);
    auth.store.create_account(&a).await.map_err(|e| {
        tracing::warn!(error = %e, "link-social: creating the account failed");
        errors::LINKING_FAILED
    })?;
    account::emit(auth, "account.linked", meta, &a, "id-token").await;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> ApiResult<Option<IdTokenBody>> {
        struct B(Option<IdTokenBody>);
        impl crate::http::input::Input for B {
            fn parse(o: &mut Obj<'_>) -> Self {
                B(IdTokenBody::read(o, true))
            }
        }
        crate::http::input::parse::<B>(Some(&json!({ "idToken": v })), "body").map(|b| b.0)
    }

    #[test]
    fn parses_the_id_token_object() {
        let b = parse(json!({"token": "t", "nonce": "n", "expiresAt": 1, "user": {"name": {"firstName": "A"}}})).unwrap().unwrap();
        assert_eq!((b.token.as_str(), b.nonce.as_deref()), ("t", Some("n")));
        assert!(b.user.unwrap().contains("firstName"));
        let e = parse(json!({"nonce": "n"})).err().unwrap();
        assert_eq!(e.message, "[body.idToken.token] Invalid input: expected string, received undefined");
        assert!(parse(json!("t")).is_err());
        assert!(parse(json!({"token": "t", "expiresAt": "x"})).is_err());
    }

    #[test]
    fn link_errors_keep_better_auths_text() {
        let e = link_error("account_not_linked");
        assert_eq!((e.status.as_u16(), e.code, e.message.as_ref()), (401, Some("OAUTH_LINK_ERROR"), "account not linked"));
        assert_eq!(link_error("email_not_verified").status.as_u16(), 403);
    }
}
