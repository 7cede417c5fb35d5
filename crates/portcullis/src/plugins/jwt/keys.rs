//! Signing keys in Better Auth's JWK shapes: generation, the stored private JWK, and JWS signing.
//!
//! Owns: turning an algorithm into a fresh key pair exported as public and private JWKs exactly as
//! jose's `exportJWK` writes them (so Better Auth can read rows Portcullis wrote and the other way
//! round), importing a private JWK back into a signer, and producing the JWS signature.
//!
//! Signing is done by `ring` (constant-time implementations, the same library rustls and
//! jsonwebtoken use). `ring` cannot generate RSA keys, so the `rsa` crate makes those; it is never
//! used to sign (its private-key operations are not constant time, RUSTSEC-2023-0071, which
//! generation does not expose).
//!
//! Must never: log or format key material (no `Debug` on anything holding a private key), or accept
//! a key whose type does not match its algorithm.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use serde::{Deserialize, Serialize};

/// The algorithms Portcullis generates keys for (Better Auth's `keyPairConfig.alg`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
pub enum Alg {
    /// Ed25519: Better Auth's default.
    #[default]
    EdDSA,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit modulus (jose's default).
    RS256,
}

impl Alg {
    pub fn as_str(self) -> &'static str {
        match self {
            Alg::EdDSA => "EdDSA",
            Alg::ES256 => "ES256",
            Alg::RS256 => "RS256",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "EdDSA" => Some(Alg::EdDSA),
            "ES256" => Some(Alg::ES256),
            "RS256" => Some(Alg::RS256),
            _ => None,
        }
    }
    /// The `crv` column Better Auth stores (none for RSA).
    pub fn crv(self) -> Option<&'static str> {
        match self {
            Alg::EdDSA => Some("Ed25519"),
            Alg::ES256 => Some("P-256"),
            Alg::RS256 => None,
        }
    }
}

/// A JWK as Better Auth stores it; only the members used by the three key types. (Member order
/// differs from jose's per-type order; JSON readers do not care.)
#[derive(Clone, Default, Deserialize, Serialize)]
pub struct JwkJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kty: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub d: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dq: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qi: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
}

impl JwkJson {
    /// The public half (drops every private member).
    pub fn public(&self) -> JwkJson {
        JwkJson {
            kty: self.kty.clone(),
            crv: self.crv.clone(),
            n: self.n.clone(),
            e: self.e.clone(),
            x: self.x.clone(),
            y: self.y.clone(),
            ..Default::default()
        }
    }

    /// Whether this key's type fits `alg` (a row whose `alg` and key disagree is never used).
    pub fn fits(&self, alg: Alg) -> bool {
        match alg {
            Alg::EdDSA => self.kty.as_deref() == Some("OKP") && self.crv.as_deref() == Some("Ed25519"),
            Alg::ES256 => self.kty.as_deref() == Some("EC") && self.crv.as_deref() == Some("P-256"),
            Alg::RS256 => self.kty.as_deref() == Some("RSA"),
        }
    }
}

/// A freshly generated key pair.
pub struct Generated {
    pub public: JwkJson,
    pub private: JwkJson,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key generation failed")]
    Generate,
    #[error("the stored key does not match its algorithm or is malformed")]
    Malformed,
}

fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

fn unb64(s: &Option<String>) -> Result<Vec<u8>, KeyError> {
    s.as_deref().and_then(|s| B64.decode(s.trim_end_matches('=')).ok()).ok_or(KeyError::Malformed)
}

/// Generates a key pair. RSA takes tens to hundreds of milliseconds: call it off the async runtime.
pub fn generate(alg: Alg) -> Result<Generated, KeyError> {
    match alg {
        Alg::EdDSA => {
            let mut seed = [0u8; 32];
            OsRng.fill_bytes(&mut seed);
            let kp = Ed25519KeyPair::from_seed_unchecked(&seed).map_err(|_| KeyError::Generate)?;
            let x = b64(kp.public_key().as_ref());
            let public = JwkJson { crv: Some("Ed25519".into()), x: Some(x.clone()), kty: Some("OKP".into()), ..Default::default() };
            let private = JwkJson { d: Some(b64(&seed)), ..public.clone() };
            Ok(Generated { public, private })
        }
        Alg::ES256 => {
            let rng = SystemRandom::new();
            let doc = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).map_err(|_| KeyError::Generate)?;
            let kp = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref(), &rng)
                .map_err(|_| KeyError::Generate)?;
            let point = kp.public_key().as_ref();
            // ring's PKCS#8 holds an RFC 5915 ECPrivateKey: `INTEGER 1, OCTET STRING (32) d, ...`.
            let d = find_ec_scalar(doc.as_ref()).ok_or(KeyError::Generate)?;
            // Re-import from the raw parts: proves the scalar we found is the one that matches.
            EcdsaKeyPair::from_private_key_and_public_key(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, d, point, &rng)
                .map_err(|_| KeyError::Generate)?;
            if point.len() != 65 {
                return Err(KeyError::Generate);
            }
            let public = JwkJson {
                kty: Some("EC".into()),
                x: Some(b64(&point[1..33])),
                y: Some(b64(&point[33..65])),
                crv: Some("P-256".into()),
                ..Default::default()
            };
            let private = JwkJson { d: Some(b64(d)), ..public.clone() };
            Ok(Generated { public, private })
        }
        Alg::RS256 => {
            use rsa::traits::{PrivateKeyParts, PublicKeyParts};
            let key = rsa::RsaPrivateKey::new(&mut OsRng, 2048).map_err(|_| KeyError::Generate)?;
            let [p, q] = key.primes() else { return Err(KeyError::Generate) };
            let one = rsa::BigUint::from(1u8);
            let dp = key.d() % (p - &one);
            let dq = key.d() % (q - &one);
            let qi = key.crt_coefficient().ok_or(KeyError::Generate)?;
            let public = JwkJson {
                kty: Some("RSA".into()),
                n: Some(b64(&key.n().to_bytes_be())),
                e: Some(b64(&key.e().to_bytes_be())),
                ..Default::default()
            };
            let private = JwkJson {
                d: Some(b64(&key.d().to_bytes_be())),
                p: Some(b64(&p.to_bytes_be())),
                q: Some(b64(&q.to_bytes_be())),
                dp: Some(b64(&dp.to_bytes_be())),
                dq: Some(b64(&dq.to_bytes_be())),
                qi: Some(b64(&qi.to_bytes_be())),
                ..public.clone()
            };
            Ok(Generated { public, private })
        }
    }
}

fn find_ec_scalar(doc: &[u8]) -> Option<&[u8]> {
    const MARK: [u8; 5] = [0x02, 0x01, 0x01, 0x04, 0x20];
    let at = doc.windows(MARK.len()).position(|w| w == MARK)? + MARK.len();
    doc.get(at..at + 32)
}

/// A private key ready to sign. Deliberately not `Debug`.
pub enum Signer {
    Ed(Ed25519KeyPair),
    Ec(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

impl Signer {
    /// Imports a private JWK for `alg`.
    pub fn from_jwk(alg: Alg, jwk: &JwkJson) -> Result<Self, KeyError> {
        if !jwk.fits(alg) {
            return Err(KeyError::Malformed);
        }
        match alg {
            Alg::EdDSA => {
                let seed = unb64(&jwk.d)?;
                let kp = Ed25519KeyPair::from_seed_unchecked(&seed).map_err(|_| KeyError::Malformed)?;
                // A JWK whose `x` disagrees with its `d` would publish a key that verifies nothing.
                if jwk.x.is_some() && unb64(&jwk.x)? != kp.public_key().as_ref() {
                    return Err(KeyError::Malformed);
                }
                Ok(Signer::Ed(kp))
            }
            Alg::ES256 => {
                let d = unb64(&jwk.d)?;
                let mut point = vec![0x04];
                point.extend(unb64(&jwk.x)?);
                point.extend(unb64(&jwk.y)?);
                let kp = EcdsaKeyPair::from_private_key_and_public_key(
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    &d,
                    &point,
                    &SystemRandom::new(),
                )
                .map_err(|_| KeyError::Malformed)?;
                Ok(Signer::Ec(kp))
            }
            Alg::RS256 => {
                let parts = [&jwk.n, &jwk.e, &jwk.d, &jwk.p, &jwk.q, &jwk.dp, &jwk.dq, &jwk.qi].map(unb64);
                let [n, e, d, p, q, dp, dq, qi] = parts;
                let components = ring::rsa::KeyPairComponents {
                    public_key: ring::rsa::PublicKeyComponents { n: n?, e: e? },
                    d: d?,
                    p: p?,
                    q: q?,
                    dP: dp?,
                    dQ: dq?,
                    qInv: qi?,
                };
                RsaKeyPair::from_components(&components).map(Signer::Rsa).map_err(|_| KeyError::Malformed)
            }
        }
    }

    /// The JWS signature of `msg` (`r‖s` for ECDSA, as JWS requires).
    pub fn sign(&self, rng: &SystemRandom, msg: &[u8]) -> Option<Vec<u8>> {
        match self {
            Signer::Ed(kp) => Some(kp.sign(msg).as_ref().to_vec()),
            Signer::Ec(kp) => kp.sign(rng, msg).ok().map(|s| s.as_ref().to_vec()),
            Signer::Rsa(kp) => {
                let mut sig = vec![0u8; kp.public().modulus_len()];
                kp.sign(&signature::RSA_PKCS1_SHA256, rng, msg, &mut sig).ok()?;
                Some(sig)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(alg: Alg) {
        let g = generate(alg).unwrap();
        assert!(g.public.fits(alg) && g.private.d.is_some() && g.public.d.is_none());
        let signer = Signer::from_jwk(alg, &g.private).unwrap();
        let sig = signer.sign(&SystemRandom::new(), b"header.payload").unwrap();
        // Verify with jsonwebtoken from the public JWK, as a relying party would.
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(serde_json::to_value(&g.public).unwrap()).unwrap();
        let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
        let jalg = match alg {
            Alg::EdDSA => jsonwebtoken::Algorithm::EdDSA,
            Alg::ES256 => jsonwebtoken::Algorithm::ES256,
            Alg::RS256 => jsonwebtoken::Algorithm::RS256,
        };
        assert!(jsonwebtoken::crypto::verify(&B64.encode(sig), b"header.payload", &key, jalg).unwrap());
        // The wrong key type for the algorithm is refused.
        let other = if alg == Alg::EdDSA { Alg::ES256 } else { Alg::EdDSA };
        assert!(Signer::from_jwk(other, &g.private).is_err());
    }

    #[test]
    fn eddsa_round_trip() {
        round_trip(Alg::EdDSA);
    }
    #[test]
    fn es256_round_trip() {
        round_trip(Alg::ES256);
    }
    #[test]
    fn rs256_round_trip() {
        round_trip(Alg::RS256);
    }

    #[test]
    fn ed25519_public_jwk_shape() {
        let g = generate(Alg::EdDSA).unwrap();
        let v = serde_json::to_value(&g.public).unwrap();
        assert_eq!(v.as_object().unwrap().len(), 3);
        assert_eq!((v["kty"].as_str(), v["crv"].as_str()), (Some("OKP"), Some("Ed25519")));
        assert_eq!(v["x"].as_str().unwrap().len(), 43);
    }

    #[test]
    fn mismatched_public_key_is_refused() {
        let a = generate(Alg::EdDSA).unwrap();
        let b = generate(Alg::EdDSA).unwrap();
        let mixed = JwkJson { x: b.public.x.clone(), ..a.private.clone() };
        assert!(Signer::from_jwk(Alg::EdDSA, &mixed).is_err());
        assert!(Signer::from_jwk(Alg::EdDSA, &JwkJson::default()).is_err());
    }
}
