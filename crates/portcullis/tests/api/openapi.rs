//! The OpenAPI document (`[openapi] enabled = true`): served at Better Auth's openAPI plugin paths,
//! generated from the routes themselves, so every route of every enabled capability is in it and
//! every documented operation is served; the reference UI is served without any CDN.

use crate::harness::*;
use portcullis::config::Config;
use portcullis::plugins::admin::config::AdminConfig;
use portcullis::plugins::anonymous::config::AnonymousConfig;
use portcullis::plugins::bearer::BearerConfig;
use portcullis::plugins::email_otp::config::EmailOtpConfig;
use portcullis::plugins::jwt::config::JwtConfig;
use portcullis::plugins::magic_link::config::MagicLinkConfig;
use portcullis::plugins::openapi::OpenApiConfig;
use portcullis::plugins::organization::config::OrganizationConfig;
use portcullis::plugins::passkey::PasskeyConfig;
use portcullis::plugins::preferences::PreferencesConfig;
use portcullis::plugins::two_factor::config::TwoFactorConfig;
use portcullis::plugins::webhooks::config::WebhooksConfig;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Every standard capability with routes on, teams and dynamic roles included (the audit log's
/// admin route comes with admin).
fn everything(c: &mut Config) {
    c.section_mut::<OpenApiConfig>().unwrap().enabled = true;
    c.section_mut::<BearerConfig>().unwrap().enabled = true;
    c.section_mut::<JwtConfig>().unwrap().enabled = true;
    c.section_mut::<PasskeyConfig>().unwrap().enabled = true;
    c.section_mut::<AdminConfig>().unwrap().enabled = true;
    c.section_mut::<TwoFactorConfig>().unwrap().enabled = true;
    c.section_mut::<MagicLinkConfig>().unwrap().enabled = true;
    c.section_mut::<EmailOtpConfig>().unwrap().enabled = true;
    c.section_mut::<AnonymousConfig>().unwrap().enabled = true;
    c.section_mut::<PreferencesConfig>().unwrap().enabled = true;
    c.section_mut::<WebhooksConfig>().unwrap().enabled = true;
    let o = c.section_mut::<OrganizationConfig>().unwrap();
    o.enabled = true;
    o.teams.enabled = true;
    o.dynamic_access_control.enabled = true;
}

/// `(method, path)` of every operation in the document.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            ops.insert((method.clone(), path.clone()));
        }
    }
    ops
}

// The routes and the document come from one declaration: no standard capability has a route outside
// it, and the document lists exactly what the capabilities declare.
#[tokio::test]
async fn every_route_of_every_capability_is_in_the_document() {
    let mut config = Config::default();
    everything(&mut config);
    let (caps, _) = portcullis::plugins::standard(&mut config).expect("capabilities");
    for id in ["organization", "openapi", "webhooks", "preferences", "audit"] {
        assert!(caps.iter().any(|c| c.id() == id), "{id} is on");
    }
    let mut declared = BTreeSet::new();
    for c in &caps {
        assert!(!c.routes().has_routes(), "capability {} has routes outside its api(): they would be undocumented", c.id());
        declared.extend(c.api().paths());
    }
    let srv = TestServer::start(Backend::Sqlite, everything).await;
    let r = srv.client().get("/open-api/generate-schema").await;
    r.expect_status(200);
    assert_eq!(operations(r.json()), declared);
}

both!(every_documented_operation_is_served, config = everything, |srv| async move {
    let doc = srv.client().get("/open-api/generate-schema").await.json().clone();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["servers"][0]["url"].as_str(), Some(srv.auth_url().as_str()));
    let ops = operations(&doc);
    assert!(ops.len() > 100, "{} operations", ops.len());
    for (method, path) in ops {
        let path = path.replace("{provider}", "github").replace("{token}", "abc");
        let c = srv.client();
        let r = if method == "get" { c.get(&path).await } else { c.post_json(&path, json!({})).await };
        assert!(!(r.status == 404 && r.text.is_empty()), "{method} {path} is documented but not served");
        assert!(r.status < 500, "{method} {path}: {}", r.status);
    }
});

both!(the_request_schemas_are_the_body_types_and_errors_are_better_auths, config = everything, |srv| async move {
    let doc = srv.client().get("/open-api/generate-schema").await.json().clone();
    let sign_in = &doc["paths"]["/sign-in/email"]["post"];
    let body = &sign_in["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(body["properties"]["email"], json!({"type": "string"}));
    assert_eq!(body["properties"]["rememberMe"], json!({"type": "boolean"}));
    assert_eq!(body["required"], json!(["email", "password"]));
    assert_eq!(sign_in["responses"]["4XX"]["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/Error");
    assert_eq!(sign_in["operationId"], "signInEmail");
    assert_eq!(sign_in["tags"], json!(["Email and password"]));
    let error = &doc["components"]["schemas"]["Error"];
    assert_eq!(error["required"], json!(["message"]));
    // Sign-up keeps unknown keys (additional user fields).
    let sign_up = &doc["paths"]["/sign-up/email"]["post"]["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(sign_up["additionalProperties"], json!(true));
    assert_eq!(sign_up["properties"]["email"], json!({"type": "string", "format": "email"}));
    assert_eq!(sign_up["properties"]["password"], json!({"type": "string", "minLength": 1}));
    let list = &doc["paths"]["/list-sessions"]["get"];
    assert_eq!(list["security"], json!([{"sessionCookie": []}, {"bearerAuth": []}]));
    assert_eq!(
        doc["components"]["securitySchemes"]["sessionCookie"],
        json!({"type": "apiKey", "in": "cookie", "name": "better-auth.session_token"})
    );
});

both!(the_reference_page_and_its_assets_come_from_the_server, config = everything, |srv| async move {
    let c = srv.client();
    let r = c.get("/reference").await;
    r.expect_status(200);
    assert!(r.header("content-type").unwrap_or("").starts_with("text/html"));
    assert!(r.text.contains("/api/auth/reference/swagger-ui-bundle.js") && r.text.contains("/api/auth/open-api/generate-schema"));
    assert!(!r.text.contains("https://"), "no CDN: {}", r.text);
    let js = c.get("/reference/swagger-ui-bundle.js").await;
    js.expect_status(200);
    assert!(js.text.contains("SwaggerUIBundle"));
    c.get("/reference/swagger-ui.css").await.expect_status(200);
});

both!(off_by_default, |srv| async move {
    srv.client().get("/open-api/generate-schema").await.expect_empty_404();
    srv.client().get("/reference").await.expect_empty_404();
});

both!(
    a_capability_that_is_off_contributes_nothing,
    config = |c| c.section_mut::<OpenApiConfig>().unwrap().enabled = true,
    |srv| async move {
        let doc = srv.client().get("/open-api/generate-schema").await.json().clone();
        let paths = doc["paths"].as_object().unwrap();
        assert!(paths.contains_key("/sign-in/email") && paths.contains_key("/callback/{provider}"));
        assert!(!paths.keys().any(|p| p.starts_with("/two-factor") || p.starts_with("/admin") || p.starts_with("/organization")));
        let tags: Vec<&str> = doc["tags"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
        assert_eq!(tags, ["Core", "Email and password", "Social sign-in", "OpenAPI"]);
        // Without the bearer capability, the session cookie is the only way in.
        assert!(doc["components"]["securitySchemes"].get("bearerAuth").is_none());
        assert_eq!(doc["paths"]["/list-sessions"]["get"]["security"], json!([{"sessionCookie": []}]));
    }
);
