//! An existing Better Auth database as the source: any engine Portcullis speaks, with its own
//! naming (`--from-schema`: the `[schema]` section's `naming`, `plural` and `rename`, Better
//! Auth's `modelName` / `fields`). Every table the target knows (core, and the enabled
//! capabilities': twoFactor, passkey, organization, member, …) that also exists in the source is
//! copied column by column through the generic adapter: the source adapter is the target's table
//! list, narrowed to the columns the source has and named the source's way. Values travel
//! unchanged: password hashes, and provider tokens as stored (Better Auth may have encrypted them
//! with its secret: they stay readable only with that secret).
//!
//! Must never: write to the source, or copy `verification` or `session` rows unless asked
//! (`--verification`, `--sessions`), or Portcullis-internal tables (rate limits, queued revocations).

use super::writer::{Item, Writer};
use super::{ImportError, Options};
use crate::config::SchemaConfig;
use crate::store::adapter::{Adapter, Op, Query, Where};
use crate::store::schema::{existing_columns, Names, Table};
use crate::store::{Db, PoolOptions};
use serde_json::Value;

/// Tables of the target that are never copied: its own bookkeeping.
const INTERNAL: [&str; 2] = ["rateLimit", "pendingRevocation"];

/// Reads `--from-schema`: a file holding the `[schema]` keys, or a whole configuration with a
/// `[schema]` section.
pub fn read_schema(text: &str) -> Result<SchemaConfig, ImportError> {
    let value: toml::Table = toml::from_str(text).map_err(|e| ImportError::Usage(format!("--from-schema: {e}")))?;
    let section = match value.get("schema") {
        Some(toml::Value::Table(t)) => t.clone(),
        _ => value,
    };
    section.try_into().map_err(|e| ImportError::Usage(format!("--from-schema: {e}")))
}

/// The target's tables, referenced tables first (users before accounts, organizations before members).
fn in_dependency_order(tables: &[Table]) -> Vec<Table> {
    let mut left: Vec<&Table> = tables.iter().collect();
    let mut out: Vec<Table> = Vec::with_capacity(left.len());
    while !left.is_empty() {
        let ready = |t: &&Table| {
            t.columns
                .iter()
                .filter_map(|c| c.references.as_ref())
                .all(|r| r.table == t.name || out.iter().any(|o| o.name == r.table) || !left.iter().any(|l| l.name == r.table))
        };
        // A reference cycle (none in Better Auth's schema) is broken by taking the first table.
        let i = left.iter().position(ready).unwrap_or(0);
        out.push(left.remove(i).clone());
    }
    out
}

/// Copies every table both sides have, in batches of `opts.batch` rows, keyset-paged by id.
pub(super) async fn import(
    w: &mut Writer<'_>,
    target: &Adapter,
    url: &str,
    schema: SchemaConfig,
    opts: &Options,
) -> Result<(), ImportError> {
    let db = Db::connect(url, &PoolOptions { max_connections: 2, ..PoolOptions::default() })
        .await
        .map_err(|e| ImportError::Source(e.to_string()))?;
    let names = Names::new(schema);
    let result = copy_tables(w, target, &db, &names, opts).await;
    db.close().await;
    result
}

async fn copy_tables(w: &mut Writer<'_>, target: &Adapter, db: &Db, names: &Names, opts: &Options) -> Result<(), ImportError> {
    let mut plan = Vec::new();
    for t in in_dependency_order(target.tables()) {
        let skip = match t.name {
            "session" if !opts.sessions => Some("not asked for (--sessions)"),
            "verification" if !opts.verification => Some("not asked for (--verification)"),
            n if INTERNAL.contains(&n) => Some("internal to Portcullis"),
            _ => None,
        };
        if let Some(why) = skip {
            w.report.notes.push(format!("{}: skipped, {why}", t.name));
            continue;
        }
        let physical = names.table_raw(t.name);
        let have = existing_columns(db, &physical).await?;
        if have.is_empty() {
            w.report.notes.push(format!("{}: no table `{physical}` in the source", t.name));
            continue;
        }
        let mut narrowed = t.clone();
        narrowed.columns.retain(|c| have.contains(&names.column_raw(t.name, &c.name)));
        if !narrowed.columns.iter().any(|c| c.name == "id") {
            w.report.notes.push(format!("{}: the source table `{physical}` has no id column; skipped", t.name));
            continue;
        }
        let missing: Vec<_> =
            t.columns.iter().filter(|c| !narrowed.columns.iter().any(|n| n.name == c.name)).map(|c| c.name.to_string()).collect();
        if !missing.is_empty() {
            w.report.notes.push(format!("{}: not in the source, left to the target's defaults: {}", t.name, missing.join(", ")));
        }
        let known: Vec<String> = narrowed.columns.iter().map(|c| names.column_raw(t.name, &c.name)).collect();
        let extra: Vec<_> = have.iter().filter(|c| !known.contains(c)).cloned().collect();
        if !extra.is_empty() {
            w.report.notes.push(format!("{}: source columns the target does not declare, not copied: {}", t.name, extra.join(", ")));
        }
        plan.push((t, narrowed));
    }
    let narrowed: Vec<Table> = plan.iter().map(|(_, n)| n.clone()).collect();
    let source = Adapter::new(db.clone(), names.clone(), narrowed);
    for (full, narrow) in &plan {
        // Only rows of tables the source holds are counted, even when it holds none.
        w.report.table(full.name);
        let mut after: Option<Value> = None;
        loop {
            let filter = after.iter().map(|id| Where::new("id", Op::Gt, id.clone())).collect();
            let q = Query { filter, sort_by: Some(("id".into(), false)), limit: Some(opts.batch.max(1) as u64), offset: None };
            let rows = source.find_many(narrow.name, &q).await?;
            let Some(last) = rows.last().and_then(|r| r.get("id")).cloned() else { break };
            let items = rows
                .into_iter()
                .map(|row| {
                    let id = row.get("id").and_then(Value::as_str).unwrap_or_default();
                    Item { at: format!("id {id}"), row }
                })
                .collect();
            // Written through the target's full table: rows hold only the source's columns.
            w.write(full, items).await?;
            after = Some(last);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referenced_tables_come_first() {
        let mut tables = crate::store::schema::core_tables();
        tables.reverse();
        let order: Vec<_> = in_dependency_order(&tables).iter().map(|t| t.name).collect();
        let at = |n: &str| order.iter().position(|o| *o == n).unwrap();
        assert!(at("user") < at("account") && at("user") < at("session"), "{order:?}");
    }

    #[test]
    fn schema_file_is_a_schema_section_or_its_keys() {
        let a = read_schema("naming = \"snake_case\"\nplural = true\n[rename]\n\"user\" = \"members\"\n").unwrap();
        assert!(a.plural && a.rename.get("user").map(String::as_str) == Some("members"));
        let b = read_schema("database_url = \"x\"\n[schema]\nplural = true\n").unwrap();
        assert!(b.plural);
        assert!(read_schema("[schema]\nnope = 1\n").is_err());
    }
}
