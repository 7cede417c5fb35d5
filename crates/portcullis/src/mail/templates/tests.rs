//! Tests of the engine (escaping, subjects, overrides, start-time errors), and helpers other
//! tests use to build the built-in messages.

use super::*;
use crate::config::TemplateFiles;
use std::path::PathBuf;

/// The built-in messages of the standard capabilities, as a default server registers them.
pub(crate) fn standard(app_name: &str) -> Templates {
    let messages = crate::plugins::standard(&mut crate::Config::default())
        .expect("standard capabilities")
        .0
        .iter()
        .flat_map(|c| c.mail_messages())
        .collect::<Vec<_>>();
    Templates::builder(app_name).messages(messages).build().expect("the built-in templates build")
}

fn link(kind: &str, app_name: &str, to: &str, url: &str, token: &str) -> Email {
    let ctx = context! { url, token, user_name => "Ada", new_email => "new@example.com" };
    standard(app_name).render(kind, to, ctx).expect("renders")
}

/// The verification e-mail of a standard server.
pub(crate) fn verification(app_name: &str, to: &str, url: &str, token: &str) -> Email {
    link("verify-email", app_name, to, url, token)
}

/// The password-reset e-mail of a standard server.
pub(crate) fn reset_password(app_name: &str, to: &str, url: &str, token: &str) -> Email {
    link("reset-password", app_name, to, url, token)
}

/// A message for the engine's own tests: `otp`, with a `code`.
fn otp() -> Message {
    Message {
        name: "otp",
        subject: "Your {{ app_name }} code",
        text: "Your code: {{ code }}\n",
        html: "<p>Your code: <b>{{ code }}</b></p>\n",
        example: serde_json::json!({ "code": "123456" }),
    }
}

/// A fresh directory with `files` (name, content) in it.
fn dir_with(files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("portcullis-mail-{}-{}", std::process::id(), crate::crypto::random_id(8)));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for (name, content) in files {
        std::fs::write(dir.join(name), content).expect("write a template");
    }
    dir
}

fn overrides(name: &str, files: TemplateFiles) -> BTreeMap<String, TemplateFiles> {
    BTreeMap::from([(name.to_string(), files)])
}

#[test]
fn escape_covers_html_specials() {
    assert_eq!(escape(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
}

#[test]
fn html_escapes_app_name_and_url() {
    let e = verification("<script>alert(1)</script>", "a@b.c", "https://x/v?token=t&cb=\"><img src=x>", "t");
    assert!(!e.html.contains("<script>"), "{}", e.html);
    assert!(!e.html.contains("\"><img"), "{}", e.html);
    assert!(e.html.contains("&lt;script&gt;"));
    assert!(e.html.contains("token=t&amp;cb=&quot;&gt;&lt;img"));
    // Links keep their slashes (no `&#x2f;`), and plain text keeps the link usable as is.
    assert!(e.html.contains("href=\"https://x/v?token=t&amp;cb="), "{}", e.html);
    assert!(e.text.contains("https://x/v?token=t&cb=\"><img src=x>"));
}

#[test]
fn kinds_subjects_and_fields() {
    let e = reset_password("Acme", "a@b.c", "https://x/r/tok", "tok");
    assert_eq!(e.kind, "reset-password");
    assert_eq!(e.subject, "Reset your password for Acme");
    assert_eq!((e.url.as_deref(), e.token.as_deref(), e.to.as_str()), (Some("https://x/r/tok"), Some("tok"), "a@b.c"));
    assert_eq!(verification("Acme", "a", "u", "t").subject, "Verify your email address for Acme");
    assert_eq!(verification("Acme", "a", "u", "t").kind, "verify-email");
    assert_eq!(link("change-email-confirmation", "Acme", "a", "u", "t").kind, "change-email-confirmation");
    assert_eq!(link("delete-account", "Acme", "a", "u", "t").subject, "Confirm deleting your Acme account");
}

#[test]
fn built_in_layout_wraps_the_body() {
    let e = reset_password("Acme", "a@b.c", "https://x/r/tok", "tok");
    let text = "Someone asked to reset the password of your Acme account.\n\nReset password:\nhttps://x/r/tok\n\n\
                If you didn't ask for this, you can ignore this message: your password stays the same.\n\n-- \nAcme\n";
    assert_eq!(e.text, text);
    assert!(e.html.starts_with("<!doctype html>\n<html><body"), "{}", e.html);
    assert!(e.html.contains("<h1 style=\"font-size:20px;margin:0 0 16px\">Acme</h1>\n<p style="), "{}", e.html);
    assert!(e.html.ends_with("</p>\n</div>\n</body></html>\n"), "{}", e.html);
}

#[test]
fn subject_has_no_control_characters() {
    let e = link("delete-account", "Acme\r\nBcc: evil@x", "a", "u", "t");
    assert!(!e.subject.contains('\n') && !e.subject.contains('\r'), "{:?}", e.subject);
    // Nor from an override that puts a value with a newline in it.
    let dir = dir_with(&[("s.txt", "Code {{ code }}\n")]);
    let files = TemplateFiles { subject: Some(dir.join("s.txt")), ..Default::default() };
    let t = Templates::builder("A").message(otp()).overrides(&overrides("otp", files)).build().expect("builds");
    let e = t.render("otp", "a@b.c", context! { code => "1\r\nBcc: evil@x" }).expect("renders");
    assert_eq!(e.subject, "Code 1  Bcc: evil@x");
}

#[test]
fn a_registered_message_renders_with_its_context() {
    let t = Templates::builder("Acme").message(otp()).build().expect("builds");
    let e = t.render("otp", "a@b.c", context! { code => "<42>" }).expect("renders");
    assert_eq!((e.kind.as_str(), e.subject.as_str(), e.url, e.token), ("otp", "Your Acme code", None, None));
    assert_eq!(e.text, "Your code: <42>\n\n-- \nAcme\n");
    assert!(e.html.contains("<b>&lt;42&gt;</b>"), "{}", e.html);
    // A serializable struct is a context too.
    #[derive(serde::Serialize)]
    struct Otp {
        code: u32,
    }
    assert!(t.render("otp", "a@b.c", Otp { code: 7 }).expect("renders").text.starts_with("Your code: 7\n"));
    assert!(matches!(t.render("nope", "a@b.c", context! {}), Err(TemplateError::Invalid(_))));
}

#[test]
fn overrides_replace_each_part_and_the_layout() {
    let dir = dir_with(&[
        ("s.txt", "{{ app_name }}: {{ code }}\n"),
        ("b.txt", "{% if code %}\nCODE {{ code }} for {{ to }}\n{% endif %}\n"),
        ("l.txt", "[{{ content }}]\n"),
        ("l.html", "<main>{{ content }}</main>\n"),
    ]);
    let mut files = overrides("otp", TemplateFiles { subject: Some(dir.join("s.txt")), text: Some(dir.join("b.txt")), html: None });
    files.insert(LAYOUT.into(), TemplateFiles { text: Some(dir.join("l.txt")), html: Some(dir.join("l.html")), subject: None });
    let t = Templates::builder("Acme").message(otp()).overrides(&files).build().expect("builds");
    let e = t.render("otp", "a@b.c", context! { code => "9" }).expect("renders");
    assert_eq!(e.subject, "Acme: 9");
    assert_eq!(e.text, "[CODE 9 for a@b.c\n]\n", "trim_blocks: block tags leave no blank line");
    assert_eq!(e.html, "<main><p>Your code: <b>9</b></p></main>\n", "the built-in body in the custom layout");
}

#[test]
fn a_syntax_error_names_the_file_and_line_at_build() {
    let dir = dir_with(&[("reset.html", "<p>line one</p>\n<p>{{ url }</p>\n")]);
    let path = dir.join("reset.html");
    let files = overrides("otp", TemplateFiles { html: Some(path.clone()), ..Default::default() });
    let err = Templates::builder("A").message(otp()).overrides(&files).build().expect_err("refused").to_string();
    assert!(err.contains(&format!("{}:2", path.display())), "{err}");
    assert!(err.contains("syntax error"), "{err}");
}

#[test]
fn an_unknown_variable_is_refused_at_build() {
    // Used on the path the example takes: the render names the line.
    let dir = dir_with(&[("a.txt", "Hello\n{{ cdoe }}\n"), ("b.txt", "{% if code %}ok{% else %}{{ nope }}{% endif %}\n")]);
    let files = overrides("otp", TemplateFiles { text: Some(dir.join("a.txt")), ..Default::default() });
    let err = Templates::builder("A").message(otp()).overrides(&files).build().expect_err("refused").to_string();
    assert!(err.contains("a.txt:2: unknown variable cdoe"), "{err}");
    // Only in a branch the example does not take: still refused, by name.
    let files = overrides("otp", TemplateFiles { text: Some(dir.join("b.txt")), ..Default::default() });
    let err = Templates::builder("A").message(otp()).overrides(&files).build().expect_err("refused").to_string();
    assert!(err.contains("b.txt") && err.contains("unknown variable nope"), "{err}");
    // Loops, functions and `is defined` are fine.
    let dir = dir_with(&[("c.txt", "{% for i in range(2) %}{{ loop.index }}{% endfor %}{% if code is defined %}{{ code }}{% endif %}\n")]);
    let files = overrides("otp", TemplateFiles { text: Some(dir.join("c.txt")), ..Default::default() });
    Templates::builder("A").message(otp()).overrides(&files).build().expect("builds");
}

#[test]
fn a_missing_file_or_unknown_message_is_refused_at_build() {
    let missing = PathBuf::from("/nonexistent/portcullis/otp.txt");
    let files = overrides("otp", TemplateFiles { text: Some(missing), ..Default::default() });
    let err = Templates::builder("A").message(otp()).overrides(&files).build().expect_err("refused").to_string();
    assert!(err.contains("/nonexistent/portcullis/otp.txt") && err.contains("cannot read"), "{err}");

    let err = Templates::builder("A").message(otp()).overrides(&overrides("otq", TemplateFiles::default())).build();
    let err = err.expect_err("refused").to_string();
    assert!(err.contains("[mail.templates.otq]") && err.contains("otp"), "{err}");

    let layout = TemplateFiles { subject: Some("s".into()), ..Default::default() };
    assert!(Templates::builder("A").overrides(&overrides(LAYOUT, layout)).build().is_err(), "the layout has no subject");
    assert!(Templates::builder("A").message(otp()).message(otp()).build().is_err(), "a name is registered once");
}
