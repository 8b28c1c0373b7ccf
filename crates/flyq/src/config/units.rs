//! Values in human units for the config file: sizes ("1GiB", "512KiB", or a number of bytes),
//! durations ("7d", "500ms"). (Topic configs add "unlimited": see `topic_defaults`.)

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A number of bytes, written "1GiB", "64 KiB", "1MB" or as a plain integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Size(pub u64);

impl FromStr for Size {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        s.trim()
            .parse::<bytesize::ByteSize>()
            .map(|b| Size(b.as_u64()))
            .map_err(|e| format!("`{s}` is not a size like \"1GiB\" or \"512KiB\": {e}"))
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Exact binary units when the value has one, so printing and parsing round-trip.
        const UNITS: [(&str, u64); 4] = [
            ("TiB", 1 << 40),
            ("GiB", 1 << 30),
            ("MiB", 1 << 20),
            ("KiB", 1 << 10),
        ];
        for (unit, scale) in UNITS {
            if self.0 >= scale && self.0.is_multiple_of(scale) {
                return write!(f, "{}{unit}", self.0 / scale);
            }
        }
        write!(f, "{}B", self.0)
    }
}

/// A length of time, written "7d", "1h 30m", "500ms".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span(pub Duration);

impl FromStr for Span {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        humantime::parse_duration(s.trim())
            .map(Span)
            .map_err(|e| format!("`{s}` is not a duration like \"7d\" or \"500ms\": {e}"))
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

/// Serde for the types above: written as strings; integers are accepted where they are
/// unambiguous (bytes), while durations must say their unit.
macro_rules! human_serde {
    ($ty:ty, $expecting:literal, integers: $ints:expr) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct HumanVisitor;
                impl Visitor<'_> for HumanVisitor {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: de::Error>(self, s: &str) -> Result<$ty, E> {
                        s.parse().map_err(E::custom)
                    }
                    fn visit_i64<E: de::Error>(self, n: i64) -> Result<$ty, E> {
                        if $ints {
                            n.to_string().parse().map_err(E::custom)
                        } else {
                            Err(E::custom(format!(
                                "{n} has no unit: write it as a string like \"{n}ms\" or \"{n}s\""
                            )))
                        }
                    }
                }
                deserializer.deserialize_any(HumanVisitor)
            }
        }
    };
}

human_serde!(Size, "a size like \"1GiB\" or a number of bytes", integers: true);
human_serde!(Span, "a duration like \"7d\" or \"500ms\"", integers: false);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_print_in_binary_units() {
        assert_eq!("1GiB".parse::<Size>().unwrap(), Size(1 << 30));
        assert_eq!("64 KiB".parse::<Size>().unwrap(), Size(64 << 10));
        assert_eq!("1MB".parse::<Size>().unwrap(), Size(1_000_000));
        assert_eq!("1048588".parse::<Size>().unwrap(), Size(1_048_588));
        assert_eq!(Size(1 << 30).to_string(), "1GiB");
        assert_eq!(Size(1_048_588).to_string(), "1048588B");
        assert_eq!("1048588B".parse::<Size>().unwrap(), Size(1_048_588));
        assert!("lots".parse::<Size>().is_err());
    }

    #[test]
    fn durations_need_units_and_round_trip() {
        assert_eq!(
            "7d".parse::<Span>().unwrap().0,
            Duration::from_secs(7 * 86_400)
        );
        assert_eq!(
            "500ms".parse::<Span>().unwrap().0,
            Duration::from_millis(500)
        );
        let week = Span(Duration::from_secs(7 * 86_400));
        assert_eq!(week.to_string().parse::<Span>().unwrap(), week);
        assert!("5".parse::<Span>().is_err());
    }
}
