//! Capabilities own their configuration sections: the file's `[jwt]`, `[bearer]` and `[social]`
//! are parsed by those capabilities when the engine is built, a typo inside one is refused naming
//! the section and the key, and a section no capability claims is refused too.

use portcullis::plugins::bearer::BearerConfig;
use portcullis::plugins::jwt::config::JwtConfig;
use portcullis::plugins::social::config::SocialConfig;
use portcullis::{Auth, Config};

fn config(text: &str) -> Config {
    let mut c = Config::from_toml(text).expect("the file parses");
    c.database_url = "sqlite::memory:".into();
    c
}

async fn start_error(text: &str) -> String {
    match Auth::from_config(config(text)).await {
        Ok(_) => panic!("started with {text:?}"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn each_capability_parses_its_own_section() {
    let auth = Auth::from_config(config(
        "base_path = \"/auth\"\n\
         [jwt]\nenabled = true\nexpiration_time = 60\n\
         [bearer]\nrequire_signature = false\n\
         [social]\nallow_missing_email = true\n",
    ))
    .await
    .expect("starts");
    assert_eq!(auth.config.base_path, "/auth");
    assert!(auth.config.section::<JwtConfig>().enabled);
    assert_eq!(auth.config.section::<JwtConfig>().expiration_time, 60);
    // Off, the bearer capability is not registered; its section is still parsed (and checked).
    assert!(!auth.config.section::<BearerConfig>().enabled);
    assert!(!auth.config.section::<BearerConfig>().require_signature);
    assert!(auth.config.section::<SocialConfig>().allow_missing_email);
}

#[tokio::test]
async fn a_typo_in_a_section_names_the_section_and_the_key() {
    let e = start_error("[jwt]\nenabled = true\nalgoritm = \"ES256\"\n").await;
    assert!(e.contains("[jwt]: unknown field `algoritm`, expected one of"), "{e}");
    let e = start_error("[bearer]\nrequire_signatur = false\n").await;
    assert!(e.contains("[bearer]: unknown field `require_signatur`"), "{e}");
    let e = start_error("[social]\nencrypt_oauth_token = true\n").await;
    assert!(e.contains("[social]: unknown field `encrypt_oauth_token`"), "{e}");
    // A section's own checks run too.
    let e = start_error("[jwt]\njwks_path = \"jwks\"\n").await;
    assert!(e.contains("jwt.jwks_path must start with '/'"), "{e}");
}

#[tokio::test]
async fn a_section_or_key_nobody_claims_is_refused() {
    let e = start_error("[jtw]\nenabled = true\n").await;
    assert!(e.contains("unknown configuration key or section `jtw`"), "{e}");
    assert!(e.contains("bearer, email_otp, jwt, magic_link, social"), "lists the sections it knows: {e}");
    let e = start_error("base_pth = \"/x\"\n").await;
    assert!(e.contains("`base_pth`"), "{e}");
}

#[tokio::test]
async fn core_errors_keep_their_line_and_sections_read_the_environment() {
    let e = Config::from_toml("app_name = \"x\"\nbase_path = 1\n").unwrap_err();
    assert!(e.contains("line 2"), "{e}");
    let mut c = config("[jwt]\nexpiration_time = 60\n");
    c.apply_env(|k| match k {
        "PORTCULLIS_JWT" => Some("true".into()),
        "GITHUB_CLIENT_ID" => Some("gh".into()),
        _ => None,
    })
    .unwrap();
    let auth = Auth::from_config(c).await.expect("starts");
    let jwt = auth.config.section::<JwtConfig>();
    assert!(jwt.enabled && jwt.expiration_time == 60, "the environment over the file: {jwt:?}");
    assert_eq!(auth.config.section::<SocialConfig>().providers["github"].client_id, "gh");
}
