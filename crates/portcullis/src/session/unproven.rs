//! Better Auth's `revokeUnprovenAccountAccess` (1.7.24), used by sign-ins that prove control of
//! the address (magic link, e-mail OTP) when they resolve to a user whose `emailVerified` is false.
//!
//! Such a row carries no proof that what is linked to it belongs to the mailbox's owner: someone
//! may have signed up with the address first, set a password, and wait for the owner to come in
//! (account pre-hijacking). So before the owner gets a session, every account of the user (the
//! password included) and every session is deleted, then the address is marked verified.
//!
//! Concurrent proofs for one user take a lock first: the verification row
//! `revoke-unproven-account-access:<userId>` (5 s) with an id derived from the identifier, so the
//! primary key lets one caller in (Better Auth's `reserveVerificationValue`, same id, so a Better
//! Auth instance on the same database takes the same lock). A caller that finds it taken waits for
//! it (at most 2 s) and returns the user as it then is.

use super::hooks;
use crate::app::Auth;
use crate::config::GenerateId;
use crate::error::ApiResult;
use crate::store::model::{User, UserPatch, Verification};
use crate::store::StoreError;
use chrono::Duration;
use sha2::{Digest, Sha256};

const LOCK_SECONDS: i64 = 5;
const WAIT_MS: u64 = 2_000;
const POLL_MS: u64 = 250;

/// Deletes the accounts and sessions of unverified user `user_id` and marks it verified; returns
/// the user afterwards (`None` when it is gone). A user already verified is returned unchanged.
pub async fn revoke_unproven_access(auth: &Auth, user_id: &str) -> ApiResult<Option<User>> {
    let identifier = format!("revoke-unproven-account-access:{user_id}");
    let now = auth.now();
    let lock = Verification {
        id: reservation_id(auth.config.advanced.database.generate_id, &identifier),
        identifier: identifier.clone(),
        value: user_id.to_string(),
        expires_at: now + Duration::seconds(LOCK_SECONDS),
        created_at: now,
        updated_at: now,
    };
    match auth.store.create_verification(&lock).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            wait_for_lock(auth, &identifier).await?;
            return Ok(auth.store.find_user_by_id(user_id).await?);
        }
        Err(e) => return Err(e.into()),
    }
    let promoted = promote(auth, user_id).await;
    if let Err(e) = auth.store.consume_verification(&lock.id).await {
        tracing::warn!(error = %e, "could not release the unproven-access lock; it expires by itself");
    }
    promoted
}

async fn promote(auth: &Auth, user_id: &str) -> ApiResult<Option<User>> {
    let Some(user) = auth.store.find_user_by_id(user_id).await? else { return Ok(None) };
    if user.email_verified {
        return Ok(Some(user));
    }
    for account in auth.store.list_accounts(user_id).await? {
        auth.store.delete_account(&account.id).await?;
    }
    auth.sessions.delete_user_sessions(user_id, None, auth.now()).await?;
    let patch = UserPatch { email_verified: Some(true), ..Default::default() };
    Ok(hooks::update_user(auth, user_id, patch).await?)
}

/// Waits until the lock row is gone (or removes it once expired), for at most two seconds.
async fn wait_for_lock(auth: &Auth, identifier: &str) -> ApiResult<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(WAIT_MS);
    while std::time::Instant::now() < deadline {
        match auth.store.find_verification(identifier).await? {
            None => return Ok(()),
            Some(lock) if lock.expires_at <= auth.now() => {
                auth.store.delete_verifications(identifier).await?;
                return Ok(());
            }
            Some(_) => tokio::time::sleep(std::time::Duration::from_millis(POLL_MS)).await,
        }
    }
    Ok(())
}

/// Better Auth's `encodeDeterministicId(SHA-256("reserve:" + identifier))`: base64url without
/// padding, or with `generate_id = "uuid"` a UUID made of the first 16 bytes (version 5 bits).
fn reservation_id(how: GenerateId, identifier: &str) -> String {
    let digest = Sha256::digest(format!("reserve:{identifier}").as_bytes());
    if how != GenerateId::Uuid {
        use base64::Engine;
        return base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
    }
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    crate::crypto::hyphenated_uuid(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservation_ids_match_better_auth() {
        // node: crypto.createHash("sha256").update("reserve:revoke-unproven-account-access:u1").digest("base64url")
        assert_eq!(
            reservation_id(GenerateId::Random, "revoke-unproven-account-access:u1"),
            crate::crypto::sha256_b64url("reserve:revoke-unproven-account-access:u1")
        );
        let uuid = reservation_id(GenerateId::Uuid, "x");
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "5");
    }
}
