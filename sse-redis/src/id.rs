//! Redis Stream entry ids (`<milliseconds>-<sequence>`), which double as SSE
//! event ids: global per topic, ordered, and understood by every node.

use std::fmt;
use std::str::FromStr;

/// A Redis Stream entry id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    /// Milliseconds part.
    pub ms: u64,
    /// Sequence part.
    pub seq: u64,
}

impl StreamId {
    /// The id before every entry (`0-0`).
    pub const ZERO: StreamId = StreamId { ms: 0, seq: 0 };
}

impl FromStr for StreamId {
    type Err = ();

    /// Parses `ms-seq` (both parts decimal). Anything else, including the
    /// shorthand `ms` alone, is refused: ids from clients must be exact.
    fn from_str(text: &str) -> Result<Self, ()> {
        let (ms, seq) = text.split_once('-').ok_or(())?;
        let digits = |part: &str| {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(());
            }
            part.parse::<u64>().map_err(|_| ())
        };
        Ok(StreamId {
            ms: digits(ms)?,
            seq: digits(seq)?,
        })
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_orders() {
        let a: StreamId = "1700000000000-0".parse().unwrap();
        let b: StreamId = "1700000000000-1".parse().unwrap();
        let c: StreamId = "1700000000001-0".parse().unwrap();
        assert!(a < b && b < c);
        assert_eq!(a.to_string(), "1700000000000-0");
        for bad in [
            "",
            "1",
            "-1",
            "1-",
            "a-1",
            "1-b",
            "1-2-3",
            "+",
            "$",
            "99999999999999999999999-0",
        ] {
            assert!(bad.parse::<StreamId>().is_err(), "{bad}");
        }
    }
}
