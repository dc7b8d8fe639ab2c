//! The contracts a source can serve, when it knows them (the synthetic market does; a relay or
//! a Redis edge does not). A subscription outside it is refused with a message naming what
//! exists, instead of silently receiving nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::contract::{ContractKey, Right, SecType, Symbol};

/// Why a contract is not in the universe. `Display` gives `contract.<field>: <what exists>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UniverseError {
    /// No stock or index with this symbol; lists those of the security type.
    NoSymbol {
        sec_type: SecType,
        symbol: Symbol,
        known: Vec<Symbol>,
    },
    /// No option chain on this symbol; lists the chains.
    NoChain { symbol: Symbol, chains: Vec<Symbol> },
    /// The chain has no such expiration; lists its expirations.
    NoExpiration {
        symbol: Symbol,
        expiration: u32,
        expirations: Vec<u32>,
    },
    /// The expiration has no such strike (or right); lists its strikes.
    NoStrike {
        symbol: Symbol,
        expiration: u32,
        strike: u32,
        right: Right,
        strikes: Vec<u32>,
    },
}

/// Lists at most this many alternatives, then says how many there are in all.
const MAX_LISTED: usize = 24;

fn write_list<T: fmt::Display>(f: &mut fmt::Formatter<'_>, items: &[T]) -> fmt::Result {
    for (i, item) in items.iter().take(MAX_LISTED).enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item}")?;
    }
    if items.len() > MAX_LISTED {
        write!(f, ", … ({} in all)", items.len())?;
    }
    Ok(())
}

impl fmt::Display for UniverseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UniverseError::NoSymbol {
                sec_type,
                symbol,
                known,
            } => {
                write!(
                    f,
                    "contract.symbol: no {} {symbol} in this market",
                    sec_type.as_str()
                )?;
                if known.is_empty() {
                    write!(f, " (it has no {})", sec_type.as_str())
                } else {
                    write!(f, "; {}: ", sec_type.as_str())?;
                    write_list(f, known)
                }
            }
            UniverseError::NoChain { symbol, chains } => {
                write!(f, "contract.symbol: no options on {symbol} in this market")?;
                if chains.is_empty() {
                    f.write_str(" (it has no options)")
                } else {
                    f.write_str("; option chains: ")?;
                    write_list(f, chains)
                }
            }
            UniverseError::NoExpiration {
                symbol,
                expiration,
                expirations,
            } => {
                write!(
                    f,
                    "contract.expiration: {symbol} options have no expiration {expiration}; expirations: "
                )?;
                write_list(f, expirations)
            }
            UniverseError::NoStrike {
                symbol,
                expiration,
                strike,
                right,
                strikes,
            } => {
                write!(
                    f,
                    "contract.strike: {symbol} {expiration} has no {} strike {strike}; strikes: ",
                    if matches!(right, Right::Call) {
                        "call"
                    } else {
                        "put"
                    }
                )?;
                write_list(f, strikes)
            }
        }
    }
}

impl std::error::Error for UniverseError {}

/// A known set of contracts.
#[derive(Debug, Clone, Default)]
pub struct Universe {
    named: BTreeMap<SecType, BTreeSet<Symbol>>,
    /// symbol → expiration → (strike, right)
    chains: BTreeMap<Symbol, BTreeMap<u32, BTreeSet<(u32, Right)>>>,
}

impl Universe {
    /// An empty universe.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a contract.
    pub fn insert(&mut self, contract: &ContractKey) {
        match contract.right {
            Some(right) => {
                self.chains
                    .entry(contract.symbol)
                    .or_default()
                    .entry(contract.expiration)
                    .or_default()
                    .insert((contract.strike, right));
            }
            None => {
                self.named
                    .entry(contract.sec_type)
                    .or_default()
                    .insert(contract.symbol);
            }
        }
    }

    /// Whether `contract` is in the universe, and if not, what is.
    pub fn check(&self, contract: &ContractKey) -> Result<(), UniverseError> {
        let Some(right) = contract.right else {
            let known = self.named.get(&contract.sec_type);
            if known.is_some_and(|k| k.contains(&contract.symbol)) {
                return Ok(());
            }
            return Err(UniverseError::NoSymbol {
                sec_type: contract.sec_type,
                symbol: contract.symbol,
                known: known
                    .map(|k| k.iter().copied().collect())
                    .unwrap_or_default(),
            });
        };
        let Some(chain) = self.chains.get(&contract.symbol) else {
            return Err(UniverseError::NoChain {
                symbol: contract.symbol,
                chains: self.chains.keys().copied().collect(),
            });
        };
        let Some(strikes) = chain.get(&contract.expiration) else {
            return Err(UniverseError::NoExpiration {
                symbol: contract.symbol,
                expiration: contract.expiration,
                expirations: chain.keys().copied().collect(),
            });
        };
        if strikes.contains(&(contract.strike, right)) {
            return Ok(());
        }
        Err(UniverseError::NoStrike {
            symbol: contract.symbol,
            expiration: contract.expiration,
            strike: contract.strike,
            right,
            strikes: strikes
                .iter()
                .filter(|(_, r)| *r == right)
                .map(|(s, _)| *s)
                .collect(),
        })
    }

    /// A one-line description for the startup log: stocks, indices and each chain's
    /// expirations and strike range.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (sec_type, symbols) in &self.named {
            let names: Vec<&str> = symbols.iter().map(Symbol::as_str).collect();
            parts.push(format!(
                "{} {}",
                sec_type.as_str().to_lowercase(),
                names.join(",")
            ));
        }
        for (symbol, expirations) in &self.chains {
            let dates: Vec<String> = expirations.keys().map(u32::to_string).collect();
            let strikes: BTreeSet<u32> = expirations
                .values()
                .flat_map(|s| s.iter().map(|(k, _)| *k))
                .collect();
            let (lo, hi) = (
                strikes.first().copied().unwrap_or(0),
                strikes.last().copied().unwrap_or(0),
            );
            parts.push(format!(
                "options on {symbol}: expirations {}, {} strikes {lo}-{hi}, C/P",
                dates.join(","),
                strikes.len()
            ));
        }
        parts.join("; ")
    }
}
