//! `GET /admin/list-users`: search, filter, sort and pages over the user table, through the
//! generic adapter (both dialects), as Better Auth's `internalAdapter.listUsers` / `countTotalUsers`.

use super::errors;
use super::guard::Authorized;
use crate::app::Auth;
use crate::error::ApiResult;
use crate::fields::FieldType;
use crate::http::input::{Input, Obj, ValidQuery};
use crate::http::reply::Reply;
use crate::store::adapter::{Op, Query, Where};
use crate::store::model::User;
use axum::extract::State;
use serde_json::{json, Value};

crate::permission!(pub List { user: ["list"] } else errors::YOU_ARE_NOT_ALLOWED_TO_LIST_USERS);

const OPS: &[&str] = &Op::NAMES;

/// The query of list-users.
pub struct ListQuery {
    search_value: Option<String>,
    search_field: Option<String>,
    search_operator: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
    sort_by: Option<String>,
    sort_direction: Option<String>,
    filter_field: Option<String>,
    filter_value: Option<Value>,
    filter_operator: Option<String>,
}

impl Input for ListQuery {
    fn parse(o: &mut Obj<'_>) -> Self {
        let text = |v: Option<&Value>| v.map(|v| super::coerce(Some(v)));
        ListQuery {
            search_value: o.opt_string("searchValue"),
            search_field: o.opt_enum("searchField", &["email", "name"]),
            search_operator: o.opt_enum("searchOperator", &["contains", "starts_with", "ends_with"]),
            limit: text(o.raw("limit")),
            offset: text(o.raw("offset")),
            sort_by: o.opt_string("sortBy"),
            sort_direction: o.opt_enum("sortDirection", &["asc", "desc"]),
            filter_field: o.opt_string("filterField"),
            filter_value: o.raw("filterValue").cloned(),
            filter_operator: o.opt_enum("filterOperator", OPS),
        }
    }
}

/// A query-string value in the type of `field` (`"true"` for a boolean column, digits for a number).
fn typed(auth: &Auth, field: &str, v: Value) -> Value {
    let ty = match field {
        "emailVerified" => Some(FieldType::Boolean),
        f => auth.user_fields.get(f).map(|f| f.def.ty),
    };
    match (ty, v) {
        (Some(FieldType::Boolean), Value::String(s)) if s == "true" || s == "false" => Value::Bool(s == "true"),
        (Some(FieldType::Number), Value::String(s)) => {
            s.parse::<f64>().ok().and_then(serde_json::Number::from_f64).map_or(Value::String(s), Value::Number)
        }
        (Some(t), Value::Array(a)) => Value::Array(a.into_iter().map(|i| typed_item(t, i)).collect()),
        (_, v) => v,
    }
}

fn typed_item(t: FieldType, v: Value) -> Value {
    match (t, &v) {
        (FieldType::Number, Value::String(s)) => s.parse::<f64>().ok().and_then(serde_json::Number::from_f64).map_or(v, Value::Number),
        _ => v,
    }
}

/// `Number(x) || undefined`: a positive page bound, else none.
fn bound(v: Option<&str>) -> Option<u64> {
    v.and_then(|s| s.trim().parse::<f64>().ok()).filter(|n| *n > 0.0 && n.is_finite()).map(|n| n as u64)
}

/// `{users, total, limit?, offset?}`; `{users: [], total: 0}` when the query fails (an unknown
/// field, a database error), as Better Auth.
pub async fn list_users(State(auth): State<Auth>, ValidQuery(q): ValidQuery<ListQuery>, _: Authorized<List>) -> ApiResult<Reply> {
    let mut filter = Vec::new();
    if let Some(v) = q.search_value.filter(|v| !v.is_empty()) {
        let field = q.search_field.unwrap_or_else(|| "email".into());
        filter.push(Where::new(&field, Op::named(q.search_operator.as_deref().unwrap_or("contains")), v));
    }
    if let Some(v) = q.filter_value {
        let field = q.filter_field.unwrap_or_else(|| "email".into());
        let v = typed(&auth, &field, v);
        filter.push(Where::new(&field, Op::named(q.filter_operator.as_deref().unwrap_or("eq")), v));
    }
    let (limit, offset) = (bound(q.limit.as_deref()), bound(q.offset.as_deref()));
    let sort_by = q.sort_by.map(|f| (f, q.sort_direction.as_deref() == Some("desc")));
    let query = Query { filter, sort_by, limit, offset };
    let found = async {
        let adapter = auth.adapter()?;
        // The page and the total side by side, on two connections: a search's latency is one
        // index scan, not two in a row (BENCHMARKS.md, "Data at scale").
        let (rows, total) = tokio::join!(adapter.find_many("user", &query), adapter.count("user", &query.filter));
        let (rows, total) = (rows?, total?);
        let users = rows.into_iter().map(|r| to_user(&auth, r)).collect::<Result<Vec<_>, _>>()?;
        Ok::<_, crate::store::StoreError>((users, total))
    }
    .await;
    let Ok((users, total)) = found else { return Ok(Reply::json(&json!({"users": [], "total": 0}))) };
    let mut out = json!({ "users": users, "total": total });
    if let Some(l) = limit {
        out["limit"] = l.into();
    }
    if let Some(o) = offset {
        out["offset"] = o.into();
    }
    Ok(Reply::json(&out))
}

/// Users whose e-mail contains `search`, sorted by e-mail (the `portcullis admin list` command).
pub async fn find(auth: &Auth, search: Option<&str>, limit: u64) -> ApiResult<Vec<User>> {
    let filter = search.map(|s| vec![Where::new("email", Op::Contains, s.to_lowercase())]).unwrap_or_default();
    let query = Query { filter, sort_by: Some(("email".into(), false)), limit: Some(limit), offset: None };
    let rows = auth.adapter()?.find_many("user", &query).await?;
    Ok(rows.into_iter().map(|r| to_user(auth, r)).collect::<Result<Vec<_>, _>>()?)
}

/// An adapter row as a user: additional fields in declaration order, hidden ones apart.
fn to_user(auth: &Auth, row: crate::store::adapter::Row) -> Result<User, crate::store::StoreError> {
    let mut u: User = crate::store::adapter::from_row(row)?;
    let (extra, hidden) = auth.user_fields.complete(std::mem::take(&mut u.extra));
    u.extra = extra;
    u.hidden = hidden;
    Ok(u)
}
