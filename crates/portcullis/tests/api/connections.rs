//! What one client may hold (issue 12 item 3): connection cap, header, body, idle and request
//! timeouts. These speak raw HTTP/1.1 over TCP, since a well-behaved HTTP client cannot be slow on
//! purpose.

use crate::harness::*;
use serde_json::json;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};

fn addr(srv: &TestServer) -> String {
    srv.origin().trim_start_matches("http://").to_string()
}

/// Reads until the server closes the connection (or `limit` passes); returns what came and
/// whether it was closed.
async fn read_until_closed(s: &mut TcpStream, limit: Duration) -> (String, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        match timeout(deadline.saturating_duration_since(Instant::now()), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&out).into_owned(), true),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&out).into_owned(), false),
        }
    }
}

both!(
    slowloris_clients_are_cut_off_and_others_are_served,
    config = |c| {
        c.server.header_read_timeout = 1;
        c.server.max_connections = 8;
    },
    |srv| async move {
        // Twice as many slow clients as there are connection slots, each trickling a header line
        // every 200 ms and never finishing its request head.
        let mut slow = Vec::new();
        for i in 0..16 {
            let addr = addr(&srv);
            slow.push(tokio::spawn(async move {
                let Ok(mut s) = TcpStream::connect(&addr).await else { return (false, Duration::ZERO) };
                let started = Instant::now();
                if s.write_all(b"POST /api/auth/sign-in/email HTTP/1.1\r\nHost: x\r\n").await.is_err() {
                    return (true, started.elapsed());
                }
                for n in 0..100 {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    if s.write_all(format!("X-Slow-{i}-{n}: y\r\n").as_bytes()).await.is_err() {
                        return (true, started.elapsed());
                    }
                    let mut probe = [0u8; 1];
                    if let Ok(Ok(0)) = timeout(Duration::from_millis(1), s.read(&mut probe)).await {
                        return (true, started.elapsed());
                    }
                }
                (false, started.elapsed())
            }));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        // Everyone else keeps being answered while the slow clients hold (and lose) their slots.
        for _ in 0..5 {
            let r = timeout(Duration::from_secs(10), srv.client().get("/ok")).await.expect("a normal client is answered");
            r.expect_status(200);
        }
        for t in slow {
            let (cut, after) = t.await.expect("slow client task");
            assert!(cut, "a slow client kept its connection for {after:?}");
            assert!(after < Duration::from_secs(8), "cut off after {after:?}");
        }
    }
);

both!(idle_keep_alive_connections_are_closed, config = |c| c.server.keep_alive_timeout = 1, |srv| async move {
    let mut s = TcpStream::connect(addr(&srv)).await.unwrap();
    s.write_all(b"GET /api/auth/ok HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let started = Instant::now();
    let (answer, closed) = read_until_closed(&mut s, Duration::from_secs(8)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(closed, "an idle keep-alive connection stayed open");
    assert!(started.elapsed() >= Duration::from_millis(900), "closed too early: {:?}", started.elapsed());
});

// A client that pipelines requests and never reads its answers stalls the server's writes. With
// one connection slot, it must lose that slot within keep_alive_timeout plus the close grace (5 s),
// so the next client is served.
both!(
    a_client_that_never_reads_loses_its_connection,
    config = |c| {
        c.server.max_connections = 1;
        c.server.keep_alive_timeout = 1;
    },
    |srv| async move {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.set_recv_buffer_size(4096).unwrap();
        let stream = sock.connect(addr(&srv).parse().unwrap()).await.unwrap();
        let (_reader, mut writer) = stream.into_split();
        let flood = tokio::spawn(async move {
            let one = b"GET /api/auth/ok HTTP/1.1\r\nHost: x\r\n\r\n".repeat(500);
            for _ in 0..200 {
                if writer.write_all(&one).await.is_err() {
                    return;
                }
            }
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
        let started = Instant::now();
        let r = timeout(Duration::from_secs(15), srv.client().get("/ok")).await.expect("the next client is served");
        r.expect_status(200);
        assert!(started.elapsed() < Duration::from_secs(12), "{:?}", started.elapsed());
        flood.abort();
    }
);

both!(
    one_client_cannot_hold_every_connection,
    config = |c| {
        c.server.max_connections_per_ip = 4;
        c.advanced.trusted_proxies = Some(vec![]); // the test client is not a proxy: it is counted
    },
    |srv| async move {
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(TcpStream::connect(addr(&srv)).await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut fifth = TcpStream::connect(addr(&srv)).await.unwrap();
        let _ = fifth.write_all(b"GET /api/auth/ok HTTP/1.1\r\nHost: x\r\n\r\n").await;
        let (answer, closed) = read_until_closed(&mut fifth, Duration::from_secs(5)).await;
        assert!(closed && answer.is_empty(), "a fifth connection from one address is closed at once: {answer:?}");
        // A closed connection gives its place back.
        held.pop();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut again = TcpStream::connect(addr(&srv)).await.unwrap();
        again.write_all(b"GET /api/auth/ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
        let (answer, _) = read_until_closed(&mut again, Duration::from_secs(5)).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
);

both!(a_body_that_never_arrives_is_a_408, config = |c| c.server.body_read_timeout = 1, |srv| async move {
    let mut s = TcpStream::connect(addr(&srv)).await.unwrap();
    let head = format!(
        "POST /api/auth/sign-in/email HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\nOrigin: {}\r\n\r\n{{\"email\":",
        srv.origin()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let (answer, closed) = read_until_closed(&mut s, Duration::from_secs(8)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains(r#""code":"REQUEST_TIMEOUT""#), "{answer}");
    assert!(closed, "the connection is closed after a body timeout");
    // The server is fine.
    srv.client().get("/ok").await.expect_status(200);
});

both!(request_heads_beyond_the_limit_are_refused, |srv| async move {
    let mut s = TcpStream::connect(addr(&srv)).await.unwrap();
    let huge = format!("GET /api/auth/ok HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(64 * 1024));
    let _ = s.write_all(huge.as_bytes()).await;
    let (answer, closed) = read_until_closed(&mut s, Duration::from_secs(8)).await;
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 431"), "{answer}");
    assert!(closed);
    // Many ordinary headers within the limit are fine.
    let c = srv.client();
    let mut req = c.req(reqwest::Method::GET, "/ok");
    for i in 0..50 {
        req = req.header(&format!("x-h{i}"), "v");
    }
    req.send().await.expect_status(200);
});

// A write that outlives `request_timeout` is answered 503 SERVICE_TIMEOUT, and finishes in the
// background rather than being cut in half. PostgreSQL only: a lock held by another connection
// stalls the write deterministically (SQLite would fail the write with "database is locked").
#[tokio::test]
async fn a_stalled_write_times_out_and_still_completes() {
    use sqlx::Connection;
    let srv = TestServer::start(Backend::Postgres, |c| c.server.request_timeout = 1).await;
    let mut locker = sqlx::PgConnection::connect(&srv.config.database_url).await.unwrap();
    sqlx::query("begin").execute(&mut locker).await.unwrap();
    sqlx::query(r#"lock table "user" in access exclusive mode"#).execute(&mut locker).await.unwrap();
    let body = json!({"name": "Slow", "email": "slow@example.com", "password": PASSWORD});
    let r = timeout(Duration::from_secs(10), srv.client().post_json("/sign-up/email", body)).await.expect("answered in time");
    r.expect_code(503, "SERVICE_TIMEOUT");
    assert!(r.header("retry-after").is_some());
    sqlx::query("rollback").execute(&mut locker).await.unwrap();
    for _ in 0..100 {
        if srv.count(r#"select count(*) from "user" where email = 'slow@example.com'"#).await == 1 {
            assert_eq!(
                srv.count(r#"select count(*) from "account" where "providerId" = 'credential'"#).await,
                1,
                "user and account together"
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the sign-up never completed");
}

// A client that goes away mid-write does not cut the write in half either: it runs to its end.
#[tokio::test]
async fn a_client_that_leaves_mid_write_does_not_cut_it() {
    use sqlx::Connection;
    let srv = TestServer::start(Backend::Postgres, |_| {}).await;
    let mut locker = sqlx::PgConnection::connect(&srv.config.database_url).await.unwrap();
    sqlx::query("begin").execute(&mut locker).await.unwrap();
    sqlx::query(r#"lock table "user" in access exclusive mode"#).execute(&mut locker).await.unwrap();
    let c = srv.client();
    let body = json!({"name": "Gone", "email": "gone@example.com", "password": PASSWORD});
    let gave_up = timeout(Duration::from_millis(500), c.post_json("/sign-up/email", body)).await;
    assert!(gave_up.is_err(), "the request is stalled by the lock");
    drop(c); // the client's connection goes away
    sqlx::query("rollback").execute(&mut locker).await.unwrap();
    for _ in 0..100 {
        if srv.count(r#"select count(*) from "user" where email = 'gone@example.com'"#).await == 1 {
            assert_eq!(srv.count(r#"select count(*) from "account" where "providerId" = 'credential'"#).await, 1);
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the sign-up was cut off with its client");
}
