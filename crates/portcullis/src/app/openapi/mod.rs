//! The OpenAPI 3.1 document, produced by the same declarations as the router.
//!
//! A capability declares its routes with [`Api`] ([`Capability::api`](super::Capability::api)):
//! each `get`/`post` call adds the handler to the router *and* its [`Op`] (summary, typed body or
//! query, answers) to the document, so a route cannot exist without its entry. Request schemas come
//! from the body types themselves ([`crate::http::input::doc`]: the schema the server validates
//! with); answers from the wire types' schemas ([`wire`]). [`document`] merges what the enabled
//! capabilities declare (a disabled capability declares nothing), one tag per capability, with
//! Better Auth's error body and the session cookie / bearer security schemes; paths are relative
//! to the server URL, which is the base path, as in Better Auth's openAPI plugin.
//!
//! Must never: describe a route the router does not serve, or promise an answer the handler does
//! not give (schemathesis checks the running server against it: tests/openapi/run.sh).

pub mod wire;

use super::Auth;
use crate::http::input::doc::{describe, Described, Field, Kind};
use crate::http::input::{Input, Shape};
use axum::handler::Handler;
use axum::routing::{get, post};
use axum::Router;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::{ResponseBuilder, ResponsesBuilder};
use utoipa::openapi::schema::{AdditionalProperties, ArrayBuilder, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::{ContentBuilder, KnownFormat, OpenApi, RefOr, Required};

/// A capability's routes and their document entries, declared together.
pub struct Api {
    tag: &'static str,
    router: Router<Auth>,
    ops: Vec<(HttpMethod, String, Op)>,
}

impl Default for Api {
    fn default() -> Self {
        Api::new("")
    }
}

impl Api {
    /// Routes documented under `tag` (the capability's name in the reference).
    pub fn new(tag: &'static str) -> Self {
        Api { tag, router: Router::new(), ops: Vec::new() }
    }
    pub fn get<H: Handler<T, Auth>, T: 'static>(mut self, path: &str, handler: H, op: Op) -> Self {
        self.router = self.router.route(path, get(handler));
        self.ops.push((HttpMethod::Get, path.to_string(), op));
        self
    }
    pub fn post<H: Handler<T, Auth>, T: 'static>(mut self, path: &str, handler: H, op: Op) -> Self {
        self.router = self.router.route(path, post(handler));
        self.ops.push((HttpMethod::Post, path.to_string(), op));
        self
    }
    /// Another group of routes (e.g. one a configuration key turns on).
    pub fn merge(mut self, other: Api) -> Self {
        self.router = self.router.merge(other.router);
        self.ops.extend(other.ops);
        self
    }
    /// Wraps the router (layers, extensions); the routes stay as declared.
    pub fn map_router(mut self, f: impl FnOnce(Router<Auth>) -> Router<Auth>) -> Self {
        self.router = f(self.router);
        self
    }
    pub fn into_router(self) -> Router<Auth> {
        self.router
    }
    /// `(method, path)` of every declared route, as the document lists them.
    pub fn paths(&self) -> Vec<(String, String)> {
        self.ops.iter().map(|(m, p, _)| (method_name(m).to_string(), p.clone())).collect()
    }
}

fn method_name(m: &HttpMethod) -> &'static str {
    match m {
        HttpMethod::Get => "get",
        HttpMethod::Post => "post",
        _ => "other",
    }
}

/// What one answer carries.
pub enum Answer {
    Json(Box<RefOr<Schema>>),
    /// 302 with a `Location` (better-call's redirect: empty body).
    Redirect,
    /// An HTML page, or another body of `media` type.
    Media(&'static str),
    /// No body (Better Auth's bare statuses, e.g. a 401 from the admin routes).
    Empty,
}

/// One operation's documentation.
pub struct Op {
    summary: &'static str,
    body: Option<(Described, bool)>,
    query: Option<Described>,
    answers: Vec<(&'static str, &'static str, Answer)>,
    signed_in: bool,
    example: Option<serde_json::Value>,
}

impl Op {
    pub fn new(summary: &'static str) -> Self {
        Op { summary, body: None, query: None, answers: Vec::new(), signed_in: false, example: None }
    }
    /// The JSON body, as `T` reads it (the type its handler takes with `Valid<T>`).
    pub fn body<T: Input>(mut self) -> Self {
        let d = describe::<T>();
        let required = d.shape != Shape::OptionalObject;
        self.body = Some((d, required));
        self
    }
    /// An example body (the reference shows it; schemathesis sends it, so the success answer is
    /// checked against its schema too).
    pub fn example(mut self, body: serde_json::Value) -> Self {
        self.example = Some(body);
        self
    }
    /// The query string, as `T` reads it (`ValidQuery<T>`).
    pub fn query<T: Input>(mut self) -> Self {
        self.query = Some(describe::<T>());
        self
    }
    /// 200 with a JSON body of `schema`.
    pub fn json(self, schema: impl Into<RefOr<Schema>>) -> Self {
        self.answer("200", "Success", Answer::Json(Box::new(schema.into())))
    }
    /// 302 to a URL (a callback URL, or an error page with `?error=`).
    pub fn redirect(self) -> Self {
        self.answer("302", "Redirect to the callback (or error) URL", Answer::Redirect)
    }
    /// `status` may come without a body (it is then not Better Auth's error body).
    pub fn bare(self, status: &'static str) -> Self {
        self.answer(status, "An error without a body", Answer::Empty)
    }
    pub fn answer(mut self, status: &'static str, description: &'static str, a: Answer) -> Self {
        self.answers.push((status, description, a));
        self
    }
    /// Needs a session (cookie, or bearer token when the bearer capability is on); 401 without.
    pub fn signed_in(mut self) -> Self {
        self.signed_in = true;
        self
    }
}

/// The document of every enabled capability of `auth`.
pub fn document(auth: &Auth) -> OpenApi {
    let mut paths = utoipa::openapi::PathsBuilder::new();
    let mut tags = Vec::new();
    let bearer = auth.capabilities.iter().any(|c| c.id() == "bearer");
    let mut ids = std::collections::HashSet::new();
    for c in &auth.capabilities {
        let api = c.api();
        if !api.ops.is_empty() && !api.tag.is_empty() {
            tags.push(utoipa::openapi::tag::TagBuilder::new().name(api.tag).build());
        }
        for (method, path, op) in api.ops {
            // GET and POST on one path (get-session, callback) get distinct ids.
            let mut id = operation_id(&path);
            if !ids.insert(id.clone()) {
                id.push_str(if method == HttpMethod::Post { "Post" } else { "Get" });
            }
            paths = paths.path(path.clone(), PathItem::new(method, operation(api.tag, &path, id, op, bearer)));
        }
    }
    // The configured base URL, or (without one: the listen address may be 0.0.0.0) the base path.
    let server = if auth.config.base_url.is_some() { auth.config.auth_url() } else { auth.config.mount_path() };
    utoipa::openapi::OpenApiBuilder::new()
        .info(
            utoipa::openapi::InfoBuilder::new()
                .title(format!("{} auth API", auth.config.app_name))
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some("Better Auth 1.7.24's HTTP API as this Portcullis server answers it (generated from its routes)."))
                .build(),
        )
        .servers(Some([utoipa::openapi::server::Server::new(if server.is_empty() { "/".to_string() } else { server })]))
        .paths(paths.build())
        .components(Some(wire::components(&auth.cookies.session_token.name, bearer)))
        .tags(Some(tags))
        .build()
}

fn operation(tag: &str, path: &str, id: String, op: Op, bearer: bool) -> utoipa::openapi::path::Operation {
    let mut b = OperationBuilder::new().summary(Some(op.summary)).operation_id(Some(id));
    if !tag.is_empty() {
        b = b.tag(tag);
    }
    for name in path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}'))) {
        b = b.parameter(ParameterBuilder::new().name(name).parameter_in(ParameterIn::Path).required(Required::True).schema(Some(string())));
    }
    for f in op.query.iter().flat_map(|q| q.fields.iter()) {
        let required = if f.required { Required::True } else { Required::False };
        b = b.parameter(
            ParameterBuilder::new().name(&f.key).parameter_in(ParameterIn::Query).required(required).schema(Some(field_schema(&f.kind))),
        );
    }
    if let Some((d, required)) = &op.body {
        let content = ContentBuilder::new().schema(Some(object_schema(d))).example(op.example.clone()).build();
        let required = if *required { Required::True } else { Required::False };
        b = b.request_body(Some(RequestBodyBuilder::new().content("application/json", content).required(Some(required)).build()));
    }
    let mut responses = ResponsesBuilder::new();
    for (status, description, answer) in op.answers {
        let r = ResponseBuilder::new().description(description);
        let r = match answer {
            Answer::Json(s) => r.content("application/json", ContentBuilder::new().schema(Some(*s)).build()),
            Answer::Redirect | Answer::Empty => r,
            Answer::Media(m) => r.content(m, ContentBuilder::new().schema(Some(string())).build()),
        };
        responses = responses.response(status, r.build());
    }
    let error = ContentBuilder::new().schema(Some(wire::error())).build();
    responses = responses
        .response("4XX", ResponseBuilder::new().description("Better Auth's error body").content("application/json", error).build());
    b = b.responses(responses.build());
    if op.signed_in {
        b = b.securities(Some(wire::session_requirements(bearer)));
    }
    b.build()
}

/// `/sign-in/email` → `signInEmail` (Better Auth's operation ids are its endpoint names).
fn operation_id(path: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for ch in path.chars() {
        match ch {
            '/' | '-' | '{' | '}' | '_' | '.' => upper = !out.is_empty(),
            c if upper => {
                out.extend(c.to_uppercase());
                upper = false;
            }
            c => out.push(c),
        }
    }
    out
}

fn string() -> Schema {
    ObjectBuilder::new().schema_type(Type::String).into()
}

/// A body or a nested object: its members, open to more when the input keeps unknown keys.
fn object_schema(d: &Described) -> Schema {
    let open = matches!(d.shape, Shape::Record | Shape::ObjectAndRecord);
    let mut o = fields_object(&d.fields);
    if open {
        o = o.additional_properties(Some(AdditionalProperties::FreeForm(true)));
    }
    o.into()
}

fn fields_object(fields: &[Field]) -> ObjectBuilder {
    let mut o = ObjectBuilder::new().schema_type(Type::Object);
    for f in fields {
        o = o.property(&f.key, field_schema(&f.kind));
        if f.required {
            o = o.required(&f.key);
        }
    }
    o
}

fn field_schema(kind: &Kind) -> Schema {
    let s = |t: Type| ObjectBuilder::new().schema_type(t);
    match kind {
        Kind::String => s(Type::String).into(),
        Kind::NonEmpty => s(Type::String).min_length(Some(1)).into(),
        Kind::Email => s(Type::String).format(Some(SchemaFormat::KnownFormat(KnownFormat::Email))).into(),
        Kind::Bool => s(Type::Boolean).into(),
        Kind::Number => s(Type::Number).into(),
        Kind::Enum(options) => s(Type::String).enum_values(Some(options.clone())).into(),
        Kind::Strings => ArrayBuilder::new().items(RefOr::T(string())).into(),
        Kind::Record => s(Type::Object).additional_properties(Some(AdditionalProperties::FreeForm(true))).into(),
        Kind::StringRecord => s(Type::Object).additional_properties(Some(AdditionalProperties::RefOr(RefOr::T(string())))).into(),
        Kind::Object(fields) => fields_object(fields).into(),
        Kind::Any => wire::any_value(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn operation_ids_are_camel_case_endpoint_names() {
        assert_eq!(super::operation_id("/sign-in/email"), "signInEmail");
        assert_eq!(super::operation_id("/reset-password/{token}"), "resetPasswordToken");
        assert_eq!(super::operation_id("/ok"), "ok");
    }

    #[test]
    fn any_json_is_the_empty_schema() {
        assert_eq!(serde_json::to_value(super::wire::any()).ok(), Some(serde_json::json!({})));
        assert_eq!(serde_json::to_value(super::field_schema(&super::Kind::Any)).ok(), Some(serde_json::json!({})));
    }
}
