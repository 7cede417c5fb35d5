//! Users exported by other systems as CSV (a header line, one user a line) or JSON (an array of
//! objects, or `{"users": [...]}`), turned into a Better Auth user and, with a password hash, its
//! password (`credential`) account.
//!
//! Fields (the column or key named like the field, or its alias, unless `--map field=column`):
//!
//! | field | aliases | |
//! | --- | --- | --- |
//! | `id` | | optional; a new id when absent |
//! | `email` | | required; lowercased |
//! | `name` | | optional; empty when absent |
//! | `emailVerified` | `email_verified` | `true/false`, `1/0`, `yes/no`; false when absent |
//! | `image` | | optional |
//! | `createdAt` | `created_at` | RFC 3339, or Unix seconds or milliseconds; now when absent |
//! | `password_hash` | `passwordHash`, `password` | optional: bcrypt, argon2, scrypt, PBKDF2 |
//! | `hash_format` | `hashFormat` | optional: `bcrypt`, `argon2`, `scrypt`, `pbkdf2`, `django`; refuses a hash of another format |
//!
//! Must never: accept a hash this server cannot verify (the row is refused, with its line), or
//! put a hash into a refusal reason.

use super::writer::{Item, Writer};
use crate::store::adapter::Row;
use crate::store::schema::Table;
use crate::store::StoreError;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::Path;

/// The fields a record may give, with the other column names they are found under.
const FIELDS: [(&str, &[&str]); 8] = [
    ("id", &[]),
    ("email", &[]),
    ("name", &[]),
    ("emailVerified", &["email_verified"]),
    ("image", &[]),
    ("createdAt", &["created_at"]),
    ("password_hash", &["passwordHash", "password"]),
    ("hash_format", &["hashFormat"]),
];

/// `--map email=Email,name=full_name`: which column holds each field.
#[derive(Debug, Clone, Default)]
pub struct Mapping(HashMap<String, String>);

impl std::str::FromStr for Mapping {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut map = HashMap::new();
        for pair in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, column) = pair.split_once('=').ok_or_else(|| format!("`{pair}`: expected field=column"))?;
            let field = field.trim();
            if !FIELDS.iter().any(|(f, _)| *f == field) {
                let known: Vec<_> = FIELDS.iter().map(|(f, _)| *f).collect();
                return Err(format!("unknown field `{field}` (fields: {})", known.join(", ")));
            }
            map.insert(field.to_string(), column.trim().to_string());
        }
        Ok(Mapping(map))
    }
}

impl Mapping {
    /// The value of `field` in `rec`, absent when missing, null or empty.
    fn get<'r>(&self, rec: &'r Map<String, Value>, field: &str) -> Option<&'r Value> {
        let present = |c: &str| rec.get(c).filter(|v| !v.is_null() && !matches!(v.as_str(), Some(s) if s.trim().is_empty()));
        if let Some(c) = self.0.get(field) {
            return present(c);
        }
        let aliases = FIELDS.iter().find(|(f, _)| *f == field).map_or(&[][..], |(_, a)| a);
        std::iter::once(&field).chain(aliases).find_map(|c| present(c))
    }
}

/// What the rows are made with: the clock and the id generator of the target.
pub(super) struct Make<'a> {
    pub now: DateTime<Utc>,
    pub new_id: &'a (dyn Fn() -> String + Sync),
}

/// A record as a user row and, when it has a password hash, its password account.
pub(super) fn to_rows(map: &Mapping, rec: &Map<String, Value>, make: &Make<'_>) -> Result<(Row, Option<Row>), String> {
    let text = |f: &str| map.get(rec, f).map(|v| v.as_str().map_or_else(|| v.to_string(), |s| s.trim().to_string()));
    let email = text("email").ok_or("no e-mail")?.to_lowercase();
    let verified = match map.get(rec, "emailVerified") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(v) => match v.as_str().map_or_else(|| v.to_string(), |s| s.trim().to_lowercase()).as_str() {
            "true" | "1" | "yes" | "y" | "t" => true,
            "false" | "0" | "no" | "n" | "f" => false,
            other => return Err(format!("emailVerified `{other}` is not a boolean")),
        },
    };
    let created = match map.get(rec, "createdAt") {
        None => make.now,
        Some(v) => parse_time(v).ok_or("createdAt is not a date (RFC 3339 or Unix seconds/milliseconds)")?,
    };
    let created = Value::String(crate::store::model::iso_ms::format(&created));
    let id = text("id").unwrap_or_else(make.new_id);
    let mut user = Row::new();
    user.insert("id".into(), Value::String(id.clone()));
    user.insert("name".into(), Value::String(text("name").unwrap_or_default()));
    user.insert("email".into(), Value::String(email));
    user.insert("emailVerified".into(), Value::Bool(verified));
    user.insert("image".into(), text("image").map_or(Value::Null, Value::String));
    user.insert("createdAt".into(), created.clone());
    user.insert("updatedAt".into(), created.clone());
    let Some(hash) = text("password_hash") else { return Ok((user, None)) };
    let format = crate::crypto::password::hash_format(&hash).map_err(|e| format!("password hash not recognised ({e})"))?;
    if let Some(hint) = text("hash_format") {
        if !format_matches(&hint.to_lowercase(), format) {
            return Err(format!("hash_format `{hint}` but the hash is {format}"));
        }
    }
    let mut account = Row::new();
    account.insert("id".into(), Value::String((make.new_id)()));
    account.insert("accountId".into(), Value::String(id.clone()));
    account.insert("providerId".into(), Value::String("credential".into()));
    account.insert("userId".into(), Value::String(id));
    account.insert("password".into(), Value::String(hash));
    account.insert("createdAt".into(), created.clone());
    account.insert("updatedAt".into(), created);
    Ok((user, Some(account)))
}

fn format_matches(hint: &str, format: &str) -> bool {
    match hint {
        "auto" => true,
        "bcrypt" => format == "bcrypt",
        "argon2" | "argon2id" | "argon2i" => format.starts_with("argon2"),
        "scrypt" => format.ends_with("scrypt"),
        "pbkdf2" => format.ends_with("pbkdf2"),
        "django" => format == "django-pbkdf2",
        _ => false,
    }
}

fn parse_time(v: &Value) -> Option<DateTime<Utc>> {
    let n = match v {
        Value::Number(n) => n.as_i64()?,
        Value::String(s) => match s.trim().parse::<i64>() {
            Ok(n) => n,
            Err(_) => return crate::fields::parse_date(s.trim()),
        },
        _ => return None,
    };
    // Below 10^11 a Unix time is in seconds (until the year 5138), above in milliseconds.
    if n.abs() < 100_000_000_000 {
        Utc.timestamp_opt(n, 0).single()
    } else {
        Utc.timestamp_millis_opt(n).single()
    }
}

/// Records with where they were read (`line 4`, `item 2`), or why one could not be read.
type Records = Box<dyn Iterator<Item = (String, Result<Map<String, Value>, String>)> + Send>;

/// Reads `path` (CSV, or JSON when `json`) and imports it in batches of `batch` records.
pub(super) async fn import(
    w: &mut Writer<'_>,
    tables: (&Table, &Table),
    path: &Path,
    json: bool,
    map: &Mapping,
    make: &Make<'_>,
    batch: usize,
) -> Result<(), super::ImportError> {
    let file = |e: std::io::Error| super::ImportError::Source(format!("{}: {e}", path.display()));
    let mut records: Records = if json {
        let items = match serde_json::from_reader(std::io::BufReader::new(std::fs::File::open(path).map_err(file)?)) {
            Ok(Value::Array(a)) => a,
            Ok(Value::Object(mut o)) => match o.remove("users") {
                Some(Value::Array(a)) => a,
                _ => return Err(super::ImportError::Source("a JSON object must hold a \"users\" array".into())),
            },
            Ok(_) => return Err(super::ImportError::Source("expected a JSON array of users".into())),
            Err(e) => return Err(super::ImportError::Source(format!("{}: {e}", path.display()))),
        };
        Box::new(items.into_iter().enumerate().map(|(i, v)| {
            let rec = match v {
                Value::Object(o) => Ok(o),
                _ => Err("not an object".to_string()),
            };
            (format!("item {}", i + 1), rec)
        }))
    } else {
        let mut rdr =
            csv::ReaderBuilder::new().trim(csv::Trim::All).from_path(path).map_err(|e| super::ImportError::Source(e.to_string()))?;
        let headers = rdr.headers().map_err(|e| super::ImportError::Source(e.to_string()))?.clone();
        Box::new(rdr.into_records().enumerate().map(move |(i, r)| match r {
            Ok(r) => {
                let line = r.position().map_or(i as u64 + 2, |p| p.line());
                let rec = headers.iter().zip(r.iter()).map(|(h, v)| (h.to_string(), Value::String(v.to_string()))).collect();
                (format!("line {line}"), Ok(rec))
            }
            Err(e) => (format!("record {}", i + 1), Err(format!("unreadable: {e}"))),
        }))
    };
    loop {
        let chunk: Vec<_> = records.by_ref().take(batch.max(1)).collect();
        if chunk.is_empty() {
            return Ok(());
        }
        let (mut users, mut accounts) = (Vec::new(), Vec::new());
        for (at, rec) in chunk {
            match rec.and_then(|r| to_rows(map, &r, make)) {
                Ok((user, account)) => {
                    if let Some(row) = account {
                        accounts.push(Item { at: at.clone(), row });
                    }
                    users.push(Item { at, row: user });
                }
                Err(reason) => w.refuse_read("user", &at, None, reason),
            }
        }
        write_both(w, tables, users, accounts).await?;
    }
}

async fn write_both(
    w: &mut Writer<'_>,
    (user, account): (&Table, &Table),
    users: Vec<Item>,
    accounts: Vec<Item>,
) -> Result<(), StoreError> {
    w.write(user, users).await?;
    w.write(account, accounts).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    fn rows(map: &str, v: Value) -> Result<(Row, Option<Row>), String> {
        let ids = std::sync::atomic::AtomicUsize::new(0);
        let new_id = || format!("new-{}", ids.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let make = Make { now: Utc.timestamp_opt(1_000, 0).unwrap(), new_id: &new_id };
        to_rows(&map.parse().unwrap(), &rec(v), &make)
    }

    #[test]
    fn fields_aliases_and_mapping() {
        let (user, account) = rows(
            "email=Mail",
            json!({"Mail": " Ada@Example.COM ", "name": "Ada", "email_verified": "Yes", "created_at": 1_700_000_000, "passwordHash": "$2b$04$EGdrhbKUv8Oc9vGiXX0HQOxSg445d458Muh7DAHskb6QbtCvdxcie"}),
        )
        .unwrap();
        assert_eq!(user["email"], "ada@example.com");
        assert_eq!(user["emailVerified"], true);
        assert_eq!(user["createdAt"], "2023-11-14T22:13:20.000Z");
        assert_eq!(user["id"], "new-0");
        let account = account.unwrap();
        assert_eq!(
            (&account["providerId"], &account["userId"], &account["accountId"]),
            (&json!("credential"), &json!("new-0"), &json!("new-0"))
        );
        // Milliseconds, RFC 3339, absent: now.
        let (u, a) = rows("", json!({"email": "b@x.io", "createdAt": "1700000000123", "id": "given"})).unwrap();
        assert_eq!(
            (&u["createdAt"], &u["id"], &u["name"], a.is_none()),
            (&json!("2023-11-14T22:13:20.123Z"), &json!("given"), &json!(""), true)
        );
        let (u, _) = rows("", json!({"email": "c@x.io", "createdAt": "2024-01-02T03:04:05+02:00", "emailVerified": false})).unwrap();
        assert_eq!(u["createdAt"], "2024-01-02T01:04:05.000Z");
        assert_eq!(rows("", json!({"email": "d@x.io"})).unwrap().0["createdAt"], "1970-01-01T00:16:40.000Z");
    }

    #[test]
    fn bad_records_say_why() {
        let bcrypt = "$2b$04$EGdrhbKUv8Oc9vGiXX0HQOxSg445d458Muh7DAHskb6QbtCvdxcie";
        for (v, why) in [
            (json!({"name": "x"}), "no e-mail"),
            (json!({"email": "  "}), "no e-mail"),
            (json!({"email": "a@x.io", "emailVerified": "maybe"}), "not a boolean"),
            (json!({"email": "a@x.io", "createdAt": "yesterday"}), "not a date"),
            (json!({"email": "a@x.io", "password_hash": "5f4dcc3b5aa765d61d8327deb882cf99"}), "not recognised"),
            (json!({"email": "a@x.io", "password_hash": bcrypt, "hash_format": "django"}), "the hash is bcrypt"),
        ] {
            let e = rows("", v.clone()).unwrap_err();
            assert!(e.contains(why), "{v}: {e}");
            assert!(!e.contains("5f4dcc3b") && !e.contains("EGdrhb"), "no hash in a reason: {e}");
        }
        assert!(rows("", json!({"email": "a@x.io", "password_hash": bcrypt, "hash_format": "BCRYPT"})).is_ok());
        assert!("nope=x".parse::<Mapping>().unwrap_err().contains("unknown field `nope`"));
        assert!("email".parse::<Mapping>().is_err());
    }
}
