//! A software WebAuthn authenticator (what a browser and a platform authenticator do together):
//! makes ES256 (P-256) or Ed25519 credentials with attestation `none`, answers
//! `navigator.credentials.create()` / `.get()` options as the JSON SimpleWebAuthn's browser
//! library posts, and signs assertions with a counter the test controls. CBOR by serde_cbor_2,
//! signatures by ring.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use serde_cbor_2::Value as Cbor;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

pub enum Key {
    Es256(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

pub struct Authenticator {
    pub origin: String,
    pub credential_id: Vec<u8>,
    pub key: Key,
    /// The signature counter the next assertion carries.
    pub counter: u32,
    pub user_handle: Option<String>,
    /// A synced passkey: backup eligible and backed up (flags BE and BS).
    pub synced: bool,
}

impl Authenticator {
    pub fn es256(origin: &str) -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng).unwrap();
        Self::with(origin, Key::Es256(key))
    }
    pub fn ed25519(origin: &str) -> Self {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        Self::with(origin, Key::Ed25519(Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap()))
    }
    fn with(origin: &str, key: Key) -> Self {
        let credential_id: Vec<u8> = (0..16).map(|_| rand::random::<u8>()).collect();
        Self { origin: origin.into(), credential_id, key, counter: 0, user_handle: None, synced: false }
    }

    pub fn id(&self) -> String {
        B64URL.encode(&self.credential_id)
    }

    /// The credential public key as COSE (CTAP2 canonical key order).
    pub fn cose_key(&self) -> Vec<u8> {
        let i = |n: i128| Cbor::Integer(n);
        let entries: Vec<(Cbor, Cbor)> = match &self.key {
            Key::Es256(k) => {
                let p = k.public_key().as_ref();
                vec![
                    (i(1), i(2)),
                    (i(3), i(-7)),
                    (i(-1), i(1)),
                    (i(-2), Cbor::Bytes(p[1..33].to_vec())),
                    (i(-3), Cbor::Bytes(p[33..65].to_vec())),
                ]
            }
            Key::Ed25519(k) => vec![(i(1), i(1)), (i(3), i(-8)), (i(-1), i(6)), (i(-2), Cbor::Bytes(k.public_key().as_ref().to_vec()))],
        };
        // Canonical CBOR orders keys by encoded length, then bytewise: 1, 3, -1, -2, -3.
        let mut out = vec![0xa0 | entries.len() as u8];
        for (k, v) in entries {
            out.extend(serde_cbor_2::to_vec(&k).unwrap());
            out.extend(serde_cbor_2::to_vec(&v).unwrap());
        }
        out
    }

    fn backup_flags(&self) -> u8 {
        if self.synced {
            0x18
        } else {
            0
        }
    }

    fn client_data(&self, kind: &str, challenge: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({"type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": false})).unwrap()
    }

    fn rp_hash(rp_id: &str) -> Vec<u8> {
        Sha256::digest(rp_id.as_bytes()).to_vec()
    }

    /// `navigator.credentials.create(options)` as posted to verify-registration.
    pub fn create(&mut self, options: &Value) -> Value {
        let rp_id = options["rp"]["id"].as_str().unwrap();
        self.user_handle = options["user"]["id"].as_str().map(str::to_string);
        let mut auth_data = Self::rp_hash(rp_id);
        auth_data.push(0x41 | self.backup_flags()); // user present, attested credential data
        auth_data.extend(self.counter.to_be_bytes());
        auth_data.extend([0u8; 16]); // AAGUID: none
        auth_data.extend((self.credential_id.len() as u16).to_be_bytes());
        auth_data.extend(&self.credential_id);
        auth_data.extend(self.cose_key());
        let mut att = BTreeMap::new();
        att.insert(Cbor::Text("fmt".into()), Cbor::Text("none".into()));
        att.insert(Cbor::Text("attStmt".into()), Cbor::Map(BTreeMap::new()));
        att.insert(Cbor::Text("authData".into()), Cbor::Bytes(auth_data));
        let attestation = serde_cbor_2::to_vec(&Cbor::Map(att)).unwrap();
        let client_data = self.client_data("webauthn.create", options["challenge"].as_str().unwrap());
        json!({
            "id": self.id(),
            "rawId": self.id(),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": B64URL.encode(&client_data),
                "attestationObject": B64URL.encode(&attestation),
                "transports": ["internal"],
            },
        })
    }

    /// `navigator.credentials.get(options)` as posted to verify-authentication.
    pub fn get(&mut self, options: &Value) -> Value {
        let rp_id = options["rpId"].as_str().unwrap();
        let mut auth_data = Self::rp_hash(rp_id);
        auth_data.push(0x01 | self.backup_flags()); // user present
        auth_data.extend(self.counter.to_be_bytes());
        let client_data = self.client_data("webauthn.get", options["challenge"].as_str().unwrap());
        let mut signed = auth_data.clone();
        signed.extend(Sha256::digest(&client_data));
        let signature = match &self.key {
            Key::Es256(k) => k.sign(&SystemRandom::new(), &signed).unwrap().as_ref().to_vec(),
            Key::Ed25519(k) => k.sign(&signed).as_ref().to_vec(),
        };
        json!({
            "id": self.id(),
            "rawId": self.id(),
            "type": "public-key",
            "response": {
                "clientDataJSON": B64URL.encode(&client_data),
                "authenticatorData": B64URL.encode(&auth_data),
                "signature": B64URL.encode(&signature),
                "userHandle": self.user_handle,
            },
        })
    }
}
