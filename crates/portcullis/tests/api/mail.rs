//! E-mail templates: the operator's override files change what is sent (read back through the
//! development outbox), and a broken one stops the server from starting.

use crate::common::random_suffix;
use crate::harness::*;
use portcullis::config::TemplateFiles;
use portcullis::Config;
use serde_json::json;
use std::path::PathBuf;

/// A fresh directory holding `files` (name, content).
fn dir_with(files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("portcullis-mail-{}", random_suffix()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for (name, content) in files {
        std::fs::write(dir.join(name), content).expect("write a template");
    }
    dir
}

/// Overrides the reset e-mail's three parts and the HTML layout.
fn reset_overrides(c: &mut Config) {
    c.app_name = "Acme <Corp>".into();
    let dir = dir_with(&[
        ("reset.subject", "{{ app_name }}: new password for {{ user_name }}\n"),
        ("reset.txt", "Hi {{ user_name }},\nreset here: {{ url }}\n"),
        ("reset.html", "<p>Hi {{ user_name }}, <a href=\"{{ url }}\">reset</a> ({{ to }})</p>\n"),
        ("layout.html", "<main>{{ content }}</main>\n"),
    ]);
    let reset =
        TemplateFiles { subject: Some(dir.join("reset.subject")), text: Some(dir.join("reset.txt")), html: Some(dir.join("reset.html")) };
    c.mail.templates.insert("reset-password".into(), reset);
    c.mail.templates.insert("layout".into(), TemplateFiles { html: Some(dir.join("layout.html")), ..Default::default() });
}

both!(overrides_change_the_sent_mail, config = reset_overrides, |srv| async move {
    let client = srv.client();
    let body = json!({"email": "o'brien@example.com", "password": PASSWORD, "name": "Dana <b>"});
    client.post_json("/sign-up/email", body).await.expect_status(200);
    let r = srv.client().post_json("/request-password-reset", json!({"email": "o'brien@example.com", "redirectTo": "/reset"})).await;
    r.expect_status(200);
    let mail = srv.mail_of_kind("o'brien@example.com", "reset-password").await;
    let (url, token) = (mail["url"].as_str().expect("url"), mail["token"].as_str().expect("token"));
    assert!(url.contains(token), "the outbox still exposes the link and its token: {mail}");
    assert_eq!(mail["subject"], "Acme <Corp>: new password for Dana <b>");
    assert_eq!(mail["text"], format!("Hi Dana <b>,\nreset here: {url}\n\n-- \nAcme <Corp>\n"), "the built-in text layout");
    let html =
        format!("<main><p>Hi Dana &lt;b&gt;, <a href=\"{}\">reset</a> (o&#39;brien@example.com)</p></main>\n", url.replace('&', "&amp;"));
    assert_eq!(mail["html"], html, "every value escaped, in the custom layout");

    // Messages without an override keep their built-in templates.
    let u = srv.user("kept").await;
    u.client.post_json("/send-verification-email", json!({"email": u.email})).await.expect_status(200);
    let mail = srv.mail_of_kind(&u.email, "verify-email").await;
    assert_eq!(mail["subject"], "Verify your email address for Acme <Corp>");
    assert!(mail["html"].as_str().expect("html").starts_with("<main><p style="), "{mail}");
});

#[tokio::test]
async fn a_broken_template_stops_the_start() {
    let dir = dir_with(&[("reset.html", "<p>Hello</p>\n<p>{% if url %}{{ url }}</p>\n")]);
    let mut config = Config { database_url: "sqlite::memory:".into(), ..Default::default() };
    config.mail.templates.insert("reset-password".into(), TemplateFiles { html: Some(dir.join("reset.html")), ..Default::default() });
    let err = portcullis::Auth::builder(config.clone()).build().await.err().expect("refused").to_string();
    assert!(err.contains(&format!("{}:2", dir.join("reset.html").display())), "{err}");

    // So does a message no capability registers (a typo).
    config.mail.templates = [("reset-pasword".to_string(), TemplateFiles::default())].into();
    let err = portcullis::Auth::builder(config).build().await.err().expect("refused").to_string();
    assert!(err.contains("[mail.templates.reset-pasword]"), "{err}");
}
