//! Better Auth's schema, described once and rendered per dialect.
//!
//! Tables and columns are named by their logical (Better Auth) names; [`Names`] maps them to the
//! physical names of a deployment (camelCase by default, snake_case, plural, or explicit renames),
//! so Portcullis runs on databases created by Better Auth's Kysely, Prisma or Drizzle adapters.
//! Capabilities contribute tables through [`Table`] values; migration creates what is missing and
//! adds missing columns, never drops or rewrites anything.

use super::driver::{Db, Dialect};
use super::StoreError;
use crate::config::{NamingStyle, SchemaConfig};
use crate::fields::{FieldSet, FieldType, OnDelete};
use std::borrow::Cow;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    Text,
    Bool,
    Time,
    Int,
    BigInt,
    /// JSON values (additional fields of type `json`, `string[]`, `number[]`): `jsonb` on
    /// PostgreSQL, JSON text on SQLite, as Better Auth's Kysely adapter stores them.
    Json,
}

#[derive(Debug, Clone)]
pub struct Column {
    pub name: Cow<'static, str>,
    pub ty: ColType,
    pub nullable: bool,
    pub primary: bool,
    pub unique: bool,
    /// The referenced table and column (logical names) and the `on delete` action.
    pub references: Option<Reference>,
    pub default_now: bool,
}

/// A foreign key.
#[derive(Debug, Clone)]
pub struct Reference {
    pub table: Cow<'static, str>,
    pub column: Cow<'static, str>,
    pub on_delete: OnDelete,
}

impl Column {
    pub const fn new(name: &'static str, ty: ColType) -> Self {
        Self::named(Cow::Borrowed(name), ty)
    }
    /// A column whose name is known only at run time (an additional field).
    pub const fn named(name: Cow<'static, str>, ty: ColType) -> Self {
        Self { name, ty, nullable: false, primary: false, unique: false, references: None, default_now: false }
    }
    pub const fn null(mut self) -> Self {
        self.nullable = true;
        self
    }
    pub const fn pk(mut self) -> Self {
        self.primary = true;
        self
    }
    pub const fn unique(mut self) -> Self {
        self.unique = true;
        self
    }
    /// References `table`'s `id`, `on delete cascade`.
    pub fn refs(mut self, table: &'static str) -> Self {
        self.references = Some(Reference { table: Cow::Borrowed(table), column: Cow::Borrowed("id"), on_delete: OnDelete::Cascade });
        self
    }
    pub const fn now(mut self) -> Self {
        self.default_now = true;
        self
    }
}

#[derive(Debug, Clone)]
pub struct Table {
    pub name: &'static str,
    pub columns: Vec<Column>,
    /// Non-unique indexes on one column.
    pub indexes: Vec<&'static str>,
}

/// The four core tables, exactly as Better Auth 1.7.24 creates them (§9.1 of the spec).
pub fn core_tables() -> Vec<Table> {
    use ColType::*;
    vec![
        Table {
            name: "user",
            columns: vec![
                Column::new("id", Text).pk(),
                Column::new("name", Text),
                Column::new("email", Text).unique(),
                Column::new("emailVerified", Bool),
                Column::new("image", Text).null(),
                Column::new("createdAt", Time).now(),
                Column::new("updatedAt", Time).now(),
            ],
            indexes: vec![],
        },
        Table {
            name: "session",
            columns: vec![
                Column::new("id", Text).pk(),
                Column::new("expiresAt", Time),
                Column::new("token", Text).unique(),
                Column::new("createdAt", Time).now(),
                Column::new("updatedAt", Time),
                Column::new("ipAddress", Text).null(),
                Column::new("userAgent", Text).null(),
                Column::new("userId", Text).refs("user"),
            ],
            indexes: vec!["userId"],
        },
        Table {
            name: "account",
            columns: vec![
                Column::new("id", Text).pk(),
                Column::new("accountId", Text),
                Column::new("providerId", Text),
                Column::new("userId", Text).refs("user"),
                Column::new("accessToken", Text).null(),
                Column::new("refreshToken", Text).null(),
                Column::new("idToken", Text).null(),
                Column::new("accessTokenExpiresAt", Time).null(),
                Column::new("refreshTokenExpiresAt", Time).null(),
                Column::new("scope", Text).null(),
                Column::new("password", Text).null(),
                Column::new("createdAt", Time).now(),
                Column::new("updatedAt", Time),
            ],
            indexes: vec!["userId"],
        },
        Table {
            name: "verification",
            columns: vec![
                Column::new("id", Text).pk(),
                Column::new("identifier", Text),
                Column::new("value", Text),
                Column::new("expiresAt", Time),
                Column::new("createdAt", Time).now(),
                Column::new("updatedAt", Time).now(),
            ],
            indexes: vec!["identifier"],
        },
    ]
}

/// Maps logical names to a deployment's physical, quoted identifiers.
#[derive(Debug, Clone, Default)]
pub struct Names {
    cfg: SchemaConfig,
}

impl Names {
    pub fn new(cfg: SchemaConfig) -> Self {
        Self { cfg }
    }

    /// Physical table name (unquoted).
    pub fn table_raw(&self, table: &str) -> String {
        if let Some(r) = self.cfg.rename.get(table) {
            return r.clone();
        }
        let base = self.style(table);
        if self.cfg.plural {
            format!("{base}s")
        } else {
            base
        }
    }
    /// Physical column name (unquoted).
    pub fn column_raw(&self, table: &str, column: &str) -> String {
        if let Some(r) = self.cfg.rename.get(&format!("{table}.{column}")) {
            return r.clone();
        }
        self.style(column)
    }
    pub fn table(&self, table: &str) -> String {
        quote(&self.table_raw(table))
    }
    pub fn col(&self, table: &str, column: &str) -> String {
        quote(&self.column_raw(table, column))
    }
    /// `"a", "b", ...` for the given columns of a table, optionally qualified with an alias.
    pub fn cols(&self, table: &str, columns: &[&str], alias: Option<&str>) -> String {
        columns
            .iter()
            .map(|c| match alias {
                Some(a) => format!("{a}.{}", self.col(table, c)),
                None => self.col(table, c),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn style(&self, name: &str) -> String {
        match self.cfg.naming {
            NamingStyle::CamelCase => name.to_string(),
            NamingStyle::SnakeCase => snake(name),
        }
    }
}

fn snake(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for (i, ch) in s.chars().enumerate() {
        if ch.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

/// Double-quotes an identifier (both dialects accept standard SQL quoting).
pub fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// The columns of additional fields, as Better Auth's migrations declare them: `NOT NULL` unless
/// `required = false`, no database default (the server writes defaults).
pub fn field_columns(fields: &FieldSet) -> Vec<Column> {
    fields
        .iter()
        .map(|f| {
            let mut c = Column::named(Cow::Owned(f.column().to_string()), col_type(f.def.ty));
            c.nullable = !f.def.not_null();
            c.unique = f.def.unique;
            c.references = f.def.references.as_ref().map(|r| Reference {
                table: Cow::Owned(r.model.clone()),
                column: Cow::Owned(r.field.clone()),
                on_delete: r.on_delete,
            });
            c
        })
        .collect()
}

/// The column type that stores a field type (arrays and json as Better Auth's Kysely adapter
/// writes them: `jsonb` on PostgreSQL, JSON text on SQLite).
pub fn col_type(t: FieldType) -> ColType {
    match t {
        FieldType::String => ColType::Text,
        FieldType::Number => ColType::Int,
        FieldType::Boolean => ColType::Bool,
        FieldType::Date => ColType::Time,
        FieldType::Json | FieldType::StringArray | FieldType::NumberArray => ColType::Json,
    }
}

fn sql_type(d: Dialect, t: ColType) -> &'static str {
    match (d, t) {
        (Dialect::Postgres, ColType::Json) => "jsonb",
        (Dialect::Sqlite, ColType::Json) => "text",
        (_, ColType::Text) => "text",
        (Dialect::Postgres, ColType::Bool) => "boolean",
        (Dialect::Sqlite, ColType::Bool) => "integer",
        (Dialect::Postgres, ColType::Time) => "timestamptz",
        (Dialect::Sqlite, ColType::Time) => "date",
        (_, ColType::Int) => "integer",
        (_, ColType::BigInt) => "bigint",
    }
}

fn column_ddl(d: Dialect, names: &Names, table: &Table, c: &Column, adding: bool) -> String {
    let mut s = format!("{} {}", names.col(table.name, &c.name), sql_type(d, c.ty));
    // A NOT NULL column without a default cannot be added to a table that has rows.
    if !c.nullable && (!adding || c.default_now) {
        s.push_str(" not null");
    }
    if c.primary {
        s.push_str(" primary key");
    }
    if c.unique && !adding {
        s.push_str(" unique");
    }
    if c.default_now {
        s.push_str(" default CURRENT_TIMESTAMP");
    }
    if let Some(r) = &c.references {
        let action = match r.on_delete {
            OnDelete::Cascade => "cascade",
            OnDelete::SetNull => "set null",
            OnDelete::Restrict => "restrict",
            OnDelete::NoAction => "no action",
        };
        s.push_str(&format!(" references {} ({}) on delete {action}", names.table(&r.table), names.col(&r.table, &r.column)));
    }
    s
}

/// `create table if not exists` statements for one table, with its indexes.
pub fn create_statements(d: Dialect, names: &Names, t: &Table) -> Vec<String> {
    let cols = t.columns.iter().map(|c| column_ddl(d, names, t, c, false)).collect::<Vec<_>>().join(", ");
    let mut out = vec![format!("create table if not exists {} ({cols})", names.table(t.name))];
    for ix in &t.indexes {
        let name = quote(&format!("{}_{}_idx", names.table_raw(t.name), names.column_raw(t.name, ix)));
        out.push(format!("create index if not exists {name} on {} ({})", names.table(t.name), names.col(t.name, ix)));
    }
    out
}

async fn existing_columns(db: &Db, table: &str) -> Result<Vec<String>, StoreError> {
    let sql = match db.dialect() {
        Dialect::Postgres => {
            "select column_name::text from information_schema.columns where table_schema = current_schema() and table_name = $1"
        }
        Dialect::Sqlite => "select name from pragma_table_info(?1)",
    };
    db.fetch_all(sql, &[super::driver::Arg::Text(table)], |r| r.text(0)).await
}

/// Creates missing tables, indexes and columns. Idempotent; never drops data.
pub async fn migrate(db: &Db, names: &Names, tables: &[Table]) -> Result<Vec<String>, StoreError> {
    let d = db.dialect();
    let mut applied = Vec::new();
    for t in tables {
        let have = existing_columns(db, &names.table_raw(t.name)).await?;
        if have.is_empty() {
            for stmt in create_statements(d, names, t) {
                db.execute(&stmt, &[]).await?;
                applied.push(stmt);
            }
            continue;
        }
        for c in &t.columns {
            let phys = names.column_raw(t.name, &c.name);
            if !have.contains(&phys) {
                let stmt = format!("alter table {} add column {}", names.table(t.name), column_ddl(d, names, t, c, true));
                db.execute(&stmt, &[]).await?;
                applied.push(stmt);
            }
        }
        for stmt in create_statements(d, names, t).into_iter().skip(1) {
            db.execute(&stmt, &[]).await?;
        }
    }
    relax_legacy_issuer(db, names, &mut applied).await?;
    Ok(applied)
}

/// Better Auth 1.7.0–1.7.2 added a required `account.issuer`; 1.7.3 removed it again. Its upgrade
/// guide makes the column nullable, which lets rows written without it (by us) be inserted.
async fn relax_legacy_issuer(db: &Db, names: &Names, applied: &mut Vec<String>) -> Result<(), StoreError> {
    if db.dialect() != Dialect::Postgres {
        return Ok(());
    }
    let have = existing_columns(db, &names.table_raw("account")).await?;
    if have.iter().any(|c| c == "issuer") {
        let stmt = format!("alter table {} alter column \"issuer\" drop not null", names.table("account"));
        db.execute(&stmt, &[]).await?;
        applied.push(stmt);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_ddl_matches_better_auth() {
        let names = Names::default();
        let t = core_tables();
        let user = create_statements(Dialect::Postgres, &names, &t[0]);
        assert_eq!(
            user[0],
            "create table if not exists \"user\" (\"id\" text not null primary key, \"name\" text not null, \"email\" text not null unique, \"emailVerified\" boolean not null, \"image\" text, \"createdAt\" timestamptz not null default CURRENT_TIMESTAMP, \"updatedAt\" timestamptz not null default CURRENT_TIMESTAMP)"
        );
        let session = create_statements(Dialect::Postgres, &names, &t[1]);
        assert!(session[0].contains("\"userId\" text not null references \"user\" (\"id\") on delete cascade"));
        assert_eq!(session[1], "create index if not exists \"session_userId_idx\" on \"session\" (\"userId\")");
    }

    #[test]
    fn additional_field_columns_match_better_auth() {
        let fields: FieldSet = toml::from_str(
            r#"
            theme = { type = "string", required = false, default_value = "auto" }
            blocklist = { type = "string[]", required = false }
            birthday = { type = "date", required = false }
            monthlyCreditsQuota = { type = "number", required = false }
            showWeekends = { type = "boolean", required = false }
            uuid = { type = "string", unique = true }
            teamId = { type = "string", required = false, references = { model = "user", on_delete = "set null" } }
            "#,
        )
        .unwrap();
        let mut user = core_tables().remove(0);
        user.columns.extend(field_columns(&fields));
        let pg = create_statements(Dialect::Postgres, &Names::default(), &user).remove(0);
        assert!(pg.contains(r#""theme" text, "blocklist" jsonb, "birthday" timestamptz, "monthlyCreditsQuota" integer, "showWeekends" boolean, "uuid" text not null unique"#), "{pg}");
        assert!(pg.contains(r#""teamId" text references "user" ("id") on delete set null"#), "{pg}");
        let lite = create_statements(Dialect::Sqlite, &Names::default(), &user).remove(0);
        assert!(lite.contains(r#""blocklist" text, "birthday" date, "monthlyCreditsQuota" integer, "showWeekends" integer"#), "{lite}");
    }

    #[test]
    fn snake_case_and_plural_names() {
        let mut cfg = SchemaConfig { naming: NamingStyle::SnakeCase, plural: true, ..Default::default() };
        cfg.rename.insert("verification".into(), "verifications_tbl".into());
        let n = Names::new(cfg);
        assert_eq!(n.table("user"), "\"users\"");
        assert_eq!(n.col("user", "emailVerified"), "\"email_verified\"");
        assert_eq!(n.table("verification"), "\"verifications_tbl\"");
    }
}
