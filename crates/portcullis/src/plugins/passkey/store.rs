//! `passkey` rows through the generic adapter, in Better Auth's columns and JSON (its answers are
//! these rows as they are, in schema order with the id last).

use crate::app::Auth;
use crate::store::adapter::{Query, Where};
use crate::store::StoreResult;
use serde::{Deserialize, Serialize};

const MODEL: &str = "passkey";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasskeyRow {
    pub name: Option<String>,
    /// Standard base64 (padded) of the COSE public key.
    pub public_key: String,
    pub user_id: String,
    /// Base64url without padding, as the authenticator gave it.
    #[serde(rename = "credentialID")]
    pub credential_id: String,
    pub counter: i64,
    /// `singleDevice` or `multiDevice` (backup eligible).
    pub device_type: String,
    pub backed_up: bool,
    /// Comma-joined (`internal,hybrid`); `""` when the browser gave none.
    pub transports: Option<String>,
    pub created_at: Option<String>,
    pub aaguid: Option<String>,
    pub id: String,
}

pub async fn create(auth: &Auth, row: &PasskeyRow) -> StoreResult<PasskeyRow> {
    auth.adapter()?.create_as(MODEL, row).await
}

pub async fn of_user(auth: &Auth, user_id: &str) -> StoreResult<Vec<PasskeyRow>> {
    let q = Query { filter: vec![Where::eq("userId", user_id)], sort_by: Some(("createdAt".into(), false)), ..Default::default() };
    auth.adapter()?.find_many_as(MODEL, &q).await
}

pub async fn by_id(auth: &Auth, id: &str) -> StoreResult<Option<PasskeyRow>> {
    first(auth, Where::eq("id", id)).await
}

pub async fn by_credential_id(auth: &Auth, credential_id: &str) -> StoreResult<Option<PasskeyRow>> {
    first(auth, Where::eq("credentialID", credential_id)).await
}

async fn first(auth: &Auth, w: Where) -> StoreResult<Option<PasskeyRow>> {
    let q = Query { filter: vec![w], limit: Some(1), ..Default::default() };
    Ok(auth.adapter()?.find_many_as(MODEL, &q).await?.into_iter().next())
}

/// Sets the counter only if it still holds `from`: two sign-ins racing with the same assertion
/// cannot both move it. False when the row changed (or went) in between.
pub async fn advance_counter(auth: &Auth, id: &str, from: i64, to: i64) -> StoreResult<bool> {
    let mut data = serde_json::Map::new();
    data.insert("counter".into(), to.into());
    let n = auth.adapter()?.update_many(MODEL, &[Where::eq("id", id), Where::eq("counter", from)], data).await?;
    Ok(n > 0)
}

pub async fn rename(auth: &Auth, id: &str, name: &str) -> StoreResult<Option<PasskeyRow>> {
    let mut data = serde_json::Map::new();
    data.insert("name".into(), name.into());
    auth.adapter()?.update(MODEL, &[Where::eq("id", id)], data).await?;
    by_id(auth, id).await
}

pub async fn delete(auth: &Auth, id: &str) -> StoreResult<()> {
    auth.adapter()?.delete(MODEL, &[Where::eq("id", id)]).await
}
