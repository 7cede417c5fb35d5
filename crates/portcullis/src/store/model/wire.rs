//! JSON of [`User`] and [`Session`] as Better Auth writes it: core keys in its order, the returned
//! additional fields after `updatedAt` in declaration order, `id` last. Reading accepts any key
//! order; keys that are not core fields are kept, in order, as additional fields (a cookie cache or
//! Redis entry written by Better Auth with extra fields reads back whole).
//!
//! Must never: drop or reorder additional fields, or fail on a key it does not know.

use super::{iso_ms, Session, User, Values};
use chrono::{DateTime, Utc};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

struct Iso<'a>(&'a DateTime<Utc>);
impl Serialize for Iso<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        iso_ms::serialize(self.0, s)
    }
}

struct IsoIn(DateTime<Utc>);
impl<'de> Deserialize<'de> for IsoIn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        iso_ms::deserialize(d).map(IsoIn)
    }
}

impl Serialize for User {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(7 + self.extra.0.len()))?;
        m.serialize_entry("name", &self.name)?;
        m.serialize_entry("email", &self.email)?;
        m.serialize_entry("emailVerified", &self.email_verified)?;
        m.serialize_entry("image", &self.image)?;
        m.serialize_entry("createdAt", &Iso(&self.created_at))?;
        m.serialize_entry("updatedAt", &Iso(&self.updated_at))?;
        self.extra.serialize_entries(&mut m)?;
        m.serialize_entry("id", &self.id)?;
        m.end()
    }
}

impl Serialize for Session {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(8 + self.extra.0.len()))?;
        m.serialize_entry("expiresAt", &Iso(&self.expires_at))?;
        m.serialize_entry("token", &self.token)?;
        m.serialize_entry("createdAt", &Iso(&self.created_at))?;
        m.serialize_entry("updatedAt", &Iso(&self.updated_at))?;
        m.serialize_entry("ipAddress", &self.ip_address)?;
        m.serialize_entry("userAgent", &self.user_agent)?;
        m.serialize_entry("userId", &self.user_id)?;
        self.extra.serialize_entries(&mut m)?;
        m.serialize_entry("id", &self.id)?;
        m.end()
    }
}

/// A user or session as Better Auth answers get-session from the cookie cache: it reads the cookie
/// through its cache schema (zod), which puts the schema's core keys first, in the schema's order
/// (`id`, `createdAt`, `updatedAt`, then the table's own), and keeps every other key after them in
/// the cookie's order. The database path answers in the row order above instead.
pub struct FromCache<'a, T>(pub &'a T);

impl Serialize for FromCache<'_, User> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let u = self.0;
        let mut m = s.serialize_map(Some(7 + u.extra.0.len()))?;
        m.serialize_entry("id", &u.id)?;
        m.serialize_entry("createdAt", &Iso(&u.created_at))?;
        m.serialize_entry("updatedAt", &Iso(&u.updated_at))?;
        m.serialize_entry("email", &u.email)?;
        m.serialize_entry("emailVerified", &u.email_verified)?;
        m.serialize_entry("name", &u.name)?;
        m.serialize_entry("image", &u.image)?;
        u.extra.serialize_entries(&mut m)?;
        m.end()
    }
}

impl Serialize for FromCache<'_, Session> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let x = self.0;
        let mut m = s.serialize_map(Some(8 + x.extra.0.len()))?;
        m.serialize_entry("id", &x.id)?;
        m.serialize_entry("createdAt", &Iso(&x.created_at))?;
        m.serialize_entry("updatedAt", &Iso(&x.updated_at))?;
        m.serialize_entry("userId", &x.user_id)?;
        m.serialize_entry("expiresAt", &Iso(&x.expires_at))?;
        m.serialize_entry("token", &x.token)?;
        m.serialize_entry("ipAddress", &x.ip_address)?;
        m.serialize_entry("userAgent", &x.user_agent)?;
        x.extra.serialize_entries(&mut m)?;
        m.end()
    }
}

fn need<T, E: de::Error>(v: Option<T>, name: &'static str) -> Result<T, E> {
    v.ok_or_else(|| de::Error::missing_field(name))
}

impl<'de> Deserialize<'de> for User {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = User;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a user object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<User, A::Error> {
                let (mut name, mut email, mut verified, mut image, mut created, mut updated, mut id) =
                    (None, None, None, None, None, None, None);
                let mut extra = Values::default();
                while let Some(k) = m.next_key::<String>()? {
                    match k.as_str() {
                        "name" => name = Some(m.next_value::<String>()?),
                        "email" => email = Some(m.next_value::<String>()?),
                        "emailVerified" => verified = Some(m.next_value::<bool>()?),
                        "image" => image = m.next_value::<Option<String>>()?,
                        "createdAt" => created = Some(m.next_value::<IsoIn>()?.0),
                        "updatedAt" => updated = Some(m.next_value::<IsoIn>()?.0),
                        "id" => id = Some(m.next_value::<String>()?),
                        _ => {
                            let v = m.next_value::<Value>()?;
                            extra.0.push((k, v));
                        }
                    }
                }
                Ok(User {
                    name: need(name, "name")?,
                    email: need(email, "email")?,
                    email_verified: need(verified, "emailVerified")?,
                    image,
                    created_at: need(created, "createdAt")?,
                    updated_at: need(updated, "updatedAt")?,
                    extra,
                    hidden: Values::default(),
                    id: need(id, "id")?,
                })
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> Deserialize<'de> for Session {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Session;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a session object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Session, A::Error> {
                let (mut expires, mut token, mut created, mut updated, mut user_id, mut id) = (None, None, None, None, None, None);
                let (mut ip, mut agent) = (None, None);
                let mut extra = Values::default();
                while let Some(k) = m.next_key::<String>()? {
                    match k.as_str() {
                        "expiresAt" => expires = Some(m.next_value::<IsoIn>()?.0),
                        "token" => token = Some(m.next_value::<String>()?),
                        "createdAt" => created = Some(m.next_value::<IsoIn>()?.0),
                        "updatedAt" => updated = Some(m.next_value::<IsoIn>()?.0),
                        // Better Auth writes "" when unknown; null reads as "" too.
                        "ipAddress" => ip = m.next_value::<Option<String>>()?,
                        "userAgent" => agent = m.next_value::<Option<String>>()?,
                        "userId" => user_id = Some(m.next_value::<String>()?),
                        "id" => id = Some(m.next_value::<String>()?),
                        _ => {
                            let v = m.next_value::<Value>()?;
                            extra.0.push((k, v));
                        }
                    }
                }
                Ok(Session {
                    expires_at: need(expires, "expiresAt")?,
                    token: need(token, "token")?,
                    created_at: need(created, "createdAt")?,
                    updated_at: need(updated, "updatedAt")?,
                    ip_address: ip.unwrap_or_default(),
                    user_agent: agent.unwrap_or_default(),
                    user_id: need(user_id, "userId")?,
                    extra,
                    hidden: Values::default(),
                    id: need(id, "id")?,
                })
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A get-session user as Better Auth 1.7.24 answers it with additional fields (the peer with
    /// FIELDS=on, plugin fields left out).
    const BA_USER: &str = r#"{"name":"F","email":"f@example.com","emailVerified":false,"image":null,"createdAt":"2026-12-04T14:23:50.349Z","updatedAt":"2026-12-04T14:23:50.349Z","theme":"dark","showWeekends":true,"blocklist":["a","b"],"plannings":null,"colors":{"x":1},"birthday":"2000-01-02T00:00:00.000Z","monthlyCreditsQuota":100,"id":"9ysDJsas75v02jgsY7urJZ8OJsGtnlSa"}"#;
    const BA_SESSION: &str = r#"{"expiresAt":"2026-12-11T14:23:50.359Z","token":"cMKcSHh59KMeikZf78qvmK6yByiHN4pF","createdAt":"2026-12-04T14:23:50.359Z","updatedAt":"2026-12-04T14:23:50.359Z","ipAddress":"","userAgent":"curl/7.88.1","userId":"9ysDJsas75v02jgsY7urJZ8OJsGtnlSa","deviceName":null,"id":"bZ8enB6PQfRv4C9xBL7C10hb0BBNpH9Z"}"#;

    #[test]
    fn better_auth_json_round_trips_byte_for_byte() {
        let u: User = serde_json::from_str(BA_USER).unwrap();
        assert_eq!(u.extra.0.len(), 7);
        assert_eq!(u.extra.get("colors"), Some(&serde_json::json!({"x": 1})));
        assert_eq!(serde_json::to_string(&u).unwrap(), BA_USER);
        let s: Session = serde_json::from_str(BA_SESSION).unwrap();
        assert_eq!(serde_json::to_string(&s).unwrap(), BA_SESSION);
    }

    #[test]
    fn from_cache_order_is_better_auths_cached_answer() {
        // Better Auth 1.7.24 (the peer, FIELDS=on) answering get-session from its cookie cache,
        // for the session and user of BA_SESSION / BA_USER.
        let u: User = serde_json::from_str(BA_USER).unwrap();
        let s: Session = serde_json::from_str(BA_SESSION).unwrap();
        assert_eq!(
            serde_json::to_string(&FromCache(&s)).unwrap(),
            r#"{"id":"bZ8enB6PQfRv4C9xBL7C10hb0BBNpH9Z","createdAt":"2026-12-04T14:23:50.359Z","updatedAt":"2026-12-04T14:23:50.359Z","userId":"9ysDJsas75v02jgsY7urJZ8OJsGtnlSa","expiresAt":"2026-12-11T14:23:50.359Z","token":"cMKcSHh59KMeikZf78qvmK6yByiHN4pF","ipAddress":"","userAgent":"curl/7.88.1","deviceName":null}"#
        );
        assert_eq!(
            serde_json::to_string(&FromCache(&u)).unwrap(),
            r#"{"id":"9ysDJsas75v02jgsY7urJZ8OJsGtnlSa","createdAt":"2026-12-04T14:23:50.349Z","updatedAt":"2026-12-04T14:23:50.349Z","email":"f@example.com","emailVerified":false,"name":"F","image":null,"theme":"dark","showWeekends":true,"blocklist":["a","b"],"plannings":null,"colors":{"x":1},"birthday":"2000-01-02T00:00:00.000Z","monthlyCreditsQuota":100}"#
        );
    }

    #[test]
    fn json_values_keep_their_key_order() {
        // PostgreSQL's jsonb hands keys back shortest first; Better Auth answers them in that order
        // (and SQLite's text in the order written), so a value must not come back sorted.
        let u: User =
            serde_json::from_str(&BA_USER.replace(r#"{"x":1}"#, r#"{"td":1,"nested":{"z":null,"a":[2.5]},"lecture":"é"}"#)).unwrap();
        assert!(serde_json::to_string(&u).unwrap().contains(r#""colors":{"td":1,"nested":{"z":null,"a":[2.5]},"lecture":"é"}"#));
    }

    #[test]
    fn any_key_order_and_null_addresses_read() {
        let s: Session = serde_json::from_str(
            r#"{"id":"i","userId":"u","ipAddress":null,"token":"t","expiresAt":"2026-01-01T00:00:00.000Z","createdAt":"2026-01-01T00:00:00.000Z","updatedAt":"2026-01-01T00:00:00.000Z"}"#,
        )
        .unwrap();
        assert_eq!(s.ip_address, "");
        assert!(serde_json::from_str::<User>(r#"{"name":"x"}"#).unwrap_err().to_string().contains("missing field"));
    }
}
