use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// `person.cardNumber`, sent as ExtInfo20. Kept as text: card numbers can have leading zeros,
/// and `00123` and `123` are different cards.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CardNumber(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CardNumberError {
    #[error("a card number cannot be empty")]
    Empty,
    #[error("card number `{0}` contains a character other than letters, digits and '-'")]
    BadCharacter(String),
}

impl CardNumber {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for CardNumber {
    type Err = CardNumberError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Err(CardNumberError::Empty);
        }
        // The sync log is searched for `ExtInfo20:<card>` as a whole token, so a card number
        // must not contain the separators that end a token.
        if !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(CardNumberError::BadCharacter(s.to_string()));
        }
        Ok(Self(s.to_string()))
    }
}

impl fmt::Display for CardNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_leading_zeros_and_trims() {
        let c: CardNumber = " 0034231451 ".parse().unwrap();
        assert_eq!(c.as_str(), "0034231451");
    }

    #[test]
    fn rejects_empty_and_separators() {
        assert_eq!("  ".parse::<CardNumber>(), Err(CardNumberError::Empty));
        assert!(matches!(
            "123, 4".parse::<CardNumber>(),
            Err(CardNumberError::BadCharacter(_))
        ));
        assert!(matches!(
            "1'; drop".parse::<CardNumber>(),
            Err(CardNumberError::BadCharacter(_))
        ));
    }
}
