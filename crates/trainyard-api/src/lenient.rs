//! Lenient input helpers (every request body and query is read this way): integers as numbers or
//! numeric strings, empty strings as absent, scalars as strings.

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use std::fmt;

/// Parses a base-10 integer given as text (surrounding spaces allowed).
pub fn parse_i64(text: &str) -> Option<i64> {
    text.trim().parse::<i64>().ok()
}

struct I64Visitor;

impl<'de> Visitor<'de> for I64Visitor {
    type Value = Option<i64>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an integer or a string holding a base-10 integer")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        i64::try_from(v)
            .map(Some)
            .map_err(|_| E::custom("integer out of range"))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        if v.fract() == 0.0 && v.abs() < 9.0e15 {
            Ok(Some(v as i64))
        } else {
            Err(E::custom(format!("expected an integer, got {v}")))
        }
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        if v.trim().is_empty() {
            return Ok(None);
        }
        parse_i64(v)
            .map(Some)
            .ok_or_else(|| E::custom(format!("expected an integer, got \"{v}\"")))
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(I64Visitor)
    }
}

/// `Option<i64>` from a number, a numeric string, `null` or `""`.
pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    d.deserialize_any(I64Visitor)
}

/// `Option<f64>` from a number, a numeric string, `null` or `""`.
pub fn opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::Number(n) => n
            .as_f64()
            .map(Some)
            .ok_or_else(|| de::Error::custom(format!("expected a number, got {n}"))),
        serde_json::Value::String(s) if s.trim().is_empty() => Ok(None),
        serde_json::Value::String(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .map(Some)
            .ok_or_else(|| de::Error::custom(format!("expected a number, got \"{s}\""))),
        other => Err(de::Error::custom(format!("expected a number, got {other}"))),
    }
}

/// `Option<String>` where `null`, `""` and all-space strings mean absent.
pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v: Option<String> = Option::deserialize(d)?;
    Ok(v.filter(|s| !s.trim().is_empty()))
}

/// `Option<bool>` from a boolean or the strings "true"/"false".
pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::Bool(b) => Ok(Some(b)),
        serde_json::Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "" => Ok(None),
            "true" => Ok(Some(true)),
            "false" => Ok(Some(false)),
            _ => Err(de::Error::custom(format!(
                "expected a boolean, got \"{s}\""
            ))),
        },
        other => Err(de::Error::custom(format!(
            "expected a boolean, got {other}"
        ))),
    }
}

/// A scalar (string, number, boolean) rendered as its string form.
pub fn scalar_string(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        serde_json::Value::Null => Some(String::new()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct T {
        #[serde(default, deserialize_with = "opt_i64")]
        n: Option<i64>,
    }

    #[test]
    fn integers_as_numbers_or_strings() {
        let p = |s: &str| serde_json::from_str::<T>(s).map(|t| t.n);
        assert_eq!(p(r#"{"n": 5}"#).unwrap(), Some(5));
        assert_eq!(p(r#"{"n": "5"}"#).unwrap(), Some(5));
        assert_eq!(p(r#"{"n": " 12 "}"#).unwrap(), Some(12));
        assert_eq!(p(r#"{"n": ""}"#).unwrap(), None);
        assert_eq!(p(r#"{"n": null}"#).unwrap(), None);
        assert_eq!(p(r#"{}"#).unwrap(), None);
        assert!(p(r#"{"n": "abc"}"#).is_err());
        assert!(p(r#"{"n": 1.5}"#).is_err());
        assert!(p(r#"{"n": [1]}"#).is_err());
    }
}
