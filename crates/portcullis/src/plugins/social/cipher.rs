//! Better Auth's `symmetricEncrypt` now lives in [`crate::crypto::symmetric`] (the jwt capability
//! encrypts its private keys with it too); this path stays so social code and its callers keep
//! compiling unchanged.

pub use crate::crypto::symmetric::*;
