//! Micro-benchmarks of the per-request hot functions: `cargo bench -p portcullis --bench hot`.
//!
//! Each benchmark measures ~2 s after a 1 s warm-up, so the whole run stays short; results are
//! recorded in BENCHMARKS.md ("Micro-benchmarks (cargo bench)").

use std::hint::black_box;
use std::time::Duration;

use chrono::{DateTime, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use portcullis::crypto::password::PasswordHasher;
use portcullis::crypto::sign::{sign_value, verify_signed};
use portcullis::http::origin::TrustedOrigins;
use portcullis::plugins::email_password::token::{self, Claims};
use portcullis::session::cookie_cache::{decode_compact, encode_compact, CachePayload};
use portcullis::store::model::{Session, User};
use serde::Serialize;

const SECRET: &str = "bench-secret-0123456789abcdefghijklmnopqrstuvwxyz";
const TOKEN: &str = "Yx3kQ9mZ2pL7vB1nR5tW8cF4hJ6dS0aE";

fn ts(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn sample() -> (Session, User) {
    let session = Session {
        extra: Default::default(),
        hidden: Default::default(),
        expires_at: ts(1_767_830_400_000),
        token: TOKEN.to_string(),
        created_at: ts(1_767_225_600_000),
        updated_at: ts(1_767_225_600_000),
        ip_address: "203.0.113.7".to_string(),
        user_agent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36".to_string(),
        user_id: "u7GkP2qLx9VbN3mR8tZs1cWd".to_string(),
        id: "s4HjK8nQw2ErT6yU0iOp3aSd".to_string(),
    };
    let user = User {
        extra: Default::default(),
        hidden: Default::default(),
        name: "Bench User".to_string(),
        email: "bench-user@bench.example.com".to_string(),
        email_verified: true,
        image: None,
        created_at: ts(1_767_225_000_000),
        updated_at: ts(1_767_225_000_000),
        id: "u7GkP2qLx9VbN3mR8tZs1cWd".to_string(),
    };
    (session, user)
}

/// The get-session response body (`{"session":…,"user":…}`), as the handler serialises it.
#[derive(Serialize)]
struct SessionOut<'a> {
    session: &'a Session,
    user: &'a User,
}

fn config() -> Criterion {
    Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(2)).sample_size(50)
}

fn signed_cookie(c: &mut Criterion) {
    let signed = sign_value(SECRET, TOKEN);
    let secrets = [SECRET];
    c.bench_function("signed_cookie/sign", |b| b.iter(|| sign_value(black_box(SECRET), black_box(TOKEN))));
    c.bench_function("signed_cookie/verify", |b| b.iter(|| verify_signed(black_box(&secrets), black_box(&signed)).is_some()));
}

fn cookie_cache(c: &mut Criterion) {
    let (session, user) = sample();
    let payload = CachePayload { session, user, updated_at: 1_767_225_600_000, version: "1".to_string() };
    let expires = 1_767_225_900_000;
    let cookie = encode_compact(SECRET, &payload, expires);
    let secrets = [SECRET];
    assert!(decode_compact(&secrets, &cookie).is_some(), "the bench cookie must decode");
    c.bench_function("cookie_cache_compact/encode", |b| b.iter(|| encode_compact(black_box(SECRET), black_box(&payload), expires)));
    c.bench_function("cookie_cache_compact/decode", |b| b.iter(|| decode_compact(black_box(&secrets), black_box(&cookie))));
}

fn verification_jwt(c: &mut Criterion) {
    let claims = Claims {
        email: "bench-user@bench.example.com".to_string(),
        update_to: None,
        request_type: None,
        user_id: None,
        iat: 1_767_225_600,
        exp: 1_767_229_200,
    };
    let jwt = token::sign(SECRET, &claims);
    let secrets = [SECRET];
    assert!(token::verify(&secrets, &jwt, 1_767_225_700).is_ok(), "the bench token must verify");
    c.bench_function("verification_jwt/sign", |b| b.iter(|| token::sign(black_box(SECRET), black_box(&claims))));
    c.bench_function("verification_jwt/verify", |b| b.iter(|| token::verify(black_box(&secrets), black_box(&jwt), 1_767_225_700)));
}

fn origin(c: &mut Criterion) {
    let trusted = TrustedOrigins::new(
        "http://localhost:3000",
        ["https://app.example.com".to_string(), "https://*.example.org".to_string(), "exp://192.168.*.*:*/**".to_string()],
    );
    c.bench_function("origin/exact_match", |b| b.iter(|| trusted.matches(black_box("https://app.example.com"), false)));
    c.bench_function("origin/wildcard_match", |b| b.iter(|| trusted.matches(black_box("https://tenant.example.org"), false)));
    c.bench_function("origin/no_match", |b| b.iter(|| trusted.matches(black_box("https://evil.example.net"), false)));
    c.bench_function("origin/relative_path", |b| b.iter(|| trusted.matches(black_box("/dashboard?tab=1"), true)));
}

fn model_json(c: &mut Criterion) {
    let (session, user) = sample();
    let out = SessionOut { session: &session, user: &user };
    let json = serde_json::to_string(&out).unwrap_or_default();
    c.bench_function("model_json/serialise_session_user", |b| b.iter(|| serde_json::to_vec(black_box(&out))));
    c.bench_function("model_json/parse_session", |b| {
        let s = serde_json::to_string(&session).unwrap_or_default();
        b.iter(|| serde_json::from_str::<Session>(black_box(&s)))
    });
    c.bench_function("model_json/parse_user", |b| {
        let u = serde_json::to_string(&user).unwrap_or_default();
        b.iter(|| serde_json::from_str::<User>(black_box(&u)))
    });
    assert!(json.starts_with(r#"{"session":{"expiresAt":"#), "{json}");
}

fn argon2id(c: &mut Criterion) {
    // The configured defaults (Config::password_hashing): 19 MiB, t=2, p=1, on one pool worker.
    let cfg = portcullis::config::Config::default();
    let ph = &cfg.password_hashing;
    let hasher = PasswordHasher::new(1, ph.memory_kib, ph.iterations, ph.parallelism);
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => panic!("tokio runtime: {e}"),
    };
    let mut g = c.benchmark_group("argon2id");
    g.sample_size(10).measurement_time(Duration::from_secs(4));
    g.bench_function(format!("hash_on_pool_m{}_t{}_p{}", ph.memory_kib, ph.iterations, ph.parallelism), |b| {
        b.iter(|| rt.block_on(hasher.hash(black_box("correct horse battery staple"))))
    });
    g.finish();
}

criterion_group! {
    name = hot;
    config = config();
    targets = signed_cookie, cookie_cache, verification_jwt, origin, model_json, argon2id
}
criterion_main!(hot);
