//! Capabilities, one module each (Better Auth's plugin-per-folder layout).

pub mod core;
pub mod email_password;
pub mod social;

use crate::app::Capability;
use std::sync::Arc;

/// The capabilities a default server runs with.
pub fn standard() -> Vec<Arc<dyn Capability>> {
    vec![Arc::new(core::Core), Arc::new(email_password::EmailPassword), Arc::new(social::Social::new())]
}
