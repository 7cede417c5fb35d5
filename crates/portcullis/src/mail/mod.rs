//! Outgoing e-mail: the Mailer interface, SMTP and the development outbox.
