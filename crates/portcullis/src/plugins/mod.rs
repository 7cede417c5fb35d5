//! Capabilities, one module each (Better Auth's plugin-per-folder layout).

pub mod bearer;
pub mod core;
pub mod email_password;
pub(crate) mod headers;
pub mod jwt;
pub mod social;

use crate::app::Capability;
use crate::config::Config;
use std::sync::Arc;

/// The capabilities a default server runs with. The jwt and bearer capabilities are opt-in, as
/// Better Auth's plugins are (`jwt.enabled`, `bearer.enabled`): off, they add no route, no table
/// and no header, so an app moving from Better Auth sees no change unless it asks for one.
pub fn standard(config: &Config) -> Vec<Arc<dyn Capability>> {
    let mut caps: Vec<Arc<dyn Capability>> =
        vec![Arc::new(core::Core), Arc::new(email_password::EmailPassword), Arc::new(social::Social::new())];
    if config.bearer.enabled {
        caps.push(Arc::new(bearer::Bearer));
    }
    if config.jwt.enabled {
        caps.push(Arc::new(jwt::Jwt::new(&config.jwt)));
    }
    caps
}
