use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// `person.cardNumber`, sent as ExtInfo20. Kept as text: card numbers can have leading zeros,
/// and `00123` and `123` are different cards.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CardNumber(String);

/// The longest card number accepted (ExtInfo20). Real cards are 8–20 characters.
pub const MAX_CARD_LEN: usize = 64;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CardNumberError {
    #[error("a card number cannot be empty")]
    Empty,
    /// Says which character and where, never repeating the whole value: it may come from a
    /// host row and hold a line break or a terminal escape.
    #[error("card number contains {0}: only letters A-Z, digits and '-' are allowed")]
    BadCharacter(String),
    #[error("card number is too long ({0} characters, at most {MAX_CARD_LEN})")]
    TooLong(usize),
}

/// `a space at character 5`, `'O' at character 3`, `U+001B at character 1`.
fn describe(i: usize, c: char) -> String {
    let what = match c {
        ' ' => "a space".to_string(),
        c if c.is_ascii_graphic() => format!("'{c}'"),
        c => format!("U+{:04X}", c as u32),
    };
    format!("{what} at character {}", i + 1)
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
        // One rule for the relay, preview and search: a card the relay sends can always be
        // searched for. The sync log is searched for `ExtInfo20:<card>` as a whole token and
        // card readers give letters and digits, so a space or other sign is a typing error to
        // fix in the membership system, not a card to send (and then never find).
        if let Some((i, c)) = s
            .chars()
            .enumerate()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return Err(CardNumberError::BadCharacter(describe(i, c)));
        }
        if s.len() > MAX_CARD_LEN {
            return Err(CardNumberError::TooLong(s.len()));
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
        assert_eq!(
            "1234 5678".parse::<CardNumber>().unwrap_err().to_string(),
            "card number contains a space at character 5: only letters A-Z, digits and '-' are allowed"
        );
        let forged = "1\nExtInfo1:424242 outcome=sent"
            .parse::<CardNumber>()
            .unwrap_err();
        assert!(!forged.to_string().contains("424242"), "{forged}");
        assert_eq!(
            "9".repeat(65).parse::<CardNumber>(),
            Err(CardNumberError::TooLong(65))
        );
        assert!("9".repeat(64).parse::<CardNumber>().is_ok());
    }
}
