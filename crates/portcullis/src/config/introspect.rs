//! The field names of a `#[derive(Deserialize)]` struct, as serde gives them to a deserializer:
//! how `Config::from_toml` tells core keys from capabilities' sections without a second list.

use serde::de::{self, Deserialize, Deserializer, Visitor};

struct Capture(Option<&'static [&'static str]>);

#[derive(Debug)]
struct Stop;
impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stop")
    }
}
impl std::error::Error for Stop {}
impl de::Error for Stop {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        Stop
    }
}

impl<'de> Deserializer<'de> for &mut Capture {
    type Error = Stop;
    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
        Err(Stop)
    }
    fn deserialize_struct<V: Visitor<'de>>(self, _: &'static str, fields: &'static [&'static str], _: V) -> Result<V::Value, Stop> {
        self.0 = Some(fields);
        Err(Stop)
    }
    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

/// `T`'s field names (serde names, after renames); empty if `T` is not a struct.
pub fn fields<T: for<'de> Deserialize<'de>>() -> &'static [&'static str] {
    let mut c = Capture(None);
    let _ = T::deserialize(&mut c);
    c.0.unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    #[test]
    fn config_fields_are_its_keys() {
        let f = super::fields::<super::super::Config>();
        for k in ["base_url", "session", "advanced", "secondary_storage", "server"] {
            assert!(f.contains(&k), "{k} in {f:?}");
        }
        assert!(!f.contains(&"sections"), "skipped fields are not keys");
    }
}
