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
    #[error("amount is too large: {0}")]
    TooLarge(f64),
}

impl Micros {
    pub const ZERO: Micros = Micros(0);

    /// Converts US dollars, rounding to the nearest micro-dollar.
    pub fn from_usd(usd: f64) -> Result<Micros, MoneyError> {
        if !usd.is_finite() {
            return Err(MoneyError::NotFinite(usd));
        }
        if usd < 0.0 {
            return Err(MoneyError::Negative(usd));
        }
        if usd > 1e12 {
            return Err(MoneyError::TooLarge(usd));
        }
        Ok(Micros((usd * 1_000_000.0).round() as i64))
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
            Micros::from_usd(1e13),
            Err(MoneyError::TooLarge(_))
        ));
        assert_eq!(Micros(1_234_567).to_string(), "$1.23");
    }
}
