//! The rows Portcullis keeps, in Better Auth's shapes.
//!
//! Field order is wire order: serde emits keys in declaration order and Better Auth's clients (and
//! its compact cookie cache signature) see `name,email,emailVerified,image,createdAt,updatedAt,id`
//! for a user and `expiresAt,token,createdAt,updatedAt,ipAddress,userAgent,userId,id` for a session.
//! Timestamps are serialised as ISO-8601 UTC with exactly three fractional digits.

pub use crate::fields::Values;
use chrono::{DateTime, Utc};

/// ISO-8601 with exactly millisecond precision and a `Z`, as JS `Date.toISOString()`.
pub mod iso_ms {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn format(t: &DateTime<Utc>) -> String {
        t.to_rfc3339_opts(SecondsFormat::Millis, true)
    }
    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(t))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s).map(|t| t.with_timezone(&Utc)).map_err(serde::de::Error::custom)
    }
    pub mod option {
        use chrono::{DateTime, Utc};
        use serde::{Deserialize, Deserializer, Serializer};
        pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => s.serialize_str(&super::format(t)),
                None => s.serialize_none(),
            }
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
            let s = Option::<String>::deserialize(d)?;
            s.map(|s| DateTime::parse_from_rfc3339(&s).map(|t| t.with_timezone(&Utc)).map_err(serde::de::Error::custom)).transpose()
        }
    }
}

/// Truncates to milliseconds: the precision Better Auth stores and emits.
pub fn ms(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

mod wire;
pub use wire::FromCache;

/// A user row. Serialised (by hand, `wire.rs`) in Better Auth's key order, with the returned
/// additional fields between `updatedAt` and `id`.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub name: String,
    pub email: String,
    pub email_verified: bool,
    pub image: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The returned additional fields (`user.additional_fields`, capabilities' fields), in wire
    /// order.
    pub extra: Values,
    /// The additional fields with `returned = false`: stored and read, never serialised.
    pub hidden: Values,
    pub id: String,
}

/// A session row, serialised in Better Auth's key order like [`User`].
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub expires_at: DateTime<Utc>,
    pub token: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// `""` when unknown (Better Auth writes an empty string, not null).
    pub ip_address: String,
    pub user_agent: String,
    pub user_id: String,
    /// The returned additional fields (`session.additional_fields`), in wire order.
    pub extra: Values,
    /// The additional fields with `returned = false`: stored and read, never serialised.
    pub hidden: Values,
    pub id: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    pub id: String,
    pub account_id: String,
    pub provider_id: String,
    pub user_id: String,
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
    pub access_token_expires_at: Option<DateTime<Utc>>,
    pub refresh_token_expires_at: Option<DateTime<Utc>>,
    pub scope: Option<String>,
    pub password: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The provider id of the email/password account; its `accountId` is the user id.
pub const CREDENTIAL_PROVIDER: &str = "credential";

#[derive(Debug, Clone, PartialEq)]
pub struct Verification {
    pub id: String,
    pub identifier: String,
    pub value: String,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A revocation that could not reach secondary storage yet (the session layer's
/// `pendingRevocation` table, see `session::revocations`): one session (`token_hash`, and `token`
/// encrypted under the server secret), or every session of `user_id` created before
/// `revoked_before`.
#[derive(Clone, PartialEq)]
pub struct PendingRevocation {
    pub id: String,
    /// Hex SHA-256 of the session token.
    pub token_hash: Option<String>,
    /// The session token, encrypted (`symmetricEncrypt` with a purpose key); never stored in clear.
    pub token: Option<String>,
    pub user_id: Option<String>,
    pub revoked_before: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for PendingRevocation {
    // The encrypted token stays out of logs too.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingRevocation")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("revoked_before", &self.revoked_before)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// A partial update of a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub name: Option<String>,
    pub image: Option<Option<String>>,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    /// Additional fields to set (undeclared names are ignored by the store).
    pub extra: Values,
}

impl UserPatch {
    /// The wire names of the fields this patch sets, core first (for events and the audit log).
    pub fn changed_fields(&self) -> Vec<String> {
        let core = [
            ("name", self.name.is_some()),
            ("image", self.image.is_some()),
            ("email", self.email.is_some()),
            ("emailVerified", self.email_verified.is_some()),
        ];
        let core = core.into_iter().filter(|(_, set)| *set).map(|(n, _)| n.to_string());
        core.chain(self.extra.0.iter().map(|(n, _)| n.clone())).collect()
    }
}

impl Account {
    /// The granted scopes: `scope` is stored comma-separated (Better Auth's format); entries are
    /// trimmed and empty ones dropped.
    pub fn scopes(&self) -> Vec<String> {
        self.scope.as_deref().unwrap_or("").split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
    }

    /// The email/password account of a user: `providerId = "credential"`, `accountId = userId`.
    pub fn credential(id: String, user_id: &str, password_hash: String, now: DateTime<Utc>) -> Self {
        Self {
            id,
            account_id: user_id.to_string(),
            provider_id: CREDENTIAL_PROVIDER.into(),
            user_id: user_id.to_string(),
            access_token: None,
            refresh_token: None,
            id_token: None,
            access_token_expires_at: None,
            refresh_token_expires_at: None,
            scope: None,
            password: Some(password_hash),
            created_at: now,
            updated_at: now,
        }
    }
}
