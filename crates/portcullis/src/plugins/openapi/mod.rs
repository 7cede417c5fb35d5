//! Serves the server's own OpenAPI 3.1 document and a reference UI, at Better Auth's openAPI
//! plugin paths: `GET /open-api/generate-schema` (JSON) and `GET /reference` (Swagger UI, with its
//! script and style served from bytes built into the binary: no CDN). Opt-in, as Better Auth's
//! plugin is: `[openapi] enabled = true` or `PORTCULLIS_OPENAPI=1`.
//!
//! The document is [`crate::app::openapi::document`]: generated from the enabled capabilities'
//! route declarations, built once on first request and kept.
//!
//! Must never: serve a hand-written document, or load anything from another origin.

use crate::app::openapi::{document, wire, Answer, Api, Op};
use crate::app::{Auth, Capability};
use crate::config::{parse_bool, ConfigError, Section, SectionSpec};
use crate::error::ApiError;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Deserialize;
use std::sync::{Arc, OnceLock};

/// `[openapi]`: Better Auth's `openAPI()` plugin, on or off.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpenApiConfig {
    /// Serve `/open-api/generate-schema` and `/reference`. Off by default (opt-in plugin).
    pub enabled: bool,
}

impl Section for OpenApiConfig {
    const NAME: &'static str = "openapi";
    fn apply_env(&mut self, get: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = get("PORTCULLIS_OPENAPI") {
            self.enabled = parse_bool("PORTCULLIS_OPENAPI", &v)?;
        }
        Ok(())
    }
}

/// The document's JSON, made on first request.
#[derive(Clone, Default)]
struct Cached(Arc<OnceLock<Result<String, String>>>);

#[derive(Default)]
pub struct OpenApi {
    cached: Cached,
}

/// Swagger UI 5.35.0 (npm `swagger-ui-dist`, Apache-2.0): see assets/swagger-ui/README.md.
const BUNDLE: &str = include_str!("../../../assets/swagger-ui/swagger-ui-bundle.js");
const STYLE: &str = include_str!("../../../assets/swagger-ui/swagger-ui.css");

impl Capability for OpenApi {
    fn id(&self) -> &'static str {
        "openapi"
    }
    fn sections(&self) -> Vec<SectionSpec> {
        vec![SectionSpec::of::<OpenApiConfig>()]
    }
    fn api(&self) -> Api {
        let asset = |media| Op::new("The reference UI's script or style").answer("200", "The asset", Answer::Media(media));
        let cached = self.cached.clone();
        Api::new("OpenAPI")
            .get("/open-api/generate-schema", generate_schema, Op::new("This OpenAPI document").json(wire::any()))
            .get(
                "/reference",
                reference,
                Op::new("The API reference (Swagger UI)").answer("200", "An HTML page", Answer::Media("text/html")),
            )
            .get("/reference/swagger-ui-bundle.js", bundle, asset("text/javascript"))
            .get("/reference/swagger-ui.css", style, asset("text/css"))
            .map_router(|r| r.layer(Extension(cached)))
    }
    fn cancellable_paths(&self) -> &'static [&'static str] {
        &["/open-api/generate-schema", "/reference", "/reference/swagger-ui-bundle.js", "/reference/swagger-ui.css"]
    }
}

async fn generate_schema(State(auth): State<Auth>, Extension(cached): Extension<Cached>) -> Result<Response, ApiError> {
    let json = cached.0.get_or_init(|| document(&auth).to_json().map_err(|e| e.to_string()));
    let json = json.clone().map_err(ApiError::internal)?;
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], json).into_response())
}

async fn reference(State(auth): State<Auth>) -> Response {
    let base = auth.config.mount_path();
    let title = escape(&auth.config.app_name);
    let page = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}: API reference</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <link rel=\"stylesheet\" href=\"{base}/reference/swagger-ui.css\"></head>\
         <body><div id=\"swagger-ui\"></div><script src=\"{base}/reference/swagger-ui-bundle.js\"></script>\
         <script>window.ui = SwaggerUIBundle({{ url: \"{base}/open-api/generate-schema\", dom_id: \"#swagger-ui\", \
         withCredentials: true, deepLinking: true }});</script></body></html>\n"
    );
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
}

async fn bundle() -> Response {
    asset("text/javascript; charset=utf-8", BUNDLE)
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

fn asset(media: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, media), (header::CACHE_CONTROL, "public, max-age=86400")], body).into_response()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
