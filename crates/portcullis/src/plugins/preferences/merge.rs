//! The merge rule, pure: a patch of keys with their timestamps applied to a stored document and
//! its per-key timestamps.
//!
//! Per key, the newer timestamp wins; on a tie the stored value stays (so the outcome does not
//! depend on which of two equal writes arrives first). A `null` value deletes the key, and its
//! timestamp stays in the meta map as a tombstone, so an older write of the same key arriving
//! later cannot bring it back. Timestamps are epoch milliseconds; clients may send ISO-8601
//! strings, which are read as such.
//!
//! Must never: let an older timestamp overwrite a newer one, or accept a patch key without its
//! timestamp.

use super::errors;
use crate::error::ApiError;
use serde_json::{Map, Value};

/// A document with its per-key timestamps (ms).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Doc {
    pub values: Map<String, Value>,
    pub meta: Map<String, Value>,
}

/// The longest key a patch may name, in bytes: tombstones keep deleted keys, so key length bounds
/// what a user can pile into the meta map.
pub const MAX_KEY_BYTES: usize = 128;

/// A validated patch: each key's new value (`Null` deletes) and its timestamp.
#[derive(Debug, Clone, PartialEq)]
pub struct Patch(pub Vec<(String, Value, i64)>);

/// Epoch milliseconds from a number or an ISO-8601 string.
pub fn timestamp(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64)),
        Value::String(s) => crate::fields::parse_date(s).map(|t| t.timestamp_millis()),
        _ => None,
    }
}

impl Patch {
    /// Pairs each key of `patch` with its timestamp in `meta`. Refused: a key without a readable
    /// timestamp, a timestamp for a key the patch does not carry, more than `max_keys` keys, or a
    /// timestamp more than `max_skew_ms` ahead of `now_ms`.
    pub fn new(
        patch: &Map<String, Value>,
        meta: &Map<String, Value>,
        max_keys: usize,
        now_ms: i64,
        max_skew_ms: i64,
    ) -> Result<Patch, ApiError> {
        if patch.len() > max_keys {
            return Err(errors::TOO_MANY_PREFERENCE_KEYS.with_message(format!("A patch may carry at most {max_keys} keys")));
        }
        if let Some(k) = meta.keys().find(|k| !patch.contains_key(*k)) {
            return Err(errors::INVALID_PREFERENCES_PATCH.with_message(format!("meta.{k} has no value in patch")));
        }
        let mut out = Vec::with_capacity(patch.len());
        for (k, v) in patch {
            if k.is_empty() || k.len() > MAX_KEY_BYTES {
                return Err(errors::INVALID_PREFERENCES_PATCH.with_message(format!("Keys are 1 to {MAX_KEY_BYTES} bytes long")));
            }
            let Some(ts) = meta.get(k).and_then(timestamp) else {
                return Err(errors::INVALID_PREFERENCES_PATCH
                    .with_message(format!("patch.{k} needs a timestamp in meta.{k} (epoch milliseconds or ISO-8601)")));
            };
            if ts > now_ms.saturating_add(max_skew_ms) {
                return Err(errors::PREFERENCE_TIMESTAMP_IN_FUTURE.with_message(format!("meta.{k} is ahead of the server's clock")));
            }
            out.push((k.clone(), v.clone(), ts));
        }
        Ok(Patch(out))
    }
}

impl Doc {
    /// Applies `patch`; true when anything changed.
    pub fn apply(&mut self, patch: &Patch) -> bool {
        let mut changed = false;
        for (k, v, ts) in &patch.0 {
            let stored = self.meta.get(k).and_then(timestamp);
            if stored.is_some_and(|s| s >= *ts) {
                continue;
            }
            if v.is_null() {
                self.values.remove(k);
            } else {
                self.values.insert(k.clone(), v.clone());
            }
            self.meta.insert(k.clone(), Value::from(*ts));
            changed = true;
        }
        changed
    }

    /// Keeps at most `max` tombstones (timestamps of deleted keys), dropping the oldest: past that
    /// bound, a write older than a dropped tombstone could bring its key back.
    pub fn prune_tombstones(&mut self, max: usize) {
        let mut dead: Vec<(i64, String)> =
            self.meta.iter().filter(|(k, _)| !self.values.contains_key(*k)).map(|(k, v)| (timestamp(v).unwrap_or(0), k.clone())).collect();
        if dead.len() <= max {
            return;
        }
        dead.sort();
        let excess = dead.len() - max;
        for (_, k) in dead.into_iter().take(excess) {
            self.meta.remove(&k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patch(p: Value, m: Value) -> Patch {
        Patch::new(p.as_object().unwrap(), m.as_object().unwrap(), 10, 1_000_000, 1_000).unwrap()
    }

    #[test]
    fn newest_timestamp_wins_in_any_order() {
        let a = patch(json!({"theme": "dark"}), json!({"theme": 200}));
        let b = patch(json!({"theme": "light"}), json!({"theme": 100}));
        for order in [[&a, &b], [&b, &a]] {
            let mut d = Doc::default();
            for p in order {
                d.apply(p);
            }
            assert_eq!(d.values, *json!({"theme": "dark"}).as_object().unwrap());
            assert_eq!(d.meta, *json!({"theme": 200}).as_object().unwrap());
        }
    }

    #[test]
    fn ties_keep_the_stored_value_and_stale_patches_change_nothing() {
        let mut d = Doc::default();
        assert!(d.apply(&patch(json!({"k": 1}), json!({"k": 50}))));
        assert!(!d.apply(&patch(json!({"k": 2}), json!({"k": 50}))));
        assert!(!d.apply(&patch(json!({"k": 3}), json!({"k": 10}))));
        assert_eq!(d.values["k"], 1);
    }

    #[test]
    fn null_deletes_and_leaves_a_tombstone() {
        let mut d = Doc::default();
        d.apply(&patch(json!({"k": 1, "j": 2}), json!({"k": 10, "j": 10})));
        d.apply(&patch(json!({"k": null}), json!({"k": 20})));
        assert_eq!(d.values, *json!({"j": 2}).as_object().unwrap());
        // An older write of the deleted key does not bring it back.
        assert!(!d.apply(&patch(json!({"k": 5}), json!({"k": 15}))));
        assert!(d.values.get("k").is_none());
    }

    #[test]
    fn oldest_tombstones_go_first() {
        let mut d = Doc::default();
        d.apply(&patch(json!({"live": 1, "a": null, "b": null, "c": null}), json!({"live": 1, "a": 30, "b": 10, "c": 20})));
        d.prune_tombstones(2);
        assert_eq!(d.meta, *json!({"live": 1, "a": 30, "c": 20}).as_object().unwrap());
    }

    #[test]
    fn iso_timestamps_and_refusals() {
        assert_eq!(timestamp(&json!("1970-01-01T00:00:01.500Z")), Some(1500));
        assert_eq!(timestamp(&json!(12.9)), Some(12));
        assert_eq!(timestamp(&json!("yesterday")), None);
        let m = |v: Value| v.as_object().unwrap().clone();
        let e = Patch::new(&m(json!({"k": 1})), &m(json!({})), 10, 0, 0).unwrap_err();
        assert_eq!(e.code, Some("INVALID_PREFERENCES_PATCH"));
        let e = Patch::new(&m(json!({"k": 1})), &m(json!({"k": 1, "x": 1})), 10, 0, 0).unwrap_err();
        assert_eq!(e.code, Some("INVALID_PREFERENCES_PATCH"));
        let e = Patch::new(&m(json!({"k": 1})), &m(json!({"k": 5000})), 10, 1000, 1000).unwrap_err();
        assert_eq!(e.code, Some("PREFERENCE_TIMESTAMP_IN_FUTURE"));
        let e = Patch::new(&m(json!({"a": 1, "b": 1})), &m(json!({"a": 1, "b": 1})), 1, 0, 0).unwrap_err();
        assert_eq!(e.code, Some("TOO_MANY_PREFERENCE_KEYS"));
    }
}
