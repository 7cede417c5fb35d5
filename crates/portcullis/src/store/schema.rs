//! Better Auth's schema, described once and rendered per dialect.
//!
//! Tables and columns are named by their logical (Better Auth) names; [`Names`] maps them to the
//! physical names of a deployment (camelCase by default, snake_case, plural, or explicit renames),
//! so Portcullis runs on databases created by Better Auth's Kysely, Prisma or Drizzle adapters.
//! Capabilities contribute tables through [`Table`] values; migration creates what is missing and
//! adds missing columns, never drops or rewrites anything.

use super::driver::{Db, Dialect};
use super::StoreError;
use crate::config::{GenerateId, NamingStyle, SchemaConfig};
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

/// Maps logical names to a deployment's physical, quoted identifiers, and says how ids are made
/// and typed (`advanced.database.generate_id`).
#[derive(Debug, Clone, Default)]
pub struct Names {
    cfg: SchemaConfig,
    ids: GenerateId,
}

/// A canonical UUID, as a PostgreSQL regular expression (`~*`, any case).
const UUID_RE: &str = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";

impl Names {
    pub fn new(cfg: SchemaConfig) -> Self {
        Self { cfg, ids: GenerateId::default() }
    }
    /// How row ids are made; with `Uuid`, id columns (and the columns referencing them) are
    /// PostgreSQL `uuid`, as Better Auth's migration makes them.
    pub fn with_generate_id(mut self, ids: GenerateId) -> Self {
        self.ids = ids;
        self
    }
    pub fn generate_id(&self) -> GenerateId {
        self.ids
    }
    /// Whether id columns are `uuid` on this dialect (PostgreSQL only; SQLite keeps text).
    pub fn uuid_ids(&self, d: Dialect) -> bool {
        d == Dialect::Postgres && self.ids == GenerateId::Uuid
    }
    /// A placeholder holding a value written to an id column: cast to `uuid` where ids are.
    pub fn id_value(&self, d: Dialect, i: usize) -> String {
        if self.uuid_ids(d) {
            format!("cast({} as uuid)", d.ph(i))
        } else {
            d.ph(i)
        }
    }
    /// A placeholder compared with an id column. Where ids are `uuid`, a value that is not a UUID
    /// matches nothing instead of failing the statement (an id from a request is not trusted to
    /// be well formed; `case` keeps the cast from running on it).
    pub fn id_match(&self, d: Dialect, i: usize) -> String {
        if self.uuid_ids(d) {
            let p = d.ph(i);
            format!("(case when {p} ~* '{UUID_RE}' then cast({p} as uuid) end)")
        } else {
            d.ph(i)
        }
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

/// Whether a column holds an id: a table's own `id`, or a reference to one.
pub fn is_id_column(c: &Column) -> bool {
    (c.primary && c.name == "id") || c.references.as_ref().is_some_and(|r| r.column == "id")
}

fn column_ddl(d: Dialect, names: &Names, table: &Table, c: &Column, adding: bool) -> String {
    let uuid = names.uuid_ids(d) && is_id_column(c);
    let ty = if uuid { "uuid" } else { sql_type(d, c.ty) };
    let mut s = format!("{} {ty}", names.col(table.name, &c.name));
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
    if uuid && c.primary {
        s.push_str(" default pg_catalog.gen_random_uuid()");
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

/// The physical column names of physical table `table` (none when it does not exist).
pub async fn existing_columns(db: &Db, table: &str) -> Result<Vec<String>, StoreError> {
    let sql = match db.dialect() {
        Dialect::Postgres => {
            "select column_name::text from information_schema.columns where table_schema = current_schema() and table_name = $1"
        }
        Dialect::Sqlite => "select name from pragma_table_info(?1)",
    };
    db.fetch_all(sql, &[super::driver::Arg::Text(table)], |r| r.text(0)).await
}

/// Refuses a PostgreSQL database whose `user.id` type is not the one `generate_id` implies: every
/// id comparison would fail at run time (`uuid = text`), so say so once, at start.
async fn check_id_type(db: &Db, names: &Names) -> Result<(), StoreError> {
    if db.dialect() != Dialect::Postgres {
        return Ok(());
    }
    let sql = "select data_type::text from information_schema.columns where table_schema = current_schema() and table_name = $1 and column_name = $2";
    let args = [super::driver::Arg::Text(&names.table_raw("user")), super::driver::Arg::Text(&names.column_raw("user", "id"))];
    let Some(ty) = db.fetch_optional(sql, &args, |r| r.text(0)).await? else { return Ok(()) };
    let want_uuid = names.uuid_ids(Dialect::Postgres);
    match (ty.as_str(), want_uuid) {
        ("uuid", false) => Err(StoreError::Db(
            "the database's id columns are uuid (Better Auth's generateId: \"uuid\"): set advanced.database.generate_id = \"uuid\"".into(),
        )),
        ("integer" | "bigint", _) => Err(StoreError::Db(format!(
            "the database's ids are {ty} (Better Auth's generateId: \"serial\"), which this version does not support"
        ))),
        ("uuid", true) | (_, false) => Ok(()),
        (other, true) => Err(StoreError::Db(format!(
            "advanced.database.generate_id = \"uuid\" needs uuid id columns, but user.id is {other}: leave generate_id out for this database"
        ))),
    }
}

/// Creates missing tables, indexes and columns. Idempotent; never drops data.
pub async fn migrate(db: &Db, names: &Names, tables: &[Table]) -> Result<Vec<String>, StoreError> {
    check_id_type(db, names).await?;
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
    fn uuid_ids_are_postgres_uuid_columns() {
        let names = Names::default().with_generate_id(GenerateId::Uuid);
        let t = core_tables();
        let user = create_statements(Dialect::Postgres, &names, &t[0]);
        assert!(
            user[0].starts_with(
                "create table if not exists \"user\" (\"id\" uuid not null primary key default pg_catalog.gen_random_uuid(), \"name\" text"
            ),
            "{}",
            user[0]
        );
        let session = create_statements(Dialect::Postgres, &names, &t[1]);
        assert!(session[0].contains("\"token\" text not null unique"), "{}", session[0]);
        assert!(session[0].contains("\"userId\" uuid not null references \"user\" (\"id\") on delete cascade"), "{}", session[0]);
        // SQLite has no uuid type: text, as Better Auth makes it.
        let lite = create_statements(Dialect::Sqlite, &names, &t[1]);
        assert!(lite[0].contains("\"id\" text not null primary key,") && lite[0].contains("\"userId\" text not null"), "{}", lite[0]);
        assert_eq!(names.id_match(Dialect::Sqlite, 1), "?1");
        assert!(names.id_match(Dialect::Postgres, 2).contains("then cast($2 as uuid) end"));
        assert_eq!(Names::default().id_match(Dialect::Postgres, 2), "$2");
    }

    /// A database whose id type does not match `generate_id` is refused at migration, naming the fix.
    #[tokio::test]
    async fn mismatched_id_columns_are_refused_on_postgres() {
        let url = std::env::var("PORTCULLIS_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let db = Db::connect(&url, &Default::default()).await.unwrap();
        let names = |table: &str, ids: GenerateId| {
            let mut cfg = SchemaConfig::default();
            cfg.rename.insert("user".into(), table.into());
            Names::new(cfg).with_generate_id(ids)
        };
        let suffix = crate::crypto::random_id(8).to_lowercase();
        for (ty, ok, refused, hint) in [
            ("uuid", GenerateId::Uuid, GenerateId::Random, "set advanced.database.generate_id = \"uuid\""),
            ("text", GenerateId::Random, GenerateId::Uuid, "leave generate_id out"),
        ] {
            let table = format!("idcheck_{ty}_{suffix}");
            db.execute(&format!("create table \"{table}\" (\"id\" {ty} primary key)"), &[]).await.unwrap();
            let checked = (check_id_type(&db, &names(&table, ok)).await, check_id_type(&db, &names(&table, refused)).await);
            db.execute(&format!("drop table \"{table}\""), &[]).await.unwrap();
            assert!(checked.0.is_ok(), "{ty}: {:?}", checked.0);
            let e = checked.1.unwrap_err().to_string();
            assert!(e.contains(hint), "{ty}: {e}");
        }
        // No table yet: nothing to check.
        assert!(check_id_type(&db, &names(&format!("idcheck_none_{suffix}"), GenerateId::Uuid)).await.is_ok());
        db.close().await;
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
