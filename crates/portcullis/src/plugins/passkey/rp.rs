//! The relying party: webauthn-rs-core set up with Better Auth's policy, the options JSON in
//! SimpleWebAuthn's shape, and the conversions between a `passkey` row (SimpleWebAuthn's formats)
//! and webauthn-rs-core's `Credential`.

use super::settings;
use super::store::PasskeyRow;
use crate::app::Auth;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64URL};
use base64::Engine;
use serde_json::{json, Value};
use std::time::Duration;
use url::Url;
use webauthn_rs_core::proto::{
    AttestationConveyancePreference, AttestationFormat, AuthenticatorAttachment, COSEAlgorithm, COSEKey, Credential, ParsedAttestation,
    RegisteredExtensions, UserVerificationPolicy,
};
use webauthn_rs_core::WebauthnCore;

/// Milliseconds the browser is given (SimpleWebAuthn's default `timeout`).
pub const TIMEOUT_MS: u64 = 60_000;
/// EdDSA, ES256, RS256: SimpleWebAuthn's `supportedAlgorithmIDs` order.
const ALGS: [(COSEAlgorithm, i64); 3] = [(COSEAlgorithm::EDDSA, -8), (COSEAlgorithm::ES256, -7), (COSEAlgorithm::RS256, -257)];

/// `rpID`: the option, else the base URL's host.
pub fn rp_id(auth: &Auth) -> String {
    settings(auth)
        .rp_id
        .clone()
        .or_else(|| Url::parse(&auth.config.auth_url()).ok().and_then(|u| u.host_str().map(str::to_string)))
        .unwrap_or_else(|| "localhost".into())
}

/// `rpName`: the option, else the app name.
pub fn rp_name(auth: &Auth) -> String {
    settings(auth).rp_name.clone().unwrap_or_else(|| auth.config.app_name.clone())
}

/// The origins a ceremony may come from (see `PasskeyConfig::origins`).
pub fn origins(auth: &Auth) -> Vec<Url> {
    let configured = &settings(auth).origins;
    let list: Vec<String> = if configured.is_empty() {
        std::iter::once(auth.config.origin()).chain(auth.config.trusted_origins.iter().filter(|o| !o.contains('*')).cloned()).collect()
    } else {
        configured.clone()
    };
    list.iter().filter_map(|o| Url::parse(o).ok()).collect()
}

/// webauthn-rs-core for this server's relying party.
pub fn core(auth: &Auth) -> WebauthnCore {
    WebauthnCore::new_unsafe_experts_only(
        &rp_name(auth),
        &rp_id(auth),
        origins(auth),
        Duration::from_millis(TIMEOUT_MS),
        Some(false),
        Some(false),
    )
}

/// Who is registering: `userData` of Better Auth's challenge row.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserData {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// A new registration ceremony: the options for the browser and the state to keep.
pub fn registration(
    auth: &Auth,
    user: &UserData,
    exclude: &[PasskeyRow],
    attachment: Option<&str>,
) -> Result<(Value, webauthn_rs_core::proto::RegistrationState), webauthn_rs_core::error::WebauthnError> {
    // Better Auth: a random user handle on every call (not the user id, not stored).
    let handle = crate::crypto::random_string(32, b"abcdefghijklmnopqrstuvwxyz0123456789");
    let name = user.name.clone().unwrap_or_else(|| user.id.clone());
    let display = user.display_name.clone().filter(|d| !d.is_empty()).unwrap_or_else(|| name.clone());
    let attach = match attachment {
        Some("platform") => Some(AuthenticatorAttachment::Platform),
        Some("cross-platform") => Some(AuthenticatorAttachment::CrossPlatform),
        _ => None,
    };
    let excluded: Vec<_> = exclude.iter().filter_map(|p| B64URL.decode(&p.credential_id).ok()).map(Into::into).collect();
    let core = core(auth);
    let builder = core
        .new_challenge_register_builder(handle.as_bytes(), &name, &display)?
        .attestation(AttestationConveyancePreference::None)
        .user_verification_policy(UserVerificationPolicy::Preferred)
        .exclude_credentials(Some(excluded))
        .credential_algorithms(ALGS.iter().map(|(a, _)| *a).collect())
        .require_resident_key(false)
        .authenticator_attachment(attach)
        .reject_synchronised_authenticators(false);
    let (ccr, state) = core.generate_challenge_register(builder)?;
    let mut selection = json!({"residentKey": "preferred", "userVerification": "preferred", "requireResidentKey": false});
    if let Some(a) = attachment.filter(|_| attach.is_some()) {
        selection["authenticatorAttachment"] = json!(a);
    }
    let options = json!({
        "challenge": B64URL.encode(ccr.public_key.challenge.as_ref()),
        "rp": {"name": rp_name(auth), "id": rp_id(auth)},
        "user": {"id": B64URL.encode(handle.as_bytes()), "name": name, "displayName": display},
        "pubKeyCredParams": ALGS.iter().map(|(_, id)| json!({"alg": id, "type": "public-key"})).collect::<Vec<_>>(),
        "timeout": TIMEOUT_MS,
        "attestation": "none",
        "excludeCredentials": exclude.iter().map(descriptor).collect::<Vec<_>>(),
        "authenticatorSelection": selection,
        "extensions": {"credProps": true},
        "hints": [],
    });
    Ok((options, state))
}

/// A new authentication ceremony. `allow` lists the signed-in user's passkeys; empty, the
/// browser offers any discoverable credential of this relying party (usernameless sign-in).
pub fn authentication(
    auth: &Auth,
    allow: &[PasskeyRow],
) -> Result<(Value, webauthn_rs_core::proto::AuthenticationState), webauthn_rs_core::error::WebauthnError> {
    let core = core(auth);
    // The credential is identified from the response; its key is set on the state then.
    let builder = core.new_challenge_authenticate_builder(Vec::new(), Some(UserVerificationPolicy::Preferred))?;
    let (rcr, state) = core.generate_challenge_authenticate(builder)?;
    let mut options = serde_json::Map::new();
    options.insert("rpId".into(), json!(rp_id(auth)));
    options.insert("challenge".into(), json!(B64URL.encode(rcr.public_key.challenge.as_ref())));
    if !allow.is_empty() {
        options.insert("allowCredentials".into(), allow.iter().map(descriptor).collect());
    }
    options.insert("timeout".into(), json!(TIMEOUT_MS));
    options.insert("userVerification".into(), json!("preferred"));
    Ok((Value::Object(options), state))
}

/// `{id, transports?, type}` of one passkey, as SimpleWebAuthn lists credentials.
fn descriptor(p: &PasskeyRow) -> Value {
    let mut d = serde_json::Map::new();
    d.insert("id".into(), json!(p.credential_id));
    if let Some(t) = p.transports.as_deref().filter(|t| !t.is_empty()) {
        d.insert("transports".into(), t.split(',').collect());
    }
    d.insert("type".into(), json!("public-key"));
    Value::Object(d)
}

/// What the authenticator data of a registration says beyond webauthn-rs-core's `Credential`:
/// the COSE key exactly as the authenticator encoded it, and the AAGUID.
pub struct Attested {
    pub cose_key: Vec<u8>,
    pub aaguid: String,
}

/// Reads the attested credential data of an attestation object (CBOR, by serde_cbor_2): flags at
/// byte 32, the AAGUID at 37..53, the credential id's length and id, then one CBOR item, the key.
pub fn attested(attestation_object: &[u8]) -> Option<Attested> {
    #[derive(serde::Deserialize)]
    struct Outer {
        #[serde(rename = "authData", with = "serde_bytes_compat")]
        auth_data: Vec<u8>,
    }
    let outer: Outer = serde_cbor_2::from_slice(attestation_object).ok()?;
    let d = outer.auth_data;
    if d.len() < 55 || d[32] & 0x40 == 0 {
        return None;
    }
    let aaguid: [u8; 16] = d[37..53].try_into().ok()?;
    let id_len = usize::from(u16::from_be_bytes([d[53], d[54]]));
    let key_start = 55usize.checked_add(id_len)?;
    let rest = d.get(key_start..)?;
    let mut de = serde_cbor_2::Deserializer::from_slice(rest);
    serde::de::IgnoredAny::deserialize(&mut de).ok()?;
    let key = rest.get(..de.byte_offset())?.to_vec();
    Some(Attested { cose_key: key, aaguid: crate::crypto::hyphenated_uuid(aaguid) })
}

/// `authData` is a CBOR byte string: read it as bytes, not as a sequence of numbers.
mod serde_bytes_compat {
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
        }
        d.deserialize_bytes(V)
    }
}

use serde::Deserialize as _;

/// webauthn-rs-core's view of a stored passkey (`publicKey` is base64 of the COSE key bytes,
/// `credentialID` base64url). `None` when the row is unreadable.
pub fn credential(p: &PasskeyRow) -> Option<Credential> {
    let cose = STANDARD.decode(&p.public_key).ok()?;
    let value: serde_cbor_2::Value = serde_cbor_2::from_slice(&cose).ok()?;
    let key = COSEKey::try_from(&value).ok()?;
    let id = B64URL.decode(p.credential_id.trim_end_matches('=')).ok()?;
    Some(Credential {
        cred_id: id.into(),
        cred: key,
        counter: u32::try_from(p.counter).unwrap_or(0),
        transports: None,
        user_verified: false,
        backup_eligible: p.device_type == "multiDevice",
        backup_state: p.backed_up,
        registration_policy: UserVerificationPolicy::Preferred,
        extensions: RegisteredExtensions::default(),
        attestation: ParsedAttestation::default(),
        attestation_format: AttestationFormat::None,
    })
}
