//! `[metrics]`: Prometheus `/metrics` behind a bearer token on the main listener or on a listener
//! of its own, and the series a scripted session leaves.

use crate::harness::*;
use serde_json::json;

const TOKEN: &str = "scrape-token-0123456789";

/// The value of the series `series` (name and labels exactly as exported), if present.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.split(' ').next()?.parse().ok())
}

fn expect(text: &str, series: &str, want: f64) {
    assert_eq!(value(text, series), Some(want), "{series} in:\n{text}");
}

async fn scrape(srv: &TestServer) -> String {
    let r = srv
        .client_with_origin(None)
        .req(reqwest::Method::GET, &format!("{}/metrics", srv.origin()))
        .header("authorization", &format!("Bearer {TOKEN}"))
        .send()
        .await;
    r.expect_status(200);
    assert!(r.header("content-type").is_some_and(|c| c.starts_with("application/openmetrics-text")));
    r.text.clone()
}

fn token_mode(c: &mut portcullis::Config) {
    c.metrics.enabled = true;
    c.metrics.token = Some(TOKEN.into());
}

both!(
    a_scripted_session_leaves_the_expected_series,
    config = |c| {
        token_mode(c);
        c.rate_limit.enabled = Some(true);
        c.session.cookie_cache.enabled = true;
    },
    |srv| async move {
        let u = srv.user("metrics").await; // sign-up (and its session)
        let c = srv.sign_in(&u.email, &u.password).await; // sign-in 1 of 3 in the window
        let wrong = json!({"email": u.email, "password": "not-the-password"});
        srv.client().post_json("/sign-in/email", wrong.clone()).await.expect_status(401); // 2 of 3
        srv.client().post_json("/sign-in/email", wrong.clone()).await.expect_status(401); // 3 of 3
        srv.client().post_json("/sign-in/email", wrong).await.expect_status(429); // limited
        for _ in 0..3 {
            c.get("/get-session").await.expect_status(200); // from the cookie cache
        }
        c.get("/get-session?disableCookieCache=true").await.expect_status(200); // from the store
        c.post_empty("/sign-out").await.expect_status(200);
        c.get("/no-such-route").await.expect_status(404);

        let text = scrape(&srv).await;
        let req = |route: &str, method: &str, status: u16| {
            format!(r#"portcullis_http_requests_total{{route="{route}",method="{method}",status="{status}"}}"#)
        };
        expect(&text, &req("/sign-up/email", "POST", 200), 1.0);
        expect(&text, &req("/sign-in/email", "POST", 200), 1.0);
        expect(&text, &req("/sign-in/email", "POST", 401), 2.0);
        expect(&text, &req("/sign-in/email", "POST", 429), 1.0);
        expect(&text, &req("/get-session", "GET", 200), 4.0);
        expect(&text, &req("/sign-out", "POST", 200), 1.0);
        expect(&text, &req("unmatched", "GET", 404), 1.0);
        assert!(!text.contains("no-such-route"), "a raw path never becomes a label");
        expect(&text, r#"portcullis_http_request_duration_seconds_count{route="/get-session",method="GET"}"#, 4.0);
        expect(&text, r#"portcullis_sign_ups_total{method="email"}"#, 1.0);
        expect(&text, r#"portcullis_sign_ins_total{method="email"}"#, 1.0);
        // The two refusals (`sign-in.failed`); the rate-limited attempt never reached the handler.
        expect(&text, r#"portcullis_sign_in_failures_total{method="email"}"#, 2.0);
        expect(&text, r#"portcullis_rate_limit_rejections_total{rule="credentials"}"#, 1.0);
        expect(&text, "portcullis_cookie_cache_hits_total", 3.0);
        expect(&text, "portcullis_cookie_cache_misses_total", 1.0);
        // The sign-up's session; the signed-in one was signed out.
        expect(&text, "portcullis_active_sessions", 1.0);
        expect(&text, "portcullis_password_hash_queue_depth", 0.0);
        expect(&text, r#"portcullis_dependency_up{dependency="database"}"#, 1.0);
        assert!(!text.contains(r#"dependency="redis""#), "no Redis configured, no Redis series");
        for zero in ["portcullis_secondary_failures_total", "portcullis_mail_dropped_total", "portcullis_background_dropped_total"] {
            expect(&text, zero, 0.0);
        }
    }
);

both!(the_token_guards_metrics_on_the_main_listener, config = token_mode, |srv| async move {
    let url = format!("{}/metrics", srv.origin());
    let c = srv.client_with_origin(None);
    let r = c.get(&url).await;
    r.expect_status(401);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    assert!(!r.text.contains("portcullis_"));
    c.req(reqwest::Method::GET, &url).header("authorization", "Bearer not-the-token-at-all").send().await.expect_status(401);
    c.req(reqwest::Method::GET, &url).header("authorization", &format!("Basic {TOKEN}")).send().await.expect_status(401);
    assert!(scrape(&srv).await.contains("# EOF"));
});

both!(metrics_off_answer_404, |srv| async move {
    let c = srv.client_with_origin(None);
    let r =
        c.req(reqwest::Method::GET, &format!("{}/metrics", srv.origin())).header("authorization", &format!("Bearer {TOKEN}")).send().await;
    r.expect_status(404);
});

/// A free loopback port (bound, read, released: the server binds it again at once).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

#[tokio::test]
async fn a_separate_listener_serves_only_metrics() {
    let port = free_port();
    let srv = TestServer::start(Backend::Sqlite, |c| {
        c.metrics.enabled = true;
        c.metrics.listen = Some(([127, 0, 0, 1], port).into());
    })
    .await;
    srv.user("listener").await;
    let c = srv.client_with_origin(None);
    c.get(&format!("{}/metrics", srv.origin())).await.expect_status(404);
    let mut text = String::new();
    for _ in 0..50 {
        let r = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await;
        if let Ok(r) = r {
            assert_eq!(r.status(), 200);
            text = r.text().await.expect("body");
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    expect(&text, r#"portcullis_sign_ups_total{method="email"}"#, 1.0);
    let other = reqwest::get(format!("http://127.0.0.1:{port}/api/auth/ok")).await.expect("the metrics listener answers");
    assert_eq!(other.status(), 404, "nothing but /metrics there");
}

#[tokio::test]
async fn an_enabled_endpoint_with_nowhere_to_serve_it_is_refused() {
    let mut config = portcullis::Config { database_url: "sqlite::memory:".into(), ..Default::default() };
    config.metrics.enabled = true;
    let err = portcullis::Auth::from_config(config).await.err().expect("refused at start");
    assert!(err.to_string().contains("metrics.listen"), "{err}");
}
