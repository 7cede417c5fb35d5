//! Capabilities, one module each (Better Auth's plugin-per-folder layout).

pub mod bearer;
pub mod core;
pub mod email_otp;
pub mod email_password;
pub(crate) mod headers;
pub mod jwt;
pub mod magic_link;
pub mod social;

use crate::app::Capability;
use crate::config::{Config, ConfigError, SectionSpec};
use std::sync::Arc;

/// A server's capabilities, in the order their hooks run.
pub type Capabilities = Vec<Arc<dyn Capability>>;

/// The capabilities a default server runs with. The jwt, bearer, magic-link and e-mail OTP
/// capabilities are opt-in, as Better Auth's plugins are (`jwt.enabled`, `bearer.enabled`,
/// `magic_link.enabled`, `email_otp.enabled`): off, they add no route, no table and no header, so an app moving from Better Auth sees no change unless it asks for one. Their
/// sections are parsed (and a typo refused) whether they are on or off.
/// Returns them with their sections' warnings.
pub fn standard(config: &mut Config) -> Result<(Capabilities, Vec<String>), ConfigError> {
    let mut warnings = Vec::new();
    for spec in [
        SectionSpec::of::<bearer::BearerConfig>(),
        SectionSpec::of::<jwt::config::JwtConfig>(),
        SectionSpec::of::<magic_link::config::MagicLinkConfig>(),
        SectionSpec::of::<email_otp::config::EmailOtpConfig>(),
    ] {
        warnings.extend(spec.materialize(&mut config.sections)?);
    }
    let mut caps: Capabilities = vec![Arc::new(core::Core), Arc::new(email_password::EmailPassword), Arc::new(social::Social::new())];
    if config.section::<bearer::BearerConfig>().enabled {
        caps.push(Arc::new(bearer::Bearer));
    }
    let jwt = config.section::<jwt::config::JwtConfig>();
    if jwt.enabled {
        caps.push(Arc::new(jwt::Jwt::new(jwt)));
    }
    let magic = config.section::<magic_link::config::MagicLinkConfig>();
    if magic.enabled {
        caps.push(Arc::new(magic_link::MagicLink::new(magic)));
    }
    let otp = config.section::<email_otp::config::EmailOtpConfig>();
    if otp.enabled {
        caps.push(Arc::new(email_otp::EmailOtp::new(otp)));
    }
    Ok((caps, warnings))
}
