//! Schemas of what the server answers, for [`super::Op::json`]: the core models as
//! `store::model::wire` writes them (components `User`, `Session`, `Account`), `Error` derived from
//! [`crate::error::ErrorBody`], and small builders for the rest.
//!
//! Open by design: users and sessions carry the capabilities' and the operator's additional fields,
//! so objects accept members beyond those listed. Must never: mark a member required that some
//! answer omits (schemathesis checks every answer against these).

use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Ref, Schema, SchemaFormat, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Components, ComponentsBuilder, KnownFormat, RefOr};
use utoipa::PartialSchema;

pub const COOKIE_SCHEME: &str = "sessionCookie";
pub const BEARER_SCHEME: &str = "bearerAuth";

/// The shared schemas and the security schemes (`bearerAuth` only with the bearer capability).
pub fn components(session_cookie: &str, bearer: bool) -> Components {
    let mut c = ComponentsBuilder::new()
        .schema("Error", crate::error::ErrorBody::schema())
        .schema("User", user_schema())
        .schema("Session", session_schema())
        .schema("Account", account_schema())
        .security_scheme(COOKIE_SCHEME, SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(session_cookie))));
    if bearer {
        c = c.security_scheme(BEARER_SCHEME, SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
    }
    c.build()
}

/// Either scheme signs the request in.
pub fn session_requirements(bearer: bool) -> Vec<SecurityRequirement> {
    let mut v = vec![SecurityRequirement::new(COOKIE_SCHEME, Vec::<String>::new())];
    if bearer {
        v.push(SecurityRequirement::new(BEARER_SCHEME, Vec::<String>::new()));
    }
    v
}

fn reference(name: &str) -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name(name))
}
pub fn error() -> RefOr<Schema> {
    reference("Error")
}
pub fn user() -> RefOr<Schema> {
    reference("User")
}
pub fn session() -> RefOr<Schema> {
    reference("Session")
}
pub fn account() -> RefOr<Schema> {
    reference("Account")
}

pub fn string() -> RefOr<Schema> {
    ObjectBuilder::new().schema_type(Type::String).into()
}
pub fn boolean() -> RefOr<Schema> {
    ObjectBuilder::new().schema_type(Type::Boolean).into()
}
pub fn number() -> RefOr<Schema> {
    ObjectBuilder::new().schema_type(Type::Number).into()
}
/// An ISO 8601 instant (`2026-01-01T00:00:00.000Z`).
pub fn date() -> RefOr<Schema> {
    ObjectBuilder::new().schema_type(Type::String).format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))).into()
}
/// Any JSON value (an answer whose shape depends on the configuration or a provider).
pub fn any() -> RefOr<Schema> {
    RefOr::T(any_value())
}
/// `{}`: no constraint (utoipa's `Schema::default()` is an object, not this).
pub fn any_value() -> Schema {
    ObjectBuilder::new().schema_type(utoipa::openapi::schema::SchemaType::AnyValue).into()
}
/// `s` or `null`.
pub fn nullable(s: RefOr<Schema>) -> RefOr<Schema> {
    OneOfBuilder::new().item(s).item(ObjectBuilder::new().schema_type(Type::Null)).into()
}
pub fn array(items: RefOr<Schema>) -> RefOr<Schema> {
    ArrayBuilder::new().items(items).into()
}
/// One of several shapes (the first that fits).
pub fn any_of(items: impl IntoIterator<Item = RefOr<Schema>>) -> RefOr<Schema> {
    let mut b = utoipa::openapi::schema::AnyOfBuilder::new();
    for i in items {
        b = b.item(i);
    }
    b.into()
}

/// An object with `required` members (all present in every answer) and `optional` ones; open to
/// more members.
pub fn object(required: &[(&str, RefOr<Schema>)], optional: &[(&str, RefOr<Schema>)]) -> RefOr<Schema> {
    let mut o = ObjectBuilder::new().schema_type(Type::Object);
    for (k, s) in required {
        o = o.property(*k, s.clone()).required(*k);
    }
    for (k, s) in optional {
        o = o.property(*k, s.clone());
    }
    o.into()
}

/// `{"status": true}`
pub fn status() -> RefOr<Schema> {
    object(&[("status", boolean())], &[])
}
/// `{"success": true}` (and, on some routes, a `message`)
pub fn success() -> RefOr<Schema> {
    object(&[("success", boolean())], &[("message", string())])
}
/// `{"session": Session, "user": User}`
pub fn session_and_user() -> RefOr<Schema> {
    object(&[("session", session()), ("user", user())], &[])
}
/// A sign-in's answer: `{redirect, token, url, user}`, or a capability's (two-factor's
/// `{"twoFactorRedirect": true, ...}`).
pub fn signed_in() -> RefOr<Schema> {
    object(&[], &[("redirect", boolean()), ("token", nullable(string())), ("url", nullable(string())), ("user", user())])
}

fn user_schema() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("name", string())
        .property("email", string())
        .property("emailVerified", boolean())
        .property("image", nullable(string()))
        .property("createdAt", date())
        .property("updatedAt", date())
        .property("id", string())
        .required("name")
        .required("email")
        .required("emailVerified")
        .required("createdAt")
        .required("updatedAt")
        .required("id")
        .into()
}

fn session_schema() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("expiresAt", date())
        .property("token", string())
        .property("createdAt", date())
        .property("updatedAt", date())
        .property("ipAddress", nullable(string()))
        .property("userAgent", nullable(string()))
        .property("userId", string())
        .property("id", string())
        .required("expiresAt")
        .required("token")
        .required("createdAt")
        .required("updatedAt")
        .required("userId")
        .required("id")
        .into()
}

fn account_schema() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("id", string())
        .property("providerId", string())
        .property("accountId", string())
        .property("userId", string())
        .property("createdAt", date())
        .property("updatedAt", date())
        .property("scopes", array(string()))
        .required("id")
        .required("providerId")
        .required("accountId")
        .required("userId")
        .into()
}
