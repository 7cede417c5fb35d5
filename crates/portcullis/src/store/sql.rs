//! The `Store` implementation, written once for both dialects.
//!
//! SQL text is rendered once at start-up from [`Names`] (so per-request work is binding and
//! mapping only) and run through [`Db`], which hides the dialect.

use super::driver::{Arg, Db, RowRead};
use super::model::{Account, PendingRevocation, Session, User, UserPatch, Verification, CREDENTIAL_PROVIDER};
use super::schema::{self, Names, Table};
use super::{Store, StoreResult};
use crate::fields::{FieldSet, Values};
use chrono::{DateTime, Utc};
use serde_json::Value;

const USER: &[&str] = crate::fields::USER_CORE;
const SESSION: &[&str] = crate::fields::SESSION_CORE;
const ACCOUNT: &[&str] = &[
    "id",
    "accountId",
    "providerId",
    "userId",
    "accessToken",
    "refreshToken",
    "idToken",
    "accessTokenExpiresAt",
    "refreshTokenExpiresAt",
    "scope",
    "password",
    "createdAt",
    "updatedAt",
];
const VERIFICATION: &[&str] = &["id", "identifier", "value", "expiresAt", "createdAt", "updatedAt"];
const PENDING_REVOCATION: &[&str] = &["id", "tokenHash", "token", "userId", "revokedBefore", "createdAt"];

/// Every statement the store runs, rendered for one dialect and naming.
struct Sql {
    insert_user: String,
    insert_account: String,
    insert_session: String,
    insert_verification: String,
    user_by_id: String,
    user_by_email: String,
    update_user: String,
    delete_user: String,
    delete_user_accounts: String,
    credential_account: String,
    accounts_of_user: String,
    update_password: String,
    replace_password: String,
    account_by_provider: String,
    account_by_id: String,
    update_account_tokens: String,
    delete_account: String,
    /// `… where s.token in (…)` for each of [`SESSION_BATCHES`] placeholders.
    sessions_with_user: Vec<String>,
    touch_session: String,
    sessions_of_user: String,
    delete_session: String,
    delete_user_sessions: String,
    delete_user_sessions_except: String,
    verification_by_identifier: String,
    delete_verification: String,
    delete_expired_verifications: String,
    insert_pending_revocation: String,
    all_pending_revocations: String,
    delete_pending_revocation: String,
}

/// Placeholder counts of the prepared batched session lookups (few statements, any batch size).
const SESSION_BATCHES: [usize; 6] = [1, 2, 4, 8, 16, 32];

/// Logical column names of a table: its core columns, then its additional fields' columns.
fn columns(core: &[&str], fields: &FieldSet) -> Vec<String> {
    core.iter().map(|c| c.to_string()).chain(fields.iter().map(|f| f.column().to_string())).collect()
}

/// Whether a field holds a row id (it references an `id`): `uuid` where ids are.
fn holds_id(f: &crate::fields::Field) -> bool {
    f.def.references.as_ref().is_some_and(|r| r.field == "id")
}

/// `"col" = <placeholder i>` for a field being written.
fn set_field(n: &Names, d: super::driver::Dialect, table: &str, f: &crate::fields::Field, i: usize) -> String {
    let ph = if holds_id(f) { n.id_value(d, i) } else { d.ph(i) };
    format!("{} = {ph}", n.col(table, f.column()))
}

/// `update user set <core columns, coalesced>, <extra columns> where id = …`: placeholders 1-6 are
/// the core values, then one per extra column, then the id.
fn render_update_user(db: &Db, n: &Names, extra: &[&crate::fields::Field]) -> String {
    let ph = |i: usize| db.dialect().ph(i);
    let c = |col: &str| n.col("user", col);
    let sets: String = extra.iter().enumerate().map(|(i, f)| format!(", {}", set_field(n, db.dialect(), "user", f, 7 + i))).collect();
    // COALESCE keeps a column when its parameter is NULL; image uses a flag since NULL is a value.
    format!(
        "update {} set {name} = coalesce({}, {name}), {image} = case when {} then {} else {image} end, {email} = coalesce({}, {email}), {ev} = coalesce({}, {ev}), {upd} = {}{sets} where {} = {}",
        n.table("user"),
        ph(1),
        ph(2),
        ph(3),
        ph(4),
        ph(5),
        ph(6),
        c("id"),
        n.id_match(db.dialect(), 7 + extra.len()),
        name = c("name"),
        image = c("image"),
        email = c("email"),
        ev = c("emailVerified"),
        upd = c("updatedAt"),
    )
}

/// `update session set <extra columns>, updatedAt = … where token = …`.
fn render_update_session(db: &Db, n: &Names, extra: &[&crate::fields::Field]) -> String {
    let ph = |i: usize| db.dialect().ph(i);
    let c = |col: &str| n.col("session", col);
    let sets: String = extra.iter().enumerate().map(|(i, f)| format!("{}, ", set_field(n, db.dialect(), "session", f, 1 + i))).collect();
    let k = extra.len();
    format!("update {} set {sets}{} = {} where {} = {}", n.table("session"), c("updatedAt"), ph(k + 1), c("token"), ph(k + 2))
}

impl Sql {
    fn render(db: &Db, n: &Names, user_fields: &FieldSet, session_fields: &FieldSet) -> Self {
        let d = db.dialect();
        let ph = |i: usize| d.ph(i);
        let user_cols = columns(USER, user_fields);
        let user_cols: &[&str] = &user_cols.iter().map(String::as_str).collect::<Vec<_>>();
        let session_cols = columns(SESSION, session_fields);
        let session_cols: &[&str] = &session_cols.iter().map(String::as_str).collect::<Vec<_>>();
        // Placeholders compared with an id column (cast to `uuid` where ids are, see `Names`).
        let idm = |i: usize| n.id_match(d, i);
        let core = schema::core_tables();
        let field_id = |table: &str, col: &str| {
            let fields = match table {
                "user" => user_fields,
                "session" => session_fields,
                _ => return false,
            };
            fields.iter().any(|f| f.column() == col && holds_id(f))
        };
        let is_id = |table: &str, col: &str| {
            col == "id"
                || core.iter().any(|t| t.name == table && t.columns.iter().any(|c| c.name == col && schema::is_id_column(c)))
                || field_id(table, col)
        };
        let insert = |table: &str, cols: &[&str]| {
            let phs = cols
                .iter()
                .enumerate()
                .map(|(i, col)| if is_id(table, col) { n.id_value(d, i + 1) } else { ph(i + 1) })
                .collect::<Vec<_>>()
                .join(", ");
            format!("insert into {} ({}) values ({phs})", n.table(table), n.cols(table, cols, None))
        };
        let select = |table: &str, cols: &[&str], filter: &str| {
            format!("select {} from {} where {filter}", n.cols(table, cols, None), n.table(table))
        };
        let c = |t: &str, col: &str| n.col(t, col);
        Self {
            insert_user: insert("user", user_cols),
            insert_account: insert("account", ACCOUNT),
            insert_session: insert("session", session_cols),
            insert_verification: insert("verification", VERIFICATION),
            user_by_id: select("user", user_cols, &format!("{} = {}", c("user", "id"), idm(1))),
            user_by_email: select("user", user_cols, &format!("{} = {}", c("user", "email"), ph(1))),
            update_user: render_update_user(db, n, &[]),
            delete_user: format!("delete from {} where {} = {}", n.table("user"), c("user", "id"), idm(1)),
            delete_user_accounts: format!("delete from {} where {} = {}", n.table("account"), c("account", "userId"), idm(1)),
            credential_account: select(
                "account",
                ACCOUNT,
                &format!(
                    "{} = {} and {} = {} and {} = {}",
                    c("account", "providerId"),
                    ph(1),
                    c("account", "accountId"),
                    ph(2),
                    c("account", "userId"),
                    idm(2)
                ),
            ),
            accounts_of_user: format!(
                "{} order by {}",
                select("account", ACCOUNT, &format!("{} = {}", c("account", "userId"), idm(1))),
                c("account", "createdAt")
            ),
            update_password: format!(
                "update {} set {} = {}, {} = {} where {} = {}",
                n.table("account"),
                c("account", "password"),
                ph(1),
                c("account", "updatedAt"),
                ph(2),
                c("account", "id"),
                idm(3)
            ),
            account_by_provider: select(
                "account",
                ACCOUNT,
                &format!("{} = {} and {} = {}", c("account", "providerId"), ph(1), c("account", "accountId"), ph(2)),
            ),
            account_by_id: select("account", ACCOUNT, &format!("{} = {}", c("account", "id"), idm(1))),
            update_account_tokens: format!(
                "update {} set {} = {}, {} = {}, {} = {}, {} = {}, {} = {}, {} = {}, {} = {} where {} = {}",
                n.table("account"),
                c("account", "accessToken"),
                ph(1),
                c("account", "refreshToken"),
                ph(2),
                c("account", "idToken"),
                ph(3),
                c("account", "accessTokenExpiresAt"),
                ph(4),
                c("account", "refreshTokenExpiresAt"),
                ph(5),
                c("account", "scope"),
                ph(6),
                c("account", "updatedAt"),
                ph(7),
                c("account", "id"),
                idm(8)
            ),
            delete_account: format!("delete from {} where {} = {}", n.table("account"), c("account", "id"), idm(1)),
            replace_password: format!(
                "update {} set {} = {}, {} = {} where {} = {} and {} = {}",
                n.table("account"),
                c("account", "password"),
                ph(1),
                c("account", "updatedAt"),
                ph(2),
                c("account", "id"),
                idm(3),
                c("account", "password"),
                ph(4)
            ),
            sessions_with_user: SESSION_BATCHES
                .iter()
                .map(|&k| {
                    format!(
                        "select {}, {} from {} s join {} u on u.{} = s.{} where s.{} in ({})",
                        n.cols("session", session_cols, Some("s")),
                        n.cols("user", user_cols, Some("u")),
                        n.table("session"),
                        n.table("user"),
                        c("user", "id"),
                        c("session", "userId"),
                        c("session", "token"),
                        (1..=k).map(ph).collect::<Vec<_>>().join(", ")
                    )
                })
                .collect(),
            touch_session: format!(
                "update {} set {} = {}, {} = {} where {} = {}",
                n.table("session"),
                c("session", "expiresAt"),
                ph(1),
                c("session", "updatedAt"),
                ph(2),
                c("session", "token"),
                ph(3)
            ),
            sessions_of_user: format!(
                "{} order by {}",
                select("session", session_cols, &format!("{} = {}", c("session", "userId"), idm(1))),
                c("session", "createdAt")
            ),
            delete_session: format!("delete from {} where {} = {}", n.table("session"), c("session", "token"), ph(1)),
            delete_user_sessions: format!("delete from {} where {} = {}", n.table("session"), c("session", "userId"), idm(1)),
            delete_user_sessions_except: format!(
                "delete from {} where {} = {} and {} <> {}",
                n.table("session"),
                c("session", "userId"),
                idm(1),
                c("session", "token"),
                ph(2)
            ),
            verification_by_identifier: format!(
                "{} order by {} desc limit 1",
                select("verification", VERIFICATION, &format!("{} = {}", c("verification", "identifier"), ph(1))),
                c("verification", "createdAt")
            ),
            delete_verification: format!("delete from {} where {} = {}", n.table("verification"), c("verification", "id"), idm(1)),
            delete_expired_verifications: format!(
                "delete from {} where {} < {}",
                n.table("verification"),
                c("verification", "expiresAt"),
                ph(1)
            ),
            insert_pending_revocation: insert("pendingRevocation", PENDING_REVOCATION),
            all_pending_revocations: format!(
                "select {} from {}",
                n.cols("pendingRevocation", PENDING_REVOCATION, None),
                n.table("pendingRevocation")
            ),
            delete_pending_revocation: format!(
                "delete from {} where {} = {}",
                n.table("pendingRevocation"),
                c("pendingRevocation", "id"),
                idm(1)
            ),
        }
    }
}

/// The additional fields at columns `o..`, split into returned and hidden ones.
fn field_values(r: &dyn RowRead, o: usize, fields: &FieldSet) -> StoreResult<(Values, Values)> {
    let (mut shown, mut hidden) = (Values::default(), Values::default());
    for (i, f) in fields.iter().enumerate() {
        let v = r.field(o + i, schema::col_type(f.def.ty))?;
        if f.def.returned { &mut shown } else { &mut hidden }.0.push((f.name.clone(), v));
    }
    Ok((shown, hidden))
}

/// The additional fields' arguments, in column order (absent ones as NULL).
fn field_args<'a, 'f>(fields: &'f FieldSet, shown: &'a Values, hidden: &'a Values) -> impl Iterator<Item = Arg<'a>> + use<'a, 'f> {
    const NULL: &Value = &Value::Null;
    fields.iter().map(move |f| {
        let v = shown.get(&f.name).or_else(|| hidden.get(&f.name)).unwrap_or(NULL);
        Arg::Field(v, schema::col_type(f.def.ty))
    })
}

fn user_row(r: &dyn RowRead, o: usize, fields: &FieldSet) -> StoreResult<User> {
    let (extra, hidden) = field_values(r, o + USER.len(), fields)?;
    Ok(User {
        extra,
        hidden,
        id: r.text(o)?,
        name: r.text(o + 1)?,
        email: r.text(o + 2)?,
        email_verified: r.boolean(o + 3)?,
        image: r.opt_text(o + 4)?,
        created_at: r.time(o + 5)?,
        updated_at: r.time(o + 6)?,
    })
}

fn session_row(r: &dyn RowRead, o: usize, fields: &FieldSet) -> StoreResult<Session> {
    let (extra, hidden) = field_values(r, o + SESSION.len(), fields)?;
    Ok(Session {
        extra,
        hidden,
        id: r.text(o)?,
        expires_at: r.time(o + 1)?,
        token: r.text(o + 2)?,
        created_at: r.time(o + 3)?,
        updated_at: r.time(o + 4)?,
        ip_address: r.opt_text(o + 5)?.unwrap_or_default(),
        user_agent: r.opt_text(o + 6)?.unwrap_or_default(),
        user_id: r.text(o + 7)?,
    })
}

fn account_row(r: &dyn RowRead) -> StoreResult<Account> {
    Ok(Account {
        id: r.text(0)?,
        account_id: r.text(1)?,
        provider_id: r.text(2)?,
        user_id: r.text(3)?,
        access_token: r.opt_text(4)?,
        refresh_token: r.opt_text(5)?,
        id_token: r.opt_text(6)?,
        access_token_expires_at: r.opt_time(7)?,
        refresh_token_expires_at: r.opt_time(8)?,
        scope: r.opt_text(9)?,
        password: r.opt_text(10)?,
        created_at: r.time(11)?,
        updated_at: r.time(12)?,
    })
}

fn verification_row(r: &dyn RowRead) -> StoreResult<Verification> {
    Ok(Verification {
        id: r.text(0)?,
        identifier: r.text(1)?,
        value: r.text(2)?,
        expires_at: r.time(3)?,
        created_at: r.time(4)?,
        updated_at: r.time(5)?,
    })
}

fn pending_revocation_row(r: &dyn RowRead) -> StoreResult<PendingRevocation> {
    Ok(PendingRevocation {
        id: r.text(0)?,
        token_hash: r.opt_text(1)?,
        token: r.opt_text(2)?,
        user_id: r.opt_text(3)?,
        revoked_before: r.opt_time(4)?,
        created_at: r.time(5)?,
    })
}

fn user_args<'a>(u: &'a User, fields: &FieldSet) -> Vec<Arg<'a>> {
    let mut args = vec![
        Arg::Text(&u.id),
        Arg::Text(&u.name),
        Arg::Text(&u.email),
        Arg::Bool(u.email_verified),
        Arg::OptText(u.image.as_deref()),
        Arg::Time(u.created_at),
        Arg::Time(u.updated_at),
    ];
    args.extend(field_args(fields, &u.extra, &u.hidden));
    args
}

fn account_args(a: &Account) -> Vec<Arg<'_>> {
    vec![
        Arg::Text(&a.id),
        Arg::Text(&a.account_id),
        Arg::Text(&a.provider_id),
        Arg::Text(&a.user_id),
        Arg::OptText(a.access_token.as_deref()),
        Arg::OptText(a.refresh_token.as_deref()),
        Arg::OptText(a.id_token.as_deref()),
        Arg::OptTime(a.access_token_expires_at),
        Arg::OptTime(a.refresh_token_expires_at),
        Arg::OptText(a.scope.as_deref()),
        Arg::OptText(a.password.as_deref()),
        Arg::Time(a.created_at),
        Arg::Time(a.updated_at),
    ]
}

/// SQL storage on SQLite or PostgreSQL.
pub struct SqlStore {
    db: Db,
    names: Names,
    sql: Sql,
    /// Additional fields of `user` and `session` (columns after the core ones).
    user_fields: FieldSet,
    session_fields: FieldSet,
}

impl SqlStore {
    pub fn new(db: Db, names: Names) -> Self {
        let sql = Sql::render(&db, &names, &FieldSet::default(), &FieldSet::default());
        Self { db, names, sql, user_fields: Default::default(), session_fields: Default::default() }
    }
    /// The core tables with the additional fields' columns.
    fn core_tables(&self) -> Vec<Table> {
        let mut tables = schema::core_tables();
        for t in &mut tables {
            match t.name {
                "user" => t.columns.extend(schema::field_columns(&self.user_fields)),
                "session" => t.columns.extend(schema::field_columns(&self.session_fields)),
                _ => {}
            }
        }
        tables
    }

    /// Declares the additional fields of `user` and `session`; `migrate` creates their columns.
    pub fn with_fields(mut self, user: FieldSet, session: FieldSet) -> Self {
        self.sql = Sql::render(&self.db, &self.names, &user, &session);
        self.user_fields = user;
        self.session_fields = session;
        self
    }
    pub fn db(&self) -> &Db {
        &self.db
    }
    pub fn names(&self) -> &Names {
        &self.names
    }
}

#[async_trait::async_trait]
impl Store for SqlStore {
    fn additional_fields(&self) -> Option<(&FieldSet, &FieldSet)> {
        Some((&self.user_fields, &self.session_fields))
    }

    async fn migrate(&self, extra: &[Table]) -> StoreResult<Vec<String>> {
        let mut tables = self.core_tables();
        tables.extend_from_slice(extra);
        schema::migrate(&self.db, &self.names, &tables).await
    }

    async fn create_user(&self, user: &User, account: Option<&Account>) -> StoreResult<()> {
        let mut stmts = vec![(self.sql.insert_user.as_str(), user_args(user, &self.user_fields))];
        if let Some(a) = account {
            stmts.push((self.sql.insert_account.as_str(), account_args(a)));
        }
        self.db.transaction(&stmts).await
    }

    async fn find_user_by_id(&self, id: &str) -> StoreResult<Option<User>> {
        self.db.fetch_optional(&self.sql.user_by_id, &[Arg::Text(id)], |r| user_row(r, 0, &self.user_fields)).await
    }

    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        self.db.fetch_optional(&self.sql.user_by_email, &[Arg::Text(email)], |r| user_row(r, 0, &self.user_fields)).await
    }

    async fn update_user(&self, id: &str, p: &UserPatch, now: DateTime<Utc>) -> StoreResult<Option<User>> {
        let image = p.image.as_ref().and_then(|i| i.as_deref());
        let mut args = vec![
            Arg::OptText(p.name.as_deref()),
            Arg::Bool(p.image.is_some()),
            Arg::OptText(image),
            Arg::OptText(p.email.as_deref()),
            Arg::OptBool(p.email_verified),
            Arg::Time(now),
        ];
        // Only declared fields reach the database; their columns come from the declaration.
        let fields: Vec<_> = p.extra.0.iter().filter_map(|(k, v)| self.user_fields.get(k).map(|f| (f, v))).collect();
        args.extend(fields.iter().map(|(f, v)| Arg::Field(v, schema::col_type(f.def.ty))));
        args.push(Arg::Text(id));
        let dynamic;
        let sql = if fields.is_empty() {
            &self.sql.update_user
        } else {
            dynamic = render_update_user(&self.db, &self.names, &fields.iter().map(|(f, _)| *f).collect::<Vec<_>>());
            &dynamic
        };
        if self.db.execute(sql, &args).await? == 0 {
            return Ok(None);
        }
        self.find_user_by_id(id).await
    }

    async fn delete_user(&self, id: &str) -> StoreResult<()> {
        self.db
            .transaction(&[
                (self.sql.delete_user_sessions.as_str(), vec![Arg::Text(id)]),
                (self.sql.delete_user_accounts.as_str(), vec![Arg::Text(id)]),
                (self.sql.delete_user.as_str(), vec![Arg::Text(id)]),
            ])
            .await
    }

    async fn create_account(&self, account: &Account) -> StoreResult<()> {
        self.db.execute(&self.sql.insert_account, &account_args(account)).await.map(|_| ())
    }

    async fn find_credential_account(&self, user_id: &str) -> StoreResult<Option<Account>> {
        let args = [Arg::Text(CREDENTIAL_PROVIDER), Arg::Text(user_id)];
        self.db.fetch_optional(&self.sql.credential_account, &args, account_row).await
    }

    async fn list_accounts(&self, user_id: &str) -> StoreResult<Vec<Account>> {
        self.db.fetch_all(&self.sql.accounts_of_user, &[Arg::Text(user_id)], account_row).await
    }

    async fn update_password(&self, account_id: &str, hash: &str, now: DateTime<Utc>) -> StoreResult<()> {
        let args = [Arg::Text(hash), Arg::Time(now), Arg::Text(account_id)];
        self.db.execute(&self.sql.update_password, &args).await.map(|_| ())
    }

    async fn find_account(&self, provider_id: &str, account_id: &str) -> StoreResult<Option<Account>> {
        let args = [Arg::Text(provider_id), Arg::Text(account_id)];
        self.db.fetch_optional(&self.sql.account_by_provider, &args, account_row).await
    }

    async fn find_account_by_id(&self, id: &str) -> StoreResult<Option<Account>> {
        self.db.fetch_optional(&self.sql.account_by_id, &[Arg::Text(id)], account_row).await
    }

    async fn update_account_tokens(&self, a: &Account) -> StoreResult<()> {
        let args = [
            Arg::OptText(a.access_token.as_deref()),
            Arg::OptText(a.refresh_token.as_deref()),
            Arg::OptText(a.id_token.as_deref()),
            Arg::OptTime(a.access_token_expires_at),
            Arg::OptTime(a.refresh_token_expires_at),
            Arg::OptText(a.scope.as_deref()),
            Arg::Time(a.updated_at),
            Arg::Text(&a.id),
        ];
        self.db.execute(&self.sql.update_account_tokens, &args).await.map(|_| ())
    }

    async fn delete_account(&self, id: &str) -> StoreResult<bool> {
        Ok(self.db.execute(&self.sql.delete_account, &[Arg::Text(id)]).await? > 0)
    }

    async fn replace_password(&self, account_id: &str, old: &str, new: &str, now: DateTime<Utc>) -> StoreResult<bool> {
        let args = [Arg::Text(new), Arg::Time(now), Arg::Text(account_id), Arg::Text(old)];
        Ok(self.db.execute(&self.sql.replace_password, &args).await? == 1)
    }

    async fn create_session(&self, s: &Session) -> StoreResult<()> {
        let mut args = vec![
            Arg::Text(&s.id),
            Arg::Time(s.expires_at),
            Arg::Text(&s.token),
            Arg::Time(s.created_at),
            Arg::Time(s.updated_at),
            Arg::Text(&s.ip_address),
            Arg::Text(&s.user_agent),
            Arg::Text(&s.user_id),
        ];
        args.extend(field_args(&self.session_fields, &s.extra, &s.hidden));
        self.db.execute(&self.sql.insert_session, &args).await.map(|_| ())
    }

    async fn update_session_fields(&self, token: &str, values: &Values, now: DateTime<Utc>) -> StoreResult<Option<(Session, User)>> {
        let fields: Vec<_> = values.0.iter().filter_map(|(k, v)| self.session_fields.get(k).map(|f| (f, v))).collect();
        let mut args: Vec<Arg<'_>> = fields.iter().map(|(f, v)| Arg::Field(v, schema::col_type(f.def.ty))).collect();
        args.extend([Arg::Time(now), Arg::Text(token)]);
        let sql = render_update_session(&self.db, &self.names, &fields.iter().map(|(f, _)| *f).collect::<Vec<_>>());
        if self.db.execute(&sql, &args).await? == 0 {
            return Ok(None);
        }
        self.find_session(token).await
    }

    async fn find_sessions(&self, tokens: &[&str]) -> StoreResult<Vec<(Session, User)>> {
        let mut found = Vec::with_capacity(tokens.len());
        let max = SESSION_BATCHES[SESSION_BATCHES.len() - 1];
        for chunk in tokens.chunks(max) {
            // The smallest prepared statement that fits; spare placeholders repeat the last token.
            let slot = SESSION_BATCHES.iter().position(|&k| k >= chunk.len()).unwrap_or(SESSION_BATCHES.len() - 1);
            let Some(&last) = chunk.last() else { continue };
            let args: Vec<Arg<'_>> = (0..SESSION_BATCHES[slot]).map(|i| Arg::Text(chunk.get(i).copied().unwrap_or(last))).collect();
            let user_at = SESSION.len() + self.session_fields.len();
            let rows = self.db.fetch_all(&self.sql.sessions_with_user[slot], &args, |r| {
                Ok((session_row(r, 0, &self.session_fields)?, user_row(r, user_at, &self.user_fields)?))
            });
            found.extend(rows.await?);
        }
        Ok(found)
    }

    async fn touch_session(&self, token: &str, expires_at: DateTime<Utc>, now: DateTime<Utc>) -> StoreResult<bool> {
        let args = [Arg::Time(expires_at), Arg::Time(now), Arg::Text(token)];
        Ok(self.db.execute(&self.sql.touch_session, &args).await? > 0)
    }

    async fn list_sessions(&self, user_id: &str) -> StoreResult<Vec<Session>> {
        self.db.fetch_all(&self.sql.sessions_of_user, &[Arg::Text(user_id)], |r| session_row(r, 0, &self.session_fields)).await
    }

    async fn delete_session(&self, token: &str) -> StoreResult<()> {
        self.db.execute(&self.sql.delete_session, &[Arg::Text(token)]).await.map(|_| ())
    }

    async fn delete_user_sessions(&self, user_id: &str, keep: Option<&str>) -> StoreResult<()> {
        match keep {
            Some(k) => self.db.execute(&self.sql.delete_user_sessions_except, &[Arg::Text(user_id), Arg::Text(k)]).await,
            None => self.db.execute(&self.sql.delete_user_sessions, &[Arg::Text(user_id)]).await,
        }
        .map(|_| ())
    }

    async fn create_verification(&self, v: &Verification) -> StoreResult<()> {
        let args = [
            Arg::Text(&v.id),
            Arg::Text(&v.identifier),
            Arg::Text(&v.value),
            Arg::Time(v.expires_at),
            Arg::Time(v.created_at),
            Arg::Time(v.updated_at),
        ];
        self.db.execute(&self.sql.insert_verification, &args).await.map(|_| ())
    }

    async fn find_verification(&self, identifier: &str) -> StoreResult<Option<Verification>> {
        self.db.fetch_optional(&self.sql.verification_by_identifier, &[Arg::Text(identifier)], verification_row).await
    }

    async fn consume_verification(&self, id: &str) -> StoreResult<bool> {
        Ok(self.db.execute(&self.sql.delete_verification, &[Arg::Text(id)]).await? == 1)
    }

    async fn delete_expired_verifications(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        self.db.execute(&self.sql.delete_expired_verifications, &[Arg::Time(now)]).await
    }

    async fn list_pending_revocations(&self) -> StoreResult<Vec<PendingRevocation>> {
        self.db.fetch_all(&self.sql.all_pending_revocations, &[], pending_revocation_row).await
    }

    async fn create_pending_revocations(&self, rows: &[PendingRevocation]) -> StoreResult<()> {
        let stmts: Vec<(&str, Vec<Arg<'_>>)> = rows
            .iter()
            .map(|p| {
                let args = vec![
                    Arg::Text(&p.id),
                    Arg::OptText(p.token_hash.as_deref()),
                    Arg::OptText(p.token.as_deref()),
                    Arg::OptText(p.user_id.as_deref()),
                    Arg::OptTime(p.revoked_before),
                    Arg::Time(p.created_at),
                ];
                (self.sql.insert_pending_revocation.as_str(), args)
            })
            .collect();
        self.db.transaction(&stmts).await
    }

    async fn delete_pending_revocations(&self, ids: &[String]) -> StoreResult<()> {
        let stmts: Vec<(&str, Vec<Arg<'_>>)> =
            ids.iter().map(|id| (self.sql.delete_pending_revocation.as_str(), vec![Arg::Text(id)])).collect();
        self.db.transaction(&stmts).await
    }

    /// Over the capabilities' tables and the core four with their additional fields (the admin
    /// capability lists users with Better Auth's where clauses).
    fn adapter(&self, tables: Vec<Table>) -> Option<super::adapter::Adapter> {
        let mut all = self.core_tables();
        // Index declarations on another table's columns ([`Table::indexes_on`]) are no model.
        all.extend(tables.into_iter().filter(|t| !t.columns.is_empty()));
        Some(super::adapter::Adapter::new(self.db.clone(), self.names.clone(), all))
    }

    async fn ping(&self) -> StoreResult<()> {
        self.db.execute("select 1", &[]).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{PoolOptions, Store, StoreError};

    /// With uuid ids on PostgreSQL, an id from a request that is no UUID matches nothing (no
    /// failed statement, no 500), and a UUID in any case finds its row.
    #[tokio::test]
    async fn uuid_id_lookups_on_postgres_tolerate_malformed_ids() {
        let url = std::env::var("PORTCULLIS_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let db = Db::connect(&url, &PoolOptions::default()).await.unwrap();
        let suffix = crate::crypto::random_id(8).to_lowercase();
        let mut cfg = crate::config::SchemaConfig::default();
        for t in ["user", "session", "account", "verification"] {
            cfg.rename.insert(t.into(), format!("uuidt_{t}_{suffix}"));
        }
        let store = SqlStore::new(db.clone(), Names::new(cfg).with_generate_id(crate::config::GenerateId::Uuid));
        store.migrate(&[]).await.unwrap();
        let now = chrono::Utc::now();
        let user = User {
            id: crate::crypto::uuid_v4(),
            name: "U".into(),
            email: format!("u-{suffix}@example.com"),
            email_verified: false,
            image: None,
            created_at: now,
            updated_at: now,
            extra: Default::default(),
            hidden: Default::default(),
        };
        let account = Account::credential(crate::crypto::uuid_v4(), &user.id, "h".into(), now);
        let outcome = async {
            store.create_user(&user, Some(&account)).await?;
            let found = store.find_user_by_id(&user.id.to_uppercase()).await?.map(|u| u.id);
            let junk = (
                store.find_user_by_id("not-a-uuid").await?.is_none(),
                store.find_account_by_id("x' or '1'='1").await?.is_none(),
                !store.delete_account("123").await?,
                store.list_sessions("").await?.is_empty(),
            );
            let account_back = store.find_account_by_id(&account.id).await?.map(|a| (a.id, a.user_id));
            Ok::<_, StoreError>((found, junk, account_back))
        }
        .await;
        for t in ["session", "account", "verification", "user"] {
            db.execute(&format!("drop table if exists \"uuidt_{t}_{suffix}\""), &[]).await.unwrap();
        }
        db.close().await;
        let (found, junk, account_back) = outcome.unwrap();
        assert_eq!(found.as_deref(), Some(user.id.as_str()), "read back as canonical lower-case text");
        assert_eq!(junk, (true, true, true, true));
        assert_eq!(account_back, Some((account.id.clone(), user.id.clone())));
    }

    #[tokio::test]
    async fn migrate_adds_additional_field_columns_to_new_and_existing_tables() {
        let path = std::env::temp_dir().join(format!("portcullis-fields-{}.db", crate::crypto::random_id(12)));
        let db = Db::connect(&format!("sqlite://{}?mode=rwc", path.display()), &PoolOptions::default()).await.unwrap();
        SqlStore::new(db.clone(), Names::default()).migrate(&[]).await.unwrap();
        let fields: crate::fields::FieldSet = toml::from_str(
            r#"
            theme = { type = "string", required = false }
            blocklist = { type = "string[]", required = false }
            quota = { type = "number", field_name = "monthly_quota" }
            "#,
        )
        .unwrap();
        let session: crate::fields::FieldSet = toml::from_str(r#"deviceName = { type = "string", required = false }"#).unwrap();
        let store = SqlStore::new(db.clone(), Names::default()).with_fields(fields, session);
        let applied = store.migrate(&[]).await.unwrap();
        assert_eq!(applied.len(), 4, "{applied:?}");
        let cols = |t: &'static str| {
            let db = db.clone();
            async move {
                db.fetch_all("select name, type from pragma_table_info(?1)", &[Arg::Text(t)], |r| {
                    Ok(format!("{} {}", r.text(0)?, r.text(1)?))
                })
                .await
                .unwrap()
            }
        };
        let user = cols("user").await;
        assert_eq!(user[7..], ["theme TEXT", "blocklist TEXT", "monthly_quota INTEGER"]);
        assert!(cols("session").await.contains(&"deviceName TEXT".to_string()));
        assert!(store.migrate(&[]).await.unwrap().is_empty(), "idempotent");
        db.close().await;
        for ext in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
        }
    }
}
