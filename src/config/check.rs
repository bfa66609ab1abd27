//! Validation that names the key: serde's own errors do not carry the path, so each key
//! is checked alone, nested sections first, and serde's message becomes a typed
//! [`ConfigError`]. This module must not know any setting. Guarded by the unit tests of
//! `config.rs` (`unknown_keys_are_refused_naming_the_key`, …).

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde_json::{Map, Value};

use super::ConfigError;

/// `value` as an error message shows it: its type and, for scalars, the value.
pub(super) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(flag) => format!("boolean {flag}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(text) => format!("string {text:?}"),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

/// The keys `T` accepts (canonical names and aliases), as serde's derive lists them.
pub(super) fn keys<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Capture<'a>(&'a mut &'static [&'static str]);
    impl<'de> Deserializer<'de> for Capture<'_> {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(de::Error::custom("captured"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
            enum identifier ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Capture(&mut fields));
    fields
}

/// The sections nested in a schema type, checked before their parent so that an error
/// inside one names its full path.
pub(super) trait Section: DeserializeOwned {
    fn nested(_key: &str, _value: &Value, _path: &str) -> Result<(), ConfigError> {
        Ok(())
    }
}

/// Refuses anything but an object, unknown keys, and values of the wrong type or range,
/// naming the key: each key is deserialized alone (every other field is optional).
pub(super) fn check<T: Section>(value: &Value, path: &str) -> Result<(), ConfigError> {
    let Value::Object(map) = value else {
        return Err(ConfigError::WrongType {
            key: path.to_owned(),
            expected: "an object".into(),
            found: describe(value),
        });
    };
    let join = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    let accepted = keys::<T>();
    for (key, item) in map {
        if !accepted.contains(&key.as_str()) {
            return Err(ConfigError::UnknownKey {
                key: join(key),
                expected: accepted.to_vec(),
            });
        }
        T::nested(key, item, &join(key))?;
        let alone = Value::Object(Map::from_iter([(key.clone(), item.clone())]));
        if let Err(error) = serde_json::from_value::<T>(alone) {
            return Err(serde_error(&join(key), &error, item));
        }
    }
    Ok(())
}

/// serde's message (`invalid type: string "x", expected a number >= 0`) as a typed error.
pub(super) fn serde_error(key: &str, error: &serde_json::Error, value: &Value) -> ConfigError {
    let message = error.to_string();
    let expected = message
        .split_once(", expected ")
        .map_or(message.as_str(), |(_, expected)| expected)
        .to_owned();
    let (key, found) = (key.to_owned(), describe(value));
    if message.starts_with("invalid type") {
        ConfigError::WrongType {
            key,
            expected,
            found,
        }
    } else {
        ConfigError::BadValue {
            key,
            expected,
            found,
        }
    }
}
