//! Lenient number (de)serialisation, the way Mesos' JSON parser reads numbers.
//!
//! Mesos (stout's JSON → protobuf) accepts a number either as a JSON number or as a quoted
//! string (`"31000"`, `"Infinity"`), and the generic protobuf JSON mapping writes 64-bit
//! integers as strings. [`Num`] reads both forms and writes plain JSON numbers, except for
//! non-finite doubles, which JSON numbers cannot carry and are written as strings.

use serde::Serializer;
use serde::de::{self, Deserializer, Visitor};
use serde_with::{DeserializeAs, SerializeAs};
use std::fmt;
use std::marker::PhantomData;

/// `serde_as` adapter: a number that may arrive as a JSON number or a quoted string.
pub struct Num;

/// Numbers [`Num`] can carry.
pub trait LenientNumber: Sized + Copy {
    /// Reads the value from a string such as `"31000"` or `"Infinity"`.
    fn from_text(s: &str) -> Option<Self>;
    /// Converts from an integer JSON number.
    fn from_i128(v: i128) -> Option<Self>;
    /// Converts from a floating-point JSON number.
    fn from_f64(v: f64) -> Option<Self>;
    /// Writes the value.
    fn write<S: Serializer>(self, s: S) -> Result<S::Ok, S::Error>;
}

macro_rules! int_number {
    ($($t:ty),*) => {$(
        impl LenientNumber for $t {
            fn from_text(s: &str) -> Option<Self> {
                s.trim().parse().ok()
            }
            fn from_i128(v: i128) -> Option<Self> {
                <$t>::try_from(v).ok()
            }
            fn from_f64(v: f64) -> Option<Self> {
                (v.fract() == 0.0 && v >= <$t>::MIN as f64 && v <= <$t>::MAX as f64).then(|| v as $t)
            }
            fn write<S: Serializer>(self, s: S) -> Result<S::Ok, S::Error> {
                serde::Serialize::serialize(&self, s)
            }
        }
    )*};
}
int_number!(u32, i32, u64, i64);

impl LenientNumber for f64 {
    fn from_text(s: &str) -> Option<Self> {
        match s.trim() {
            "Infinity" | "inf" => Some(f64::INFINITY),
            "-Infinity" | "-inf" => Some(f64::NEG_INFINITY),
            "NaN" | "nan" => Some(f64::NAN),
            other => other.parse().ok(),
        }
    }
    fn from_i128(v: i128) -> Option<Self> {
        Some(v as f64)
    }
    fn from_f64(v: f64) -> Option<Self> {
        Some(v)
    }
    fn write<S: Serializer>(self, s: S) -> Result<S::Ok, S::Error> {
        if self.is_finite() {
            s.serialize_f64(self)
        } else if self.is_nan() {
            s.serialize_str("NaN")
        } else if self > 0.0 {
            s.serialize_str("Infinity")
        } else {
            s.serialize_str("-Infinity")
        }
    }
}

impl<T: LenientNumber> SerializeAs<T> for Num {
    fn serialize_as<S: Serializer>(source: &T, serializer: S) -> Result<S::Ok, S::Error> {
        source.write(serializer)
    }
}

impl<'de, T: LenientNumber> DeserializeAs<'de, T> for Num {
    fn deserialize_as<D: Deserializer<'de>>(deserializer: D) -> Result<T, D::Error> {
        deserializer.deserialize_any(NumVisitor(PhantomData))
    }
}

struct NumVisitor<T>(PhantomData<T>);

impl<T: LenientNumber> Visitor<'_> for NumVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number, or a number in a string")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        T::from_i128(v.into()).ok_or_else(|| E::custom(format!("number {v} is out of range")))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        T::from_i128(v.into()).ok_or_else(|| E::custom(format!("number {v} is out of range")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        T::from_f64(v).ok_or_else(|| E::custom(format!("number {v} is not valid here")))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        T::from_text(v).ok_or_else(|| E::custom(format!("{v:?} is not a number")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};
    use serde_with::serde_as;

    #[serde_as]
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct S {
        #[serde_as(as = "Num")]
        u: u64,
        #[serde_as(as = "Option<Num>")]
        f: Option<f64>,
    }

    #[test]
    fn reads_numbers_and_quoted_numbers() {
        let a: S = serde_json::from_str(r#"{"u":"31000","f":"Infinity"}"#).unwrap();
        assert_eq!(a.u, 31000);
        assert_eq!(a.f, Some(f64::INFINITY));
        let b: S = serde_json::from_str(r#"{"u":31000,"f":0.5}"#).unwrap();
        assert_eq!(b, S { u: 31000, f: Some(0.5) });
        assert_eq!(serde_json::to_string(&a).unwrap(), r#"{"u":31000,"f":"Infinity"}"#);
    }

    #[test]
    fn rejects_out_of_range_and_garbage() {
        let err = serde_json::from_str::<S>(r#"{"u":-1}"#).unwrap_err();
        assert!(err.to_string().contains("out of range"), "{err}");
        let err = serde_json::from_str::<S>(r#"{"u":"abc"}"#).unwrap_err();
        assert!(err.to_string().contains("not a number"), "{err}");
        let err = serde_json::from_str::<S>(r#"{"u":1.5}"#).unwrap_err();
        assert!(err.to_string().contains("not valid"), "{err}");
    }
}
