//! The standalone server's probes: `/health/live`, and `/health/ready` naming each dependency
//! (the database; Redis when configured) `ok` or `down`, 503 with `Retry-After` when one is down.

use portcullis::config::SecondaryStorageConfig;
use serde_json::json;

both!(live_and_ready_answer_with_the_database_up, |srv| async move {
    let c = srv.client_with_origin(None);
    let r = c.get(&format!("{}/health/live", srv.origin())).await;
    r.expect_status(200);
    assert_eq!(r.json(), &json!({"status": "ok"}));
    let r = c.get(&format!("{}/health/ready", srv.origin())).await;
    r.expect_status(200);
    assert_eq!(r.json(), &json!({"database": "ok", "status": "ok"}));
});

// Redis configured but not answering (nothing listens on port 1): not ready, and nothing about the
// failure beyond "down".
both!(
    ready_is_503_when_redis_is_down,
    config = |c| {
        c.secondary_storage = Some(SecondaryStorageConfig { url: "redis://127.0.0.1:1".into(), ..Default::default() });
    },
    |srv| async move {
        let r = srv.client_with_origin(None).get(&format!("{}/health/ready", srv.origin())).await;
        r.expect_status(503);
        assert_eq!(r.header("retry-after"), Some("1"));
        assert_eq!(r.json(), &json!({"database": "ok", "redis": "down", "status": "unavailable"}));
    }
);
