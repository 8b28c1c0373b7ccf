//! Topic name rules, Kafka's: 1 to 249 characters from `[a-zA-Z0-9._-]`, not `.` or `..`.
//! Names become directory names, so these rules also keep paths safe.

use crate::error::{BrokerError, Result};

/// Longest topic name Kafka allows (a partition directory adds `-<partition>`).
pub const MAX_TOPIC_NAME_LEN: usize = 249;

/// Checks a topic name, saying what is wrong with it.
pub fn validate_topic_name(name: &str) -> Result<()> {
    let invalid = |reason| {
        Err(BrokerError::InvalidTopic {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return invalid("empty");
    }
    if name == "." || name == ".." {
        return invalid("'.' and '..' are not allowed");
    }
    if name.len() > MAX_TOPIC_NAME_LEN {
        return invalid("longer than 249 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return invalid("only ASCII letters, digits, '.', '_' and '-' are allowed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_kafka_names_and_refuses_the_rest() {
        for ok in ["orders", "a.b_c-d", "X", &"t".repeat(249)] {
            validate_topic_name(ok).unwrap();
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a b",
            "ünïcode",
            "../etc",
            &"t".repeat(250),
        ] {
            assert!(validate_topic_name(bad).is_err(), "{bad:?} accepted");
        }
    }
}
