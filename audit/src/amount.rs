//! An amount as the ledger stores it (`numeric`, which can exceed a u64), read into base units.

use serde::{Serialize, Serializer};

/// An amount of base units from the ledger: read, or the text that could not be read. An
/// unreadable amount is reported as such, never taken for 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Amount {
    Units(u64),
    Unreadable(String),
}

impl Amount {
    /// `text` (as Postgres prints a `numeric`) in base units.
    pub fn read(text: &str) -> Self {
        text.parse()
            .map(Amount::Units)
            .unwrap_or_else(|_| Amount::Unreadable(text.to_string()))
    }

    pub fn units(&self) -> Option<u64> {
        match self {
            Amount::Units(units) => Some(*units),
            Amount::Unreadable(_) => None,
        }
    }

    /// The sum of two amounts; unreadable if either is (or the sum overflows).
    pub fn plus(&self, other: &Amount) -> Amount {
        match (self.units(), other.units()) {
            (Some(a), Some(b)) => a
                .checked_add(b)
                .map(Amount::Units)
                .unwrap_or_else(|| Amount::Unreadable(format!("{a} + {b}"))),
            _ => Amount::Unreadable(format!("{self} + {other}")),
        }
    }

    /// As USDC (6 decimals), or what the ledger holds and why it is not shown as USDC.
    pub fn usdc(&self) -> String {
        match self {
            Amount::Units(units) => ledger::format_usdc(*units),
            Amount::Unreadable(text) => format!("unreadable ({text})"),
        }
    }
}

/// Base units, or the text the ledger holds.
impl std::fmt::Display for Amount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Amount::Units(units) => write!(f, "{units}"),
            Amount::Unreadable(text) => f.write_str(text),
        }
    }
}

/// A decimal string, like every other amount the ledger serves: a u64 does not survive a trip
/// through a JavaScript number.
impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
