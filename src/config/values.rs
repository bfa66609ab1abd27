//! The scalar forms every configuration section accepts: a duration in milliseconds or
//! seconds ([`Number`], [`duration`]), a secret as a string or bytes, a setting under two
//! names ([`one_of`]) and a count of at least one. Each check names its key, what was
//! expected and what arrived. This module must not know any section's keys. Guarded by
//! `config::tests::bad_values_name_the_key_what_was_expected_and_what_arrived` and
//! `config::tests::a_setting_given_under_two_names_is_refused`.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use super::{ConfigError, Secret};

/// A number ≥ 0 (a duration in the unit its key names), checked by its visitor so the
/// error says what was expected.
#[derive(Clone, Copy)]
pub(super) struct Number(pub(super) f64);

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Number;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number >= 0")
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Number, E> {
                Ok(Number(n as f64))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Number, E> {
                if n < 0 {
                    return Err(E::invalid_value(de::Unexpected::Signed(n), &self));
                }
                Ok(Number(n as f64))
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Number, E> {
                if !(n >= 0.0 && n.is_finite()) {
                    return Err(E::invalid_value(de::Unexpected::Float(n), &self));
                }
                Ok(Number(n))
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Secret;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-empty string (or an array of bytes)")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Secret, E> {
                Ok(Secret(text.as_bytes().to_vec()))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Secret, A::Error> {
                let mut bytes = Vec::new();
                while let Some(byte) = seq.next_element::<u8>()? {
                    bytes.push(byte);
                }
                Ok(Secret(bytes))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// One setting that may come under two names; both given is a conflict.
pub(super) fn one_of<T>(
    a: Option<T>,
    a_key: &str,
    b: Option<T>,
    b_key: &str,
) -> Result<Option<T>, ConfigError> {
    match (a, b) {
        (Some(_), Some(_)) => Err(ConfigError::Conflict {
            key: a_key.to_owned(),
            other: b_key.to_owned(),
        }),
        (a, b) => Ok(a.or(b)),
    }
}

/// A duration from milliseconds (`…Ms`) or seconds (Python's names); `positive` refuses 0.
pub(super) fn duration(
    ms: Option<Number>,
    ms_key: &str,
    s: Option<Number>,
    s_key: &str,
    positive: bool,
) -> Result<Option<Duration>, ConfigError> {
    let from_seconds = s.is_some();
    let Some(n) = one_of(ms.map(|n| n.0), ms_key, s.map(|n| n.0), s_key)? else {
        return Ok(None);
    };
    let (secs, key, given) = if from_seconds {
        (n, s_key, format!("{n} seconds"))
    } else {
        (n / 1000.0, ms_key, format!("{n} milliseconds"))
    };
    let expected = if positive {
        "a duration > 0"
    } else {
        "a duration >= 0"
    };
    match Duration::try_from_secs_f64(secs) {
        Ok(d) if !(positive && d.is_zero()) => Ok(Some(d)),
        _ => Err(ConfigError::bad(key, expected, given)),
    }
}

/// A count that must be at least 1 when given.
pub(super) fn at_least_one<T: PartialEq + From<u8> + fmt::Display>(
    value: Option<T>,
    key: &str,
) -> Result<Option<T>, ConfigError> {
    match value {
        Some(n) if n == T::from(0) => Err(ConfigError::bad(key, "an integer >= 1", "0")),
        other => Ok(other),
    }
}
