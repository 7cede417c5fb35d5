//! A local fake identity provider: OIDC (discovery, authorize, token, JWKS, userinfo) plus the
//! GitHub, Discord, X (`/2/users/me`) and Facebook (`/me`, `/debug_token`) user endpoints, with
//! one-shot faults. RS256 id_tokens are signed with a
//! test-only key (`idp-key.pem`); `bad_signature` signs with another key under the same `kid`.

#![allow(dead_code)]

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub const CLIENT_ID: &str = "test-client";
pub const CLIENT_SECRET: &str = "test-client-secret";
const KID: &str = "test-key-1";

#[derive(Clone, Debug)]
pub struct IdpUser {
    pub sub: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: String,
    /// Extra claims (`groups`, ...) added to the ID token and the user-info answer.
    pub claims: serde_json::Map<String, Value>,
}

struct Code {
    sub: String,
    redirect_uri: String,
    challenge: Option<String>,
    nonce: Option<String>,
    scope: String,
}

#[derive(Default)]
pub struct IdpState {
    pub users: HashMap<String, IdpUser>,
    pub default_sub: Option<String>,
    codes: HashMap<String, Code>,
    access: HashMap<String, String>,
    refresh: HashMap<String, String>,
    /// One-shot faults: "server_error", "bad_signature", "wrong_aud", "wrong_nonce", "refresh_refused",
    /// "other_app" (debug_token: the token belongs to another Facebook app).
    pub faults: Vec<String>,
    pub token_calls: usize,
    /// Token requests that authenticated with HTTP Basic.
    pub basic_token_calls: usize,
    pub expires_in: i64,
    seq: u64,
}

#[derive(Clone)]
pub struct Idp {
    pub url: String,
    pub state: Arc<Mutex<IdpState>>,
}

impl Idp {
    pub async fn start() -> Idp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(IdpState { expires_in: 3600, ..Default::default() }));
        let ctx = Ctx { url: url.clone(), state: state.clone() };
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/jwks", get(jwks))
            .route("/userinfo", get(userinfo))
            .route("/user", get(github_user))
            .route("/user/emails", get(github_emails))
            .route("/api/users/{me}", get(discord_me))
            .route("/2/users/me", get(x_me))
            .route("/me", get(facebook_me))
            .route("/debug_token", get(facebook_debug_token))
            .with_state(ctx);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Idp { url, state }
    }

    pub fn user(&self, sub: &str, email: Option<&str>, verified: bool) -> IdpUser {
        let u = IdpUser {
            sub: sub.into(),
            email: email.map(str::to_string),
            email_verified: verified,
            name: format!("User {sub}"),
            claims: Default::default(),
        };
        let mut st = self.state.lock().unwrap();
        st.users.insert(sub.into(), u.clone());
        st.default_sub = Some(sub.into());
        u
    }
    /// Sets extra claims of a user (replacing the previous ones).
    pub fn claims(&self, sub: &str, claims: Value) {
        let mut st = self.state.lock().unwrap();
        if let (Some(u), Value::Object(m)) = (st.users.get_mut(sub), claims) {
            u.claims = m;
        }
    }
    pub fn fault(&self, f: &str) {
        self.state.lock().unwrap().faults.push(f.into());
    }
    pub fn token_calls(&self) -> usize {
        self.state.lock().unwrap().token_calls
    }
}

#[derive(Clone)]
struct Ctx {
    url: String,
    state: Arc<Mutex<IdpState>>,
}

fn take_fault(st: &mut IdpState, f: &str) -> bool {
    match st.faults.iter().position(|x| x == f) {
        Some(i) => {
            st.faults.remove(i);
            true
        }
        None => false,
    }
}

async fn discovery(State(c): State<Ctx>) -> Json<Value> {
    Json(json!({
        "issuer": c.url,
        "authorization_endpoint": format!("{}/authorize", c.url),
        "token_endpoint": format!("{}/token", c.url),
        "userinfo_endpoint": format!("{}/userinfo", c.url),
        "jwks_uri": format!("{}/jwks", c.url),
        "end_session_endpoint": format!("{}/end-session?x=1", c.url),
        "id_token_signing_alg_values_supported": ["RS256"],
    }))
}

async fn jwks() -> Json<Value> {
    let n = include_str!("idp-key.n").trim();
    Json(json!({"keys": [{"kty": "RSA", "n": n, "e": "AQAB", "kid": KID, "alg": "RS256", "use": "sig"}]}))
}

async fn authorize(State(c): State<Ctx>, Query(q): Query<HashMap<String, String>>) -> Response {
    let mut st = c.state.lock().unwrap();
    let Some(redirect_uri) = q.get("redirect_uri").cloned() else { return (StatusCode::BAD_REQUEST, "redirect_uri").into_response() };
    if q.get("client_id").map(String::as_str) != Some(CLIENT_ID) {
        return (StatusCode::BAD_REQUEST, "client").into_response();
    }
    let sep = if redirect_uri.contains('?') { '&' } else { '?' };
    let state = q.get("state").cloned().unwrap_or_default();
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    if take_fault(&mut st, "access_denied") {
        return Redirect::to(&format!("{redirect_uri}{sep}error=access_denied&error_description=denied&state={}", enc(&state)))
            .into_response();
    }
    let sub = q.get("login_hint").cloned().or(st.default_sub.clone()).unwrap_or_default();
    st.seq += 1;
    let code = format!("code-{}-{}", st.seq, rand_hex());
    st.codes.insert(
        code.clone(),
        Code {
            sub,
            redirect_uri: redirect_uri.clone(),
            challenge: q.get("code_challenge").cloned(),
            nonce: q.get("nonce").cloned(),
            scope: q.get("scope").cloned().unwrap_or_default(),
        },
    );
    Redirect::to(&format!("{redirect_uri}{sep}code={}&state={}&iss={}", enc(&code), enc(&state), enc(&c.url))).into_response()
}

fn rand_hex() -> String {
    use rand::RngCore;
    let mut b = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

fn err(status: StatusCode, e: &str) -> Response {
    (status, Json(json!({"error": e}))).into_response()
}

/// The client's credentials: HTTP Basic (RFC 6749 §2.3.1, both parts form-urlencoded) or the form.
fn client_of(h: &HeaderMap, f: &HashMap<String, String>) -> Option<(String, String)> {
    if let Some(basic) = h.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Basic ")) {
        let raw = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(basic).ok()?).ok()?;
        let (id, secret) = raw.split_once(':')?;
        let dec = |s: &str| url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned());
        return (!f.contains_key("client_secret")).then(|| Some((dec(id)?, dec(secret)?))).flatten();
    }
    Some((f.get("client_id")?.clone(), f.get("client_secret")?.clone()))
}

async fn token(State(c): State<Ctx>, h: HeaderMap, Form(f): Form<HashMap<String, String>>) -> Response {
    let mut st = c.state.lock().unwrap();
    st.token_calls += 1;
    if client_of(&h, &f) != Some((CLIENT_ID.to_string(), CLIENT_SECRET.to_string())) {
        return err(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    if h.contains_key("authorization") {
        st.basic_token_calls += 1;
    }
    if take_fault(&mut st, "server_error") {
        return (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response();
    }
    let (sub, nonce, scope) = match f.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let Some(code) = f.get("code").and_then(|c| st.codes.remove(c)) else { return err(StatusCode::BAD_REQUEST, "invalid_grant") };
            if f.get("redirect_uri") != Some(&code.redirect_uri) {
                return err(StatusCode::BAD_REQUEST, "invalid_grant");
            }
            match (&code.challenge, f.get("code_verifier")) {
                (Some(ch), Some(v)) if URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes())) == *ch => {}
                (None, None) => {}
                _ => return err(StatusCode::BAD_REQUEST, "invalid_grant"),
            }
            (code.sub, code.nonce, code.scope)
        }
        Some("refresh_token") => {
            if take_fault(&mut st, "refresh_refused") {
                return err(StatusCode::BAD_REQUEST, "invalid_grant");
            }
            let Some(sub) = f.get("refresh_token").and_then(|r| st.refresh.remove(r)) else {
                return err(StatusCode::BAD_REQUEST, "invalid_grant");
            };
            (sub, None, "openid email profile".to_string())
        }
        _ => return err(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
    };
    let Some(user) = st.users.get(&sub).cloned() else { return err(StatusCode::BAD_REQUEST, "invalid_grant") };
    st.seq += 1;
    let access = format!("at-{}-{}", st.seq, rand_hex());
    let refresh = format!("rt-{}-{}", st.seq, rand_hex());
    st.access.insert(access.clone(), sub.clone());
    st.refresh.insert(refresh.clone(), sub.clone());
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({"iss": c.url, "sub": user.sub, "aud": CLIENT_ID, "iat": now, "exp": now + 3600, "name": user.name});
    if let Some(e) = &user.email {
        claims["email"] = json!(e);
        claims["email_verified"] = json!(user.email_verified);
    }
    for (k, v) in &user.claims {
        claims[k] = v.clone();
    }
    if let Some(n) = nonce {
        claims["nonce"] = json!(n);
    }
    if take_fault(&mut st, "wrong_aud") {
        claims["aud"] = json!("someone-else");
    }
    if take_fault(&mut st, "wrong_nonce") {
        claims["nonce"] = json!("not-the-nonce");
    }
    let pem: &[u8] = if take_fault(&mut st, "bad_signature") { include_bytes!("other-key.pem") } else { include_bytes!("idp-key.pem") };
    let mut header = Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(KID.into());
    let id_token = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_rsa_pem(pem).unwrap()).unwrap();
    let mut body =
        json!({"access_token": access, "token_type": "Bearer", "expires_in": st.expires_in, "refresh_token": refresh, "scope": scope});
    if scope.split(' ').any(|s| s == "openid") {
        body["id_token"] = json!(id_token);
    }
    Json(body).into_response()
}

fn bearer_user(c: &Ctx, h: &HeaderMap) -> Option<IdpUser> {
    let t = h.get("authorization")?.to_str().ok()?.strip_prefix("Bearer ")?;
    let st = c.state.lock().unwrap();
    let sub = st.access.get(t)?;
    st.users.get(sub).cloned()
}

async fn userinfo(State(c): State<Ctx>, h: HeaderMap) -> Response {
    match bearer_user(&c, &h) {
        Some(u) => {
            let mut v = json!({"sub": u.sub, "email": u.email, "email_verified": u.email_verified, "name": u.name});
            for (k, x) in u.claims {
                v[k] = x;
            }
            Json(v).into_response()
        }
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

async fn github_user(State(c): State<Ctx>, h: HeaderMap) -> Response {
    if h.get("user-agent").is_none() {
        return StatusCode::FORBIDDEN.into_response();
    }
    match bearer_user(&c, &h) {
        Some(u) => {
            Json(json!({"id": 4242, "login": u.sub, "name": null, "email": null, "avatar_url": "https://avatars/x.png"})).into_response()
        }
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

async fn github_emails(State(c): State<Ctx>, h: HeaderMap) -> Response {
    match bearer_user(&c, &h) {
        Some(u) => Json(json!([
            {"email": "other@example.com", "primary": false, "verified": false},
            {"email": u.email, "primary": true, "verified": u.email_verified},
        ]))
        .into_response(),
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

async fn discord_me(State(c): State<Ctx>, h: HeaderMap) -> Response {
    match bearer_user(&c, &h) {
        Some(u) => {
            let mut v = json!({"id": "80351110224678912", "username": u.sub, "global_name": u.name, "avatar": null, "discriminator": "0"});
            if let Some(e) = u.email {
                v["email"] = json!(e);
                v["verified"] = json!(u.email_verified);
            }
            Json(v).into_response()
        }
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

/// X's `/2/users/me`: `user.fields=profile_image_url` for the profile; `user.fields=confirmed_email`
/// answers the e-mail only for users that have one here (an app with e-mail access), else 403.
async fn x_me(State(c): State<Ctx>, Query(q): Query<HashMap<String, String>>, h: HeaderMap) -> Response {
    let Some(u) = bearer_user(&c, &h) else { return StatusCode::UNAUTHORIZED.into_response() };
    match q.get("user.fields").map(String::as_str) {
        Some("confirmed_email") => match u.email {
            Some(e) => Json(json!({"data": {"id": "1445880548472328192", "name": u.name, "username": u.sub, "confirmed_email": e}}))
                .into_response(),
            None => (StatusCode::FORBIDDEN, Json(json!({"title": "Forbidden"}))).into_response(),
        },
        _ => Json(json!({"data": {
            "id": "1445880548472328192",
            "name": u.name,
            "username": u.sub,
            "profile_image_url": "https://pbs.twimg.com/profile_images/x_normal.jpg"
        }}))
        .into_response(),
    }
}

/// Facebook's Graph `/me?fields=id,name,email,picture`.
async fn facebook_me(State(c): State<Ctx>, Query(q): Query<HashMap<String, String>>, h: HeaderMap) -> Response {
    let Some(u) = bearer_user(&c, &h) else { return StatusCode::UNAUTHORIZED.into_response() };
    if q.get("fields").map(String::as_str) != Some("id,name,email,picture") {
        return StatusCode::BAD_REQUEST.into_response();
    }
    Json(json!({
        "id": "10229876543210",
        "name": u.name,
        "email": u.email,
        "picture": {"data": {"height": 50, "is_silhouette": false, "url": "https://platform-lookaside.fbsbx.com/x.jpg", "width": 50}}
    }))
    .into_response()
}

/// Facebook's `debug_token`: the app token must be `CLIENT_ID|CLIENT_SECRET`.
async fn facebook_debug_token(State(c): State<Ctx>, Query(q): Query<HashMap<String, String>>) -> Response {
    let mut st = c.state.lock().unwrap();
    if q.get("access_token").map(String::as_str) != Some(&format!("{CLIENT_ID}|{CLIENT_SECRET}")) {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": {"message": "Invalid app token"}}))).into_response();
    }
    let valid = q.get("input_token").is_some_and(|t| st.access.contains_key(t));
    let app = if take_fault(&mut st, "other_app") { "another-app" } else { CLIENT_ID };
    Json(json!({"data": {"app_id": app, "type": "USER", "is_valid": valid, "user_id": "10229876543210"}})).into_response()
}
