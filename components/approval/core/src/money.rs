//! Money as integer micro-dollars: no float ever reaches a budget sum.

use std::fmt;

/// An amount in micro-dollars (1 USD = 1,000,000).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Micros(pub i64);

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MoneyError {
    #[error("amount must be a finite number, got {0}")]
    NotFinite(f64),
    #[error("amount must not be negative, got {0}")]
    Negative(f64),
    #[error("amount is too large: {0} (at most {MAX_AMOUNT_USD})")]
    TooLarge(f64),
}

/// Largest single amount, in dollars: an estimate, a spend or a budget limit.
pub const MAX_AMOUNT_USD: f64 = 1e9;

impl Micros {
    pub const ZERO: Micros = Micros(0);

    /// The most one ledger sum (a scope's spending or reservations in one period) holds:
    /// 2^53 - 1 micro-dollars, about $9 billion, exact as a JavaScript number too, so
    /// the local server and the edge keep the same books. A spend that would pass it is
    /// refused rather than recorded short.
    pub const MAX_LEDGER: Micros = Micros(9_007_199_254_740_991);

    /// Converts US dollars, rounding to the nearest micro-dollar.
    pub fn from_usd(usd: f64) -> Result<Micros, MoneyError> {
        if !usd.is_finite() {
            return Err(MoneyError::NotFinite(usd));
        }
        if usd < 0.0 {
            return Err(MoneyError::Negative(usd));
        }
        if usd > MAX_AMOUNT_USD {
            return Err(MoneyError::TooLarge(usd));
        }
        Ok(Micros((usd * 1_000_000.0).round() as i64))
    }

    /// Whether the ledger sum `key`, holding `self` now, can take `more` without passing
    /// [`Micros::MAX_LEDGER`]; the error says which sum and its limit.
    pub fn room_for(self, more: Micros, key: &str) -> Result<(), LedgerFull> {
        match self.0.checked_add(more.0) {
            Some(total) if total <= Micros::MAX_LEDGER.0 => Ok(()),
            _ => Err(LedgerFull {
                key: key.to_owned(),
                holds: self,
                more,
            }),
        }
    }

    /// A budget's remaining amount in words: "$3.20 left", or "$70.51 over" once
    /// spending has passed the limit.
    pub fn left(self) -> String {
        match self.0 < 0 {
            true => format!("{} over", Micros(self.0.saturating_neg())),
            false => format!("{self} left"),
        }
    }

    pub fn to_usd(self) -> f64 {
        self.0 as f64 / 1_000_000.0
    }

    pub fn saturating_add(self, other: Micros) -> Micros {
        Micros(self.0.saturating_add(other.0))
    }

    pub fn saturating_sub(self, other: Micros) -> Micros {
        Micros(self.0.saturating_sub(other.0))
    }
}

/// A ledger sum that cannot take an amount without passing [`Micros::MAX_LEDGER`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the {key} ledger holds {holds}; {more} more would pass {}, the most it records",
    Micros::MAX_LEDGER
)]
pub struct LedgerFull {
    pub key: String,
    pub holds: Micros,
    pub more: Micros,
}

impl fmt::Display for Micros {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "${:.2}", self.to_usd())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_and_rejects() {
        assert_eq!(Micros::from_usd(0.1).unwrap(), Micros(100_000));
        assert_eq!(Micros::from_usd(50.0).unwrap(), Micros(50_000_000));
        // 0.1 + 0.2 in micros is exact, unlike in floats.
        assert_eq!(
            Micros::from_usd(0.1)
                .unwrap()
                .saturating_add(Micros::from_usd(0.2).unwrap()),
            Micros::from_usd(0.3).unwrap()
        );
        assert!(matches!(
            Micros::from_usd(-1.0),
            Err(MoneyError::Negative(_))
        ));
        assert!(matches!(
            Micros::from_usd(f64::NAN),
            Err(MoneyError::NotFinite(_))
        ));
        assert!(matches!(
            Micros::from_usd(1.1e9),
            Err(MoneyError::TooLarge(_))
        ));
        assert_eq!(Micros(1_234_567).to_string(), "$1.23");
        assert!(Micros(5).room_for(Micros(7), "global|2026-11-25").is_ok());
        assert_eq!(Micros(3_200_000).left(), "$3.20 left");
        assert_eq!(Micros(-70_510_000).left(), "$70.51 over");
        let full = Micros::MAX_LEDGER.saturating_sub(Micros(3));
        assert!(full.room_for(Micros(3), "k").is_ok());
        assert!(
            full.room_for(Micros(4), "k")
                .unwrap_err()
                .to_string()
                .contains("k ledger")
        );
    }
}
