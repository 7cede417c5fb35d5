//! The adapter on both databases: every operator, and/or grouping, sort, limit/offset, count,
//! update(_many), delete(_many), and refusal of unknown models and fields.

use super::*;
use crate::store::driver::PoolOptions;
use crate::store::schema::{self, ColType::*};
use serde_json::json;

fn table(name: &'static str) -> Table {
    Table {
        name,
        columns: vec![
            Column::new("id", Text).pk(),
            Column::new("userId", Text),
            Column::new("label", Text).null(),
            Column::new("score", Int),
            Column::new("active", Bool),
            Column::new("tags", Json).null(),
            Column::new("createdAt", Time),
        ],
        indexes: vec![],
        search: vec![],
    }
}

async fn exercise(db: Db, names: Names) {
    // A fresh table name per run: tests share the PostgreSQL server.
    let name: &'static str = Box::leak(format!("adapterTest{}", crate::crypto::random_id(8)).into_boxed_str());
    let id_len = if names.generate_id() == crate::config::GenerateId::Uuid { 36 } else { 32 };
    schema::migrate(&db, &names, &[table(name)]).await.unwrap();
    let a = Adapter::new(db.clone(), names, vec![table(name)]);
    for (i, (user, label, tags)) in [
        ("u1", Some("Alpha 50%"), json!(["x"])),
        ("u1", Some("beta_1"), json!(null)),
        ("u2", None, json!({"k": 1})),
        ("u2", Some("gamma"), json!([])),
    ]
    .into_iter()
    .enumerate()
    {
        let mut row = Row::new();
        row.insert("userId".into(), json!(user));
        row.insert("label".into(), json!(label));
        row.insert("score".into(), json!(i * 10));
        row.insert("active".into(), json!(i % 2 == 0));
        row.insert("tags".into(), tags.clone());
        row.insert("createdAt".into(), json!(format!("2026-01-0{}T00:00:00.000Z", i + 1)));
        let created = a.create(name, row).await.unwrap();
        assert_eq!(created["id"].as_str().map(str::len), Some(id_len), "an id is drawn");
        let by_id = a.find_one(name, &[Where::eq("id", created["id"].clone())]).await.unwrap();
        assert_eq!(by_id.as_ref(), Some(&created));
        assert_eq!(created["tags"], tags);
        assert_eq!(created["score"], json!(i * 10));
    }
    let labels = |rows: Vec<Row>| rows.into_iter().map(|r| r["label"].clone()).collect::<Vec<_>>();
    let q = |filter: Vec<Where>| Query { filter, sort_by: Some(("score".into(), false)), ..Query::default() };

    assert_eq!(a.count(name, &[]).await.unwrap(), 4);
    assert_eq!(a.count(name, &[Where::eq("userId", "u1")]).await.unwrap(), 2);
    assert_eq!(labels(a.find_many(name, &q(vec![Where::eq("label", Value::Null)])).await.unwrap()), [Value::Null]);
    assert_eq!(a.count(name, &[Where::new("label", Op::Ne, Value::Null)]).await.unwrap(), 3);
    assert_eq!(labels(a.find_many(name, &q(vec![Where::new("score", Op::Gte, 20)])).await.unwrap()), [Value::Null, json!("gamma")]);
    assert_eq!(a.count(name, &[Where::new("score", Op::Lt, 10)]).await.unwrap(), 1);
    assert_eq!(a.count(name, &[Where::new("score", Op::Lte, 10)]).await.unwrap(), 2);
    assert_eq!(a.count(name, &[Where::new("score", Op::Gt, 10)]).await.unwrap(), 2);
    assert_eq!(a.count(name, &[Where::new("score", Op::In, json!([0, 30]))]).await.unwrap(), 2);
    assert_eq!(a.count(name, &[Where::new("score", Op::NotIn, json!([0, 30]))]).await.unwrap(), 2);
    assert_eq!(a.count(name, &[Where::new("score", Op::In, json!([]))]).await.unwrap(), 0);
    // LIKE metacharacters in the value are literal.
    assert_eq!(labels(a.find_many(name, &q(vec![Where::new("label", Op::Contains, "50%")])).await.unwrap()), [json!("Alpha 50%")]);
    assert_eq!(a.count(name, &[Where::new("label", Op::Contains, "a_1")]).await.unwrap(), 1);
    assert_eq!(a.count(name, &[Where::new("label", Op::Contains, "%")]).await.unwrap(), 1);
    assert_eq!(labels(a.find_many(name, &q(vec![Where::new("label", Op::StartsWith, "gam")])).await.unwrap()), [json!("gamma")]);
    assert_eq!(labels(a.find_many(name, &q(vec![Where::new("label", Op::EndsWith, "_1")])).await.unwrap()), [json!("beta_1")]);
    assert_eq!(a.count(name, &[Where::eq("active", true)]).await.unwrap(), 2);
    assert_eq!(a.count(name, &[Where::new("createdAt", Op::Gt, "2026-01-02T12:00:00.000Z")]).await.unwrap(), 2);
    // (userId = u2) and (score = 0 or score = 30)
    let mixed = vec![Where::eq("userId", "u2"), Where::eq("score", 0).or(), Where::eq("score", 30).or()];
    assert_eq!(labels(a.find_many(name, &q(mixed)).await.unwrap()), [json!("gamma")]);
    // Sort, limit, offset.
    let page = Query { sort_by: Some(("score".into(), true)), limit: Some(2), offset: Some(1), ..Query::default() };
    assert_eq!(labels(a.find_many(name, &page).await.unwrap()), [Value::Null, json!("beta_1")]);
    // A page of a pattern search (a materialized CTE on PostgreSQL: adapter.rs, `find_sorted`).
    let search = |limit, offset| Query {
        filter: vec![Where::new("label", Op::Contains, "a")],
        sort_by: Some(("score".into(), true)),
        limit,
        offset,
    };
    assert_eq!(labels(a.find_many(name, &search(Some(1), Some(1))).await.unwrap()), [json!("beta_1")]);
    assert_eq!(labels(a.find_many(name, &search(None, Some(1))).await.unwrap()), [json!("beta_1"), json!("Alpha 50%")]);
    assert_eq!(labels(a.find_many(name, &search(Some(5), None)).await.unwrap()), [json!("gamma"), json!("beta_1"), json!("Alpha 50%")]);
    let tail = Query { sort_by: Some(("score".into(), false)), offset: Some(3), ..Query::default() };
    assert_eq!(labels(a.find_many(name, &tail).await.unwrap()), [json!("gamma")]);
    assert_eq!(a.find_one(name, &[Where::eq("userId", "nobody")]).await.unwrap(), None);

    // Updates.
    let mut data = Row::new();
    data.insert("label".into(), json!("renamed"));
    data.insert("tags".into(), json!(["a", "b"]));
    let u = a.update(name, &[Where::eq("score", 20)], data.clone()).await.unwrap().unwrap();
    assert_eq!((u["label"].clone(), u["tags"].clone(), u["userId"].clone()), (json!("renamed"), json!(["a", "b"]), json!("u2")));
    assert_eq!(a.update(name, &[Where::eq("score", 999)], data.clone()).await.unwrap(), None);
    let mut deactivate = Row::new();
    deactivate.insert("active".into(), json!(false));
    assert_eq!(a.update_many(name, &[Where::eq("userId", "u1")], deactivate).await.unwrap(), 2);
    assert_eq!(a.count(name, &[Where::eq("active", false)]).await.unwrap(), 3);

    // Deletes.
    a.delete(name, &[Where::eq("score", 0)]).await.unwrap();
    assert_eq!(a.delete_many(name, &[Where::eq("userId", "u2")]).await.unwrap(), 2);
    assert_eq!(a.count(name, &[]).await.unwrap(), 1);

    // Typos are errors, never an empty answer; values never reach the SQL text.
    assert!(matches!(a.count("nope", &[]).await, Err(StoreError::Query(_))));
    assert!(matches!(a.count(name, &[Where::eq("userid", "u1")]).await, Err(StoreError::Query(_))));
    assert_eq!(a.count(name, &[Where::eq("userId", "u1' or '1'='1")]).await.unwrap(), 0);
    assert_eq!(a.count(name, &[Where::eq("id", "not-an-id")]).await.unwrap(), 0, "a malformed id matches nothing");
    assert_eq!(a.count(name, &[Where::new("id", Op::In, json!(["x", "y"]))]).await.unwrap(), 0);
    db.execute(&format!("drop table \"{name}\""), &[]).await.unwrap();
    db.close().await;
}

#[tokio::test]
async fn adapter_on_sqlite() {
    let path = std::env::temp_dir().join(format!("portcullis-adapter-{}.db", crate::crypto::random_id(12)));
    exercise(Db::connect(&format!("sqlite://{}?mode=rwc", path.display()), &PoolOptions::default()).await.unwrap(), Names::default()).await;
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
    }
}

#[tokio::test]
async fn adapter_on_postgres() {
    let url = std::env::var("PORTCULLIS_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    exercise(Db::connect(&url, &PoolOptions::default()).await.unwrap(), Names::default()).await;
}

#[tokio::test]
async fn adapter_on_postgres_with_uuid_ids() {
    let url = std::env::var("PORTCULLIS_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let names = Names::default().with_generate_id(crate::config::GenerateId::Uuid);
    exercise(Db::connect(&url, &PoolOptions::default()).await.unwrap(), names).await;
}
