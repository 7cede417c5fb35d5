//! The generic adapter: Better Auth's adapter API (`create`, `findOne`, `findMany`, `count`,
//! `update`, `updateMany`, `delete`, `deleteMany` with where clauses) over any table described in
//! [`schema`](super::schema), rendered for the connected dialect. Capabilities reach their tables
//! only through it; the core's hot paths keep their tuned statements in `sql.rs`.
//!
//! Rows travel as JSON objects keyed by the logical field names (`userId`, not `user_id`):
//! strings, numbers, booleans, dates as ISO-8601 strings (`2026-01-01T00:00:00.000Z`), and json /
//! array columns as JSON, the way Better Auth's adapters hand rows to its plugins. Where clauses
//! follow Better Auth's semantics: the `AND` conditions together, and-ed with the `OR` conditions
//! together (`(a AND b) AND (c OR d)`); `eq null` is `IS NULL`.
//!
//! Must never: put a value into SQL text (every value is a bound parameter), or accept a model or
//! field the schema does not declare (a typo is an error, not a silently empty answer).

use super::driver::{Arg, Db, Dialect, RowRead};
use super::schema::{self, ColType, Column, Names, Table};
use super::{StoreError, StoreResult};
use serde_json::{Map, Value};
use std::sync::Arc;

/// A comparison in a where clause (Better Auth's `operator`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Lte,
    Gt,
    Gte,
    /// The value is an array: the column equals one of its items.
    In,
    NotIn,
    /// Substring match (`LIKE`, with `%` and `_` in the value taken literally).
    Contains,
    StartsWith,
    EndsWith,
}

impl Op {
    /// Better Auth's where-operator names (`filterOperator` of list-users and list-members).
    pub const NAMES: [&'static str; 11] = ["eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in", "contains", "starts_with", "ends_with"];

    /// The operator named `name` ([`Op::NAMES`]); anything else is `eq`, Better Auth's default.
    pub fn named(name: &str) -> Op {
        match name {
            "ne" => Op::Ne,
            "lt" => Op::Lt,
            "lte" => Op::Lte,
            "gt" => Op::Gt,
            "gte" => Op::Gte,
            "in" => Op::In,
            "not_in" => Op::NotIn,
            "contains" => Op::Contains,
            "starts_with" => Op::StartsWith,
            "ends_with" => Op::EndsWith,
            _ => Op::Eq,
        }
    }
}

/// How a condition joins the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Connector {
    #[default]
    And,
    Or,
}

/// One condition: `field op value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Where {
    pub field: String,
    pub op: Op,
    pub value: Value,
    pub connector: Connector,
}

impl Where {
    pub fn new(field: &str, op: Op, value: impl Into<Value>) -> Self {
        Self { field: field.to_string(), op, value: value.into(), connector: Connector::And }
    }
    /// `field = value`.
    pub fn eq(field: &str, value: impl Into<Value>) -> Self {
        Self::new(field, Op::Eq, value)
    }
    /// Joins this condition with `OR`.
    pub fn or(mut self) -> Self {
        self.connector = Connector::Or;
        self
    }
}

/// `findMany`'s options.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub filter: Vec<Where>,
    /// Field and whether descending.
    pub sort_by: Option<(String, bool)>,
    pub limit: Option<u64>,
    pub offset: Option<u64>,
}

/// A row: field name → value.
pub type Row = Map<String, Value>;

/// The adapter over one database and the tables of every capability.
#[derive(Clone)]
pub struct Adapter {
    db: Db,
    names: Names,
    tables: Arc<Vec<Table>>,
}

impl Adapter {
    pub fn new(db: Db, names: Names, tables: Vec<Table>) -> Self {
        Self { db, names, tables: Arc::new(tables) }
    }

    /// The database under the adapter (for a capability's own tuned statements).
    pub fn db(&self) -> &Db {
        &self.db
    }
    pub fn names(&self) -> &Names {
        &self.names
    }
    /// The tables the adapter knows (core, capabilities', additional fields).
    pub fn tables(&self) -> &[Table] {
        &self.tables
    }

    fn table(&self, model: &str) -> StoreResult<&Table> {
        self.tables.iter().find(|t| t.name == model).ok_or_else(|| StoreError::Query(format!("unknown model {model}")))
    }

    /// Inserts a row (an `id` is drawn when absent) and returns it as stored.
    pub async fn create(&self, model: &str, data: Row) -> StoreResult<Row> {
        let t = self.table(model)?;
        let (mut sql, binds) = self.render_insert(t, data)?;
        sql.push_str(&format!(" returning {}", self.all_cols(t)));
        let row = self.db.fetch_optional(&sql, &binds.args(), |r| read_row(t, r)).await?;
        row.ok_or_else(|| StoreError::Db(format!("insert into {model} returned no row")))
    }

    /// Inserts `rows` in one transaction: all of them, or none (then the first error).
    pub async fn create_many(&self, model: &str, rows: Vec<Row>) -> StoreResult<()> {
        let t = self.table(model)?;
        let rendered = rows.into_iter().map(|r| self.render_insert(t, r)).collect::<StoreResult<Vec<_>>>()?;
        let stmts: Vec<(&str, Vec<Arg<'_>>)> = rendered.iter().map(|(sql, binds)| (sql.as_str(), binds.args())).collect();
        self.db.transaction(&stmts).await
    }

    /// `insert into … values (…)` for one row (an `id` is drawn when absent).
    fn render_insert(&self, t: &Table, mut data: Row) -> StoreResult<(String, Binds)> {
        if !data.contains_key("id") && column(t, "id").is_ok() {
            data.insert("id".into(), Value::String(crate::crypto::row_id(self.names.generate_id())));
        }
        let mut binds = Binds::new();
        let mut cols = Vec::new();
        let mut phs = Vec::new();
        for (k, v) in &data {
            let c = column(t, k)?;
            cols.push(self.names.col(t.name, &c.name));
            phs.push(self.value_ph(c, binds.push(v.clone(), c.ty)));
        }
        Ok((format!("insert into {} ({}) values ({})", self.names.table(t.name), cols.join(", "), phs.join(", ")), binds))
    }

    /// [`create`](Self::create) from and to a typed row (serde, with the table's field names).
    pub async fn create_as<T: serde::Serialize + serde::de::DeserializeOwned>(&self, model: &str, value: &T) -> StoreResult<T> {
        from_row(self.create(model, to_row(value)?).await?)
    }

    /// [`find_many`](Self::find_many) into typed rows.
    pub async fn find_many_as<T: serde::de::DeserializeOwned>(&self, model: &str, q: &Query) -> StoreResult<Vec<T>> {
        self.find_many(model, q).await?.into_iter().map(from_row).collect()
    }

    /// The first row matching `filter`.
    pub async fn find_one(&self, model: &str, filter: &[Where]) -> StoreResult<Option<Row>> {
        let q = Query { filter: filter.to_vec(), limit: Some(1), ..Query::default() };
        Ok(self.find_many(model, &q).await?.into_iter().next())
    }

    pub async fn find_many(&self, model: &str, q: &Query) -> StoreResult<Vec<Row>> {
        let order: Vec<(&str, bool)> = q.sort_by.iter().map(|(f, d)| (f.as_str(), *d)).collect();
        self.find_sorted(model, q, &order).await
    }

    /// [`find_many`](Self::find_many) ordered by several fields in turn (field, descending),
    /// e.g. a time and then the id, so that rows with equal times still come in one stable order
    /// (keyset pagination). `q.sort_by` is ignored.
    pub async fn find_sorted(&self, model: &str, q: &Query, order: &[(&str, bool)]) -> StoreResult<Vec<Row>> {
        let t = self.table(model)?;
        let mut binds = Binds::new();
        let mut sql =
            format!("select {} from {}{}", self.all_cols(t), self.names.table(t.name), self.render_where(t, &q.filter, &mut binds)?);
        // A page of a pattern search on PostgreSQL: the matches are read as for a full answer, and
        // the page is cut from them. Planned with the limit in view, PostgreSQL can only guess how
        // many rows a LIKE pattern matches (1 % of the table, whatever the pattern), and bets on a
        // sequential scan that stops after the first page's worth. Matches that sit together in the
        // table (users who signed up around one time, or one domain's) make it read most of the
        // table first: 90-140 ms at 1M users, instead of the 10 ms of the trigram index
        // (BENCHMARKS.md, "Data at scale"). A materialized CTE is planned for all its rows and
        // still runs only as far as the page needs.
        let pattern = q.filter.iter().any(|w| matches!(w.op, Op::Contains | Op::StartsWith | Op::EndsWith));
        if pattern && (q.limit.is_some() || q.offset.is_some()) && self.db.dialect() == Dialect::Postgres {
            sql = format!("with matches as materialized ({sql}) select * from matches");
        }
        let mut keys = Vec::with_capacity(order.len());
        for (field, desc) in order {
            let c = column(t, field)?;
            keys.push(format!("{} {}", self.names.col(t.name, &c.name), if *desc { "desc" } else { "asc" }));
        }
        if !keys.is_empty() {
            sql.push_str(&format!(" order by {}", keys.join(", ")));
        }
        match (q.limit, q.offset, self.db.dialect()) {
            (Some(l), _, _) => sql.push_str(&format!(" limit {l}")),
            // SQLite has no OFFSET without LIMIT.
            (None, Some(_), Dialect::Sqlite) => sql.push_str(" limit -1"),
            _ => {}
        }
        if let Some(o) = q.offset {
            sql.push_str(&format!(" offset {o}"));
        }
        self.db.fetch_all(&sql, &binds.args(), |r| read_row(t, r)).await
    }

    pub async fn count(&self, model: &str, filter: &[Where]) -> StoreResult<u64> {
        let t = self.table(model)?;
        let mut binds = Binds::new();
        let sql = format!("select count(*) from {}{}", self.names.table(t.name), self.render_where(t, filter, &mut binds)?);
        let n = self.db.fetch_optional(&sql, &binds.args(), |r| r.int(0)).await?;
        Ok(n.unwrap_or(0).max(0) as u64)
    }

    /// Sets `data` on the rows matching `filter`; the first updated row, if any.
    pub async fn update(&self, model: &str, filter: &[Where], data: Row) -> StoreResult<Option<Row>> {
        let t = self.table(model)?;
        let (sql, binds) = self.render_update(t, filter, &data, true)?;
        Ok(self.db.fetch_all(&sql, &binds.args(), |r| read_row(t, r)).await?.into_iter().next())
    }

    /// Sets `data` on every row matching `filter`; how many changed.
    pub async fn update_many(&self, model: &str, filter: &[Where], data: Row) -> StoreResult<u64> {
        let t = self.table(model)?;
        let (sql, binds) = self.render_update(t, filter, &data, false)?;
        self.db.execute(&sql, &binds.args()).await
    }

    /// Deletes the rows matching `filter`.
    pub async fn delete(&self, model: &str, filter: &[Where]) -> StoreResult<()> {
        self.delete_many(model, filter).await.map(|_| ())
    }

    /// Deletes the rows matching `filter`; how many were removed.
    pub async fn delete_many(&self, model: &str, filter: &[Where]) -> StoreResult<u64> {
        let t = self.table(model)?;
        let mut binds = Binds::new();
        let sql = format!("delete from {}{}", self.names.table(t.name), self.render_where(t, filter, &mut binds)?);
        self.db.execute(&sql, &binds.args()).await
    }

    /// The placeholder that writes bound value `i` into column `c` (cast where ids are `uuid`).
    fn value_ph(&self, c: &Column, i: usize) -> String {
        if schema::is_id_column(c) {
            self.names.id_value(self.db.dialect(), i)
        } else {
            self.db.dialect().ph(i)
        }
    }

    fn all_cols(&self, t: &Table) -> String {
        t.columns.iter().map(|c| self.names.col(t.name, &c.name)).collect::<Vec<_>>().join(", ")
    }

    fn render_update(&self, t: &Table, filter: &[Where], data: &Row, returning: bool) -> StoreResult<(String, Binds)> {
        if data.is_empty() {
            return Err(StoreError::Query(format!("update of {} without data", t.name)));
        }
        let mut binds = Binds::new();
        let mut sets = Vec::new();
        for (k, v) in data {
            let c = column(t, k)?;
            sets.push(format!("{} = {}", self.names.col(t.name, &c.name), self.value_ph(c, binds.push(v.clone(), c.ty))));
        }
        let mut sql = format!("update {} set {}{}", self.names.table(t.name), sets.join(", "), self.render_where(t, filter, &mut binds)?);
        if returning {
            sql.push_str(&format!(" returning {}", self.all_cols(t)));
        }
        Ok((sql, binds))
    }

    /// ` where (…and…) and (…or…)`, or nothing for no conditions.
    fn render_where(&self, t: &Table, filter: &[Where], binds: &mut Binds) -> StoreResult<String> {
        let mut and = Vec::new();
        let mut or = Vec::new();
        for w in filter {
            let cond = self.condition(t, w, binds)?;
            match w.connector {
                Connector::And => and.push(cond),
                Connector::Or => or.push(cond),
            }
        }
        let mut groups = Vec::new();
        if !and.is_empty() {
            groups.push(format!("({})", and.join(" and ")));
        }
        if !or.is_empty() {
            groups.push(format!("({})", or.join(" or ")));
        }
        Ok(if groups.is_empty() { String::new() } else { format!(" where {}", groups.join(" and ")) })
    }

    fn condition(&self, t: &Table, w: &Where, binds: &mut Binds) -> StoreResult<String> {
        let c = column(t, &w.field)?;
        let col = self.names.col(t.name, &c.name);
        let d = self.db.dialect();
        // An id column may be `uuid` (PostgreSQL with generate_id = "uuid"): compared through a
        // cast that matches nothing for a value that is not a UUID, and matched as text by LIKE.
        let is_id = schema::is_id_column(c);
        let ph = |binds: &mut Binds, v: Value| {
            let i = binds.push(v, c.ty);
            if is_id {
                self.names.id_match(d, i)
            } else {
                d.ph(i)
            }
        };
        let like_col = if is_id && self.names.uuid_ids(d) { format!("cast({col} as text)") } else { col.clone() };
        let like = |binds: &mut Binds, pattern: String| {
            format!("{like_col} like {} escape '\\'", d.ph(binds.push(Value::String(pattern), ColType::Text)))
        };
        Ok(match (w.op, &w.value) {
            (Op::Eq, Value::Null) => format!("{col} is null"),
            (Op::Ne, Value::Null) => format!("{col} is not null"),
            (Op::In | Op::NotIn, v) => {
                let Value::Array(items) = v else { return Err(StoreError::Query(format!("{}: `in` needs an array", w.field))) };
                if items.is_empty() {
                    return Ok(if w.op == Op::In { "1 = 0".into() } else { "1 = 1".into() });
                }
                let phs: Vec<String> = items.iter().map(|i| ph(binds, i.clone())).collect();
                format!("{col} {}in ({})", if w.op == Op::NotIn { "not " } else { "" }, phs.join(", "))
            }
            (Op::Contains, v) => like(binds, format!("%{}%", escape_like(&text_of(v)))),
            (Op::StartsWith, v) => like(binds, format!("{}%", escape_like(&text_of(v)))),
            (Op::EndsWith, v) => like(binds, format!("%{}", escape_like(&text_of(v)))),
            (op, v) => {
                let sym = match op {
                    Op::Eq => "=",
                    Op::Ne => "<>",
                    Op::Lt => "<",
                    Op::Lte => "<=",
                    Op::Gt => ">",
                    _ => ">=",
                };
                format!("{col} {sym} {}", ph(binds, v.clone()))
            }
        })
    }
}

fn column<'t>(t: &'t Table, field: &str) -> StoreResult<&'t Column> {
    t.columns.iter().find(|c| c.name == field).ok_or_else(|| StoreError::Query(format!("unknown field {}.{field}", t.name)))
}

fn read_row(t: &Table, r: &dyn RowRead) -> StoreResult<Row> {
    let mut row = Map::with_capacity(t.columns.len());
    for (i, c) in t.columns.iter().enumerate() {
        row.insert(c.name.to_string(), r.field(i, c.ty)?);
    }
    Ok(row)
}

/// A typed value as a row (a struct serialising to a JSON object).
pub fn to_row<T: serde::Serialize>(value: &T) -> StoreResult<Row> {
    match serde_json::to_value(value) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(StoreError::Query("a row must serialise to an object".into())),
        Err(e) => Err(StoreError::Query(format!("cannot serialise a row: {e}"))),
    }
}

/// A row as a typed value.
pub fn from_row<T: serde::de::DeserializeOwned>(row: Row) -> StoreResult<T> {
    serde_json::from_value(Value::Object(row)).map_err(|e| StoreError::Db(format!("unexpected row: {e}")))
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `%`, `_` and `\` taken literally in a `LIKE … ESCAPE '\'` pattern.
fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// Bound values, owned until the statement runs.
struct Binds {
    values: Vec<(Value, ColType)>,
}

impl Binds {
    fn new() -> Self {
        Self { values: Vec::new() }
    }
    /// Adds a value; returns its (1-based) parameter number.
    fn push(&mut self, v: Value, ty: ColType) -> usize {
        self.values.push((v, ty));
        self.values.len()
    }
    fn args(&self) -> Vec<Arg<'_>> {
        self.values.iter().map(|(v, ty)| Arg::Field(v, *ty)).collect()
    }
}

#[cfg(test)]
#[path = "adapter_tests.rs"]
mod tests;
