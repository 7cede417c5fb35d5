//! Writes imported rows into the target through the generic adapter, one batch at a time, so that
//! a re-run imports nothing twice and an interrupted run, run again, finishes the job.
//!
//! Each row is keyed on its id, then on a natural key: a user's e-mail (lowercased), an account's
//! provider identity (`providerId` + `accountId`; for the password account, `credential` + the
//! user). A row whose key is already in the target is skipped, or overwritten with
//! `--on-conflict update`. A user matched only by e-mail keeps its target id, and the source rows
//! that belong to it (accounts, sessions, members, …) are written against that id, when both
//! e-mails are verified (or `merge_unverified`): otherwise those rows are refused, since adding a
//! password, a social account or a session to whoever registered an unverified address is how
//! accounts are pre-hijacked. New rows of a
//! batch are inserted in one transaction; if it fails, row by row, so one bad row is refused with
//! its reason and the rest are imported.
//!
//! Must never: write in a dry run, put a value (hash, token) into a refusal reason, or write a row
//! whose password hash cannot be verified here (it would lock its user out).

use super::report::Report;
use super::{OnConflict, Options};
use crate::store::adapter::{Adapter, Op, Query, Row, Where};
use crate::store::schema::Table;
use crate::store::StoreError;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// One source row and where it was read (`line 4`, `item 2`, `id abc`).
pub struct Item {
    pub at: String,
    pub row: Row,
}

pub(super) struct Writer<'a> {
    target: &'a Adapter,
    opts: &'a Options,
    /// Source user id → target user id for users matched by e-mail, and whether rows may be added
    /// to that user (both e-mails verified, or `merge_unverified`).
    user_ids: HashMap<String, (String, bool)>,
    /// Ids refused per table: rows that reference one are refused too.
    refused: HashMap<String, HashSet<String>>,
    /// Keys (id, and `email:` for users) seen in this run per table, with where: duplicates in
    /// the source are refused, the same way in a dry run as in a real one.
    seen: HashMap<String, HashMap<String, String>>,
    pub report: Report,
}

fn text<'r>(row: &'r Row, field: &str) -> Option<&'r str> {
    row.get(field).and_then(Value::as_str)
}

/// A row's key besides its id: a user's e-mail (lowercased), an account's provider identity (for
/// the password account, its user).
fn natural_key(table: &str, row: &Row) -> Option<String> {
    match table {
        "user" => text(row, "email").map(str::to_lowercase),
        "account" => {
            let provider = text(row, "providerId")?;
            let who = if provider == "credential" { text(row, "userId")? } else { text(row, "accountId")? };
            Some(format!("{provider}\u{0}{who}"))
        }
        _ => None,
    }
}

impl<'a> Writer<'a> {
    pub fn new(target: &'a Adapter, opts: &'a Options, report: Report) -> Self {
        Self { target, opts, user_ids: HashMap::new(), refused: HashMap::new(), seen: HashMap::new(), report }
    }

    /// Counts a row read from the source and refused before it reached a table's batch (a line
    /// that does not parse, a hash that is not recognised).
    pub fn refuse_read(&mut self, table: &str, at: &str, id: Option<&str>, reason: impl Into<String>) {
        self.report.table(table).read += 1;
        self.refuse(table, at, id, reason);
    }

    fn refuse(&mut self, table: &str, at: &str, id: Option<&str>, reason: impl Into<String>) {
        self.report.table(table).refuse(at, reason);
        if let Some(id) = id {
            self.refused.entry(table.to_string()).or_default().insert(id.to_string());
        }
    }

    /// Imports one batch of `table`'s rows.
    pub async fn write(&mut self, table: &Table, items: Vec<Item>) -> Result<(), StoreError> {
        let name = table.name;
        let mut ready = Vec::with_capacity(items.len());
        let mut unmerged = HashMap::new();
        for mut item in items {
            self.report.table(name).read += 1;
            match self.prepare(table, &mut item) {
                Ok(merge) => {
                    if let Some(user) = merge {
                        unmerged.insert(item.at.clone(), user);
                    }
                    ready.push(item)
                }
                Err(reason) => {
                    // A duplicate of a row already taken keeps that row's id usable.
                    let id = text(&item.row, "id").map(str::to_string);
                    let taken = id.as_ref().is_some_and(|id| self.seen.get(name).is_some_and(|s| s.contains_key(&format!("id:{id}"))));
                    self.refuse(name, &item.at, id.as_deref().filter(|_| !taken), reason);
                }
            }
        }
        let found = self.lookup(table, &ready).await?;
        let mut new = Vec::new();
        for (item, existing) in ready.into_iter().zip(found) {
            let source_id = text(&item.row, "id").unwrap_or_default().to_string();
            let Some(target_id) = existing else {
                if let Some(user) = unmerged.get(&item.at) {
                    let reason = format!(
                        "its user matched existing user {user} by e-mail only, and one of the two e-mails is not verified: not added to that user (--merge-unverified adds it)"
                    );
                    self.refuse(name, &item.at, Some(&source_id), reason);
                } else {
                    new.push(item);
                }
                continue;
            };
            let mut merge = true;
            if name == "user" && source_id != target_id {
                merge = self.opts.merge_unverified
                    || (item.row.get("emailVerified") == Some(&Value::Bool(true)) && self.verified(&target_id).await?);
                self.user_ids.insert(source_id.clone(), (target_id.clone(), merge));
            }
            match self.opts.on_conflict {
                OnConflict::Skip => self.report.table(name).skipped += 1,
                // Overwriting a user matched by an unverified e-mail would hand the source's
                // profile (and its verified flag) to whoever registered that address.
                OnConflict::Update if !merge => {
                    let reason = format!(
                        "matched existing user {target_id} by e-mail only, and one of the two e-mails is not verified: not updated (--merge-unverified updates it)"
                    );
                    self.refuse(name, &item.at, None, reason);
                }
                OnConflict::Update => {
                    let mut data = item.row;
                    data.remove("id");
                    if !self.opts.dry_run {
                        if let Err(e) = self.target.update(name, &[Where::eq("id", target_id.as_str())], data).await {
                            self.refuse(name, &item.at, Some(&source_id), e.to_string());
                            continue;
                        }
                    }
                    self.report.table(name).updated += 1;
                }
            }
        }
        self.insert(name, new).await
    }

    /// Whether the target user `id` has a verified e-mail.
    async fn verified(&self, id: &str) -> Result<bool, StoreError> {
        let user = self.target.find_one("user", &[Where::eq("id", id)]).await?;
        Ok(user.and_then(|u| u.get("emailVerified").and_then(Value::as_bool)).unwrap_or(false))
    }

    /// Checks and normalises one row: an id, no duplicate in the source, references remapped to
    /// users matched by e-mail and not to a refused row, a user's e-mail lowercased, a password
    /// hash in a format verified here. `Some(user)` when the row belongs to a user matched by
    /// e-mail that it may not be added to (it is still looked up there, to be skipped if present).
    fn prepare(&mut self, table: &Table, item: &mut Item) -> Result<Option<String>, String> {
        let name = table.name;
        let row = &mut item.row;
        let id = text(row, "id").filter(|s| !s.is_empty()).ok_or("no id")?.to_string();
        let mut unmerged = None;
        for c in &table.columns {
            let Some(r) = &c.references else { continue };
            let Some(v) = text(row, &c.name).map(str::to_string) else { continue };
            if let Some((to, merge)) = self.user_ids.get(&v).filter(|_| r.table == "user") {
                if !merge {
                    unmerged = Some(to.clone());
                }
                row.insert(c.name.to_string(), Value::String(to.clone()));
                // A password account's accountId is its user's id.
                if name == "account" && text(row, "providerId") == Some("credential") && text(row, "accountId") == Some(&v) {
                    row.insert("accountId".into(), Value::String(to.clone()));
                }
            }
            if self.refused.get(r.table.as_ref()).is_some_and(|s| s.contains(&v)) {
                return Err(format!("its {} ({v}) was refused", r.table));
            }
        }
        let mut keys = vec![format!("id:{id}")];
        if name == "user" {
            let email = text(row, "email").map(|e| e.trim().to_lowercase()).unwrap_or_default();
            if email.is_empty() || !email.contains('@') || email.chars().any(char::is_whitespace) {
                return Err("missing or invalid e-mail".into());
            }
            keys.push(format!("email:{email}"));
            row.insert("email".into(), Value::String(email));
        }
        if name == "account" {
            if let Some(hash) = text(row, "password") {
                crate::crypto::password::hash_format(hash).map_err(|e| format!("password hash not usable here ({e})"))?;
            }
        }
        let seen = self.seen.entry(name.to_string()).or_default();
        if let Some(first) = keys.iter().find_map(|k| seen.get(k)) {
            return Err(format!("duplicate of {first} in the source"));
        }
        for k in keys {
            seen.insert(k, item.at.clone());
        }
        Ok(unmerged)
    }

    /// The target id each row matches, if any: by id, then by natural key (one query each per batch).
    async fn lookup(&self, table: &Table, items: &[Item]) -> Result<Vec<Option<String>>, StoreError> {
        let name = table.name;
        let ids: Vec<Value> = items.iter().filter_map(|i| i.row.get("id").cloned()).collect();
        let by_id: HashSet<String> = self.ids_by(name, "id", ids, vec![]).await?.into_values().collect();
        let rest: Vec<&Item> = items.iter().filter(|i| !text(&i.row, "id").is_some_and(|id| by_id.contains(id))).collect();
        let values = |field: &str, credential: Option<bool>| -> Vec<Value> {
            rest.iter()
                .filter(|i| credential.is_none_or(|c| (text(&i.row, "providerId") == Some("credential")) == c))
                .filter_map(|i| i.row.get(field).cloned())
                .collect()
        };
        let mut by_key = HashMap::new();
        if name == "user" {
            by_key = self.ids_by("user", "email", values("email", None), vec![]).await?;
        } else if name == "account" {
            let credential = vec![Where::eq("providerId", "credential")];
            by_key = self.ids_by("account", "userId", values("userId", Some(true)), credential).await?;
            let others = vec![Where::new("providerId", Op::Ne, "credential")];
            by_key.extend(self.ids_by("account", "accountId", values("accountId", Some(false)), others).await?);
        }
        Ok(items
            .iter()
            .map(|item| {
                let id = text(&item.row, "id").unwrap_or_default();
                if by_id.contains(id) {
                    return Some(id.to_string());
                }
                let key = natural_key(name, &item.row)?;
                by_key.get(&key).cloned()
            })
            .collect())
    }

    /// The target rows of `model` whose `field` is one of `values` (and that match `also`), as
    /// their [`natural_key`] (for `id`: the id) → id.
    async fn ids_by(
        &self,
        model: &str,
        field: &str,
        values: Vec<Value>,
        mut also: Vec<Where>,
    ) -> Result<HashMap<String, String>, StoreError> {
        if values.is_empty() {
            return Ok(HashMap::new());
        }
        also.push(Where::new(field, Op::In, Value::Array(values)));
        let rows = self.target.find_many(model, &Query { filter: also, ..Query::default() }).await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let id = text(r, "id")?.to_string();
                let key = if field == "id" { id.clone() } else { natural_key(model, r)? };
                Some((key, id))
            })
            .collect())
    }

    /// Inserts new rows in one transaction, or one by one when it fails (to name the bad ones).
    async fn insert(&mut self, name: &str, items: Vec<Item>) -> Result<(), StoreError> {
        let n = items.len() as u64;
        if n == 0 {
            return Ok(());
        }
        if self.opts.dry_run {
            self.report.table(name).imported += n;
            return Ok(());
        }
        if self.target.create_many(name, items.iter().map(|i| i.row.clone()).collect()).await.is_ok() {
            self.report.table(name).imported += n;
            return Ok(());
        }
        for item in items {
            let id = text(&item.row, "id").map(str::to_string);
            match self.target.create(name, item.row).await {
                Ok(_) => self.report.table(name).imported += 1,
                Err(e) => self.refuse(name, &item.at, id.as_deref(), e.to_string()),
            }
        }
        Ok(())
    }
}
