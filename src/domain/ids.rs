use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{input}` is not a valid {kind}: expected a positive whole number")]
pub struct IdError {
    pub kind: &'static str,
    pub input: String,
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl $name {
            pub fn get(self) -> i64 {
                self.0
            }

            /// The one rule for ids read from the host or typed by a person: positive.
            pub fn new(v: i64) -> Result<Self, IdError> {
                if v > 0 {
                    Ok(Self(v))
                } else {
                    Err(IdError { kind: $kind, input: v.to_string() })
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s.trim().parse::<i64>() {
                    Ok(v) => Self::new(v).map_err(|_| IdError { kind: $kind, input: s.to_string() }),
                    _ => Err(IdError { kind: $kind, input: s.to_string() }),
                }
            }
        }
    };
}

id_type!(
    /// `subscription.id`, sent to Digis as ExtInfo1.
    SubscriptionId,
    "subscription id"
);
id_type!(
    /// `person.id`, sent as ExtInfo4.
    PersonId,
    "person id"
);
id_type!(
    /// `digis_outbox.id`.
    OutboxId,
    "outbox id"
);
id_type!(
    /// `business_unit.id`, sent as ExtInfo3.
    UnitId,
    "unit id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_positive_ids_and_rejects_the_rest() {
        assert_eq!(
            "863".parse::<SubscriptionId>().unwrap(),
            SubscriptionId(863)
        );
        assert_eq!(" 42 ".parse::<OutboxId>().unwrap(), OutboxId(42));
        for bad in ["0", "-1", "abc", "", "8 63", "1.5"] {
            let err = bad.parse::<SubscriptionId>().unwrap_err();
            assert_eq!(err.input, bad);
            assert!(err.to_string().contains("subscription id"), "{err}");
        }
    }
}
