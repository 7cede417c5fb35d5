//! Cryptographic building blocks (random ids, signing, password hashing). Filled in by the crypto work.
