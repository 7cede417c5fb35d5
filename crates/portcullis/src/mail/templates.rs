//! The messages Portcullis sends: e-mail verification, password reset, e-mail change confirmation
//! and account deletion.
//!
//! Each template renders a plain-text and a simple inline-styled HTML body. Every value placed in
//! the HTML (app name, link) is HTML-escaped; control characters are removed from subjects. The
//! templates only build [`Email`] values: they never send or log anything.

use super::Email;

/// Verification of a (new) e-mail address.
pub fn verification(app_name: &str, to: &str, url: &str, token: &str) -> Email {
    render(
        Template {
            kind: "verify-email",
            subject: format!("Verify your email address for {app_name}"),
            intro: format!("Please confirm that this is your email address for {app_name}."),
            action: "Verify email address",
            outro: "If you didn't ask for this, you can ignore this message.",
        },
        app_name,
        to,
        url,
        token,
    )
}

/// Password reset link.
pub fn reset_password(app_name: &str, to: &str, url: &str, token: &str) -> Email {
    render(
        Template {
            kind: "reset-password",
            subject: format!("Reset your password for {app_name}"),
            intro: format!("Someone asked to reset the password of your {app_name} account."),
            action: "Reset password",
            outro: "If you didn't ask for this, you can ignore this message: your password stays the same.",
        },
        app_name,
        to,
        url,
        token,
    )
}

/// Sent to the current address to approve moving the account to a new address.
pub fn change_email_confirmation(app_name: &str, to: &str, url: &str, token: &str) -> Email {
    render(
        Template {
            kind: "change-email-confirmation",
            subject: format!("Approve the email change for {app_name}"),
            intro: format!("Someone asked to change the email address of your {app_name} account."),
            action: "Approve email change",
            outro: "If you didn't ask for this, don't open the link, and consider changing your password.",
        },
        app_name,
        to,
        url,
        token,
    )
}

/// Confirmation before the account is deleted.
pub fn delete_account(app_name: &str, to: &str, url: &str, token: &str) -> Email {
    render(
        Template {
            kind: "delete-account",
            subject: format!("Confirm deleting your {app_name} account"),
            intro: format!("Someone asked to permanently delete your {app_name} account and its data."),
            action: "Delete my account",
            outro: "If you didn't ask for this, don't open the link, and consider changing your password.",
        },
        app_name,
        to,
        url,
        token,
    )
}

struct Template {
    kind: &'static str,
    subject: String,
    intro: String,
    action: &'static str,
    outro: &'static str,
}

fn render(t: Template, app_name: &str, to: &str, url: &str, token: &str) -> Email {
    let text = format!("{intro}\n\n{action}:\n{url}\n\n{outro}\n\n-- \n{app_name}\n", intro = t.intro, action = t.action, outro = t.outro,);
    let html = format!(
        concat!(
            "<!doctype html>\n<html><body style=\"margin:0;padding:24px;background:#f4f4f5;",
            "font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#18181b\">\n",
            "<div style=\"max-width:480px;margin:0 auto;background:#fff;border-radius:8px;padding:32px\">\n",
            "<h1 style=\"font-size:20px;margin:0 0 16px\">{app}</h1>\n",
            "<p style=\"font-size:15px;line-height:1.5\">{intro}</p>\n",
            "<p style=\"margin:24px 0\"><a href=\"{url}\" style=\"display:inline-block;background:#18181b;",
            "color:#fff;text-decoration:none;padding:12px 20px;border-radius:6px;font-size:15px\">{action}</a></p>\n",
            "<p style=\"font-size:13px;line-height:1.5;color:#52525b\">Or open this link:<br>",
            "<a href=\"{url}\" style=\"color:#52525b;word-break:break-all\">{url}</a></p>\n",
            "<p style=\"font-size:13px;line-height:1.5;color:#52525b\">{outro}</p>\n",
            "</div>\n</body></html>\n"
        ),
        app = escape(app_name),
        intro = escape(&t.intro),
        url = escape(url),
        action = escape(t.action),
        outro = escape(t.outro),
    );
    Email {
        to: to.to_string(),
        subject: t.subject.chars().map(|c| if c.is_control() { ' ' } else { c }).collect(),
        text,
        html,
        kind: t.kind.to_string(),
        url: Some(url.to_string()),
        token: Some(token.to_string()),
    }
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
        // Plain text keeps the link usable as is.
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
        assert_eq!(change_email_confirmation("Acme", "a", "u", "t").kind, "change-email-confirmation");
        assert_eq!(delete_account("Acme", "a", "u", "t").kind, "delete-account");
    }

    #[test]
    fn subject_has_no_control_characters() {
        let e = delete_account("Acme\r\nBcc: evil@x", "a", "u", "t");
        assert!(!e.subject.contains('\n') && !e.subject.contains('\r'));
    }
}
