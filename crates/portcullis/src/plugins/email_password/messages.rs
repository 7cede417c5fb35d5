//! The e-mails of e-mail and password: address verification, password reset and the approval of
//! a change of address. Their built-in templates are the files in `mail/` beside this one.

use crate::mail::templates::Message;
use serde_json::json;

/// A link to verify an address (a new one, when changing it).
pub const VERIFY_EMAIL: &str = "verify-email";
/// A link to reset the password.
pub const RESET_PASSWORD: &str = "reset-password";
/// Sent to the current address to approve moving the account to `new_email`.
pub const CHANGE_EMAIL_CONFIRMATION: &str = "change-email-confirmation";

/// Every message's context: `url` and `token` (the link and its token), `user_name`; the change
/// confirmation adds `new_email`.
pub fn messages() -> Vec<Message> {
    let example = || json!({ "url": "https://auth.example.com/api/auth/verify?token=abc", "token": "abc", "user_name": "Ada" });
    vec![
        Message {
            name: VERIFY_EMAIL,
            subject: include_str!("mail/verify-email.subject"),
            text: include_str!("mail/verify-email.txt"),
            html: include_str!("mail/verify-email.html"),
            example: example(),
        },
        Message {
            name: RESET_PASSWORD,
            subject: include_str!("mail/reset-password.subject"),
            text: include_str!("mail/reset-password.txt"),
            html: include_str!("mail/reset-password.html"),
            example: example(),
        },
        Message {
            name: CHANGE_EMAIL_CONFIRMATION,
            subject: include_str!("mail/change-email-confirmation.subject"),
            text: include_str!("mail/change-email-confirmation.txt"),
            html: include_str!("mail/change-email-confirmation.html"),
            example: json!({ "new_email": "ada@new.example.com", "url": "https://auth.example.com/api/auth/verify?token=abc", "token": "abc", "user_name": "Ada" }),
        },
    ]
}
