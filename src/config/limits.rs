//! Bounds and trust: what one account may hold and do, sizes, the proxies whose word on the
//! client's address is taken, whether anyone may sign up.

use clap::ValueEnum;
use serde::Deserialize;

/// A size in bytes: a number, or one with `KiB`, `MiB` or `GiB`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => {
            return Err(format!(
                "{text:?} is no size: write e.g. 32MiB, 512KiB or 1000"
            ));
        }
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| format!("{text:?} is no size: write e.g. 32MiB, 512KiB or 1000"))
}

/// What one account may hold and do; 0 in any field is no limit there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Todos held.
    pub todos: u64,
    /// Bytes of todo texts (descriptions, titles, notes) and metadata held.
    pub bytes: u64,
    /// Writes per second, on one instance, with ten seconds' worth at once.
    pub writes_per_second: u32,
}

impl Default for Quota {
    fn default() -> Self {
        Self {
            todos: 10_000,
            bytes: 32 << 20,
            writes_per_second: 50,
        }
    }
}

/// An address (`10.1.2.3`) or a range (`10.0.0.0/8`) of trusted proxies.
pub(super) fn parse_proxy(text: &str) -> Result<ipnet::IpNet, String> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{text:?} is not an address or a CIDR range such as 10.0.0.0/8"))
}

pub(super) fn parse_header_name(text: &str) -> Result<axum::http::HeaderName, String> {
    axum::http::HeaderName::try_from(text.trim())
        .map_err(|_| format!("{text:?} is not a header name"))
}

/// Whose word on the client's address is taken, and where they give it.
#[derive(Debug, Clone)]
pub struct Proxies {
    pub trusted: Vec<ipnet::IpNet>,
    pub header: axum::http::HeaderName,
}

impl Default for Proxies {
    fn default() -> Self {
        Self {
            trusted: Vec::new(),
            header: axum::http::HeaderName::from_static("x-forwarded-for"),
        }
    }
}

impl Proxies {
    /// The client behind a connection from `peer`: the peer itself, unless it is a trusted
    /// proxy; then the rightmost address in `forwarded` (all the header's values, in order)
    /// that is not a trusted proxy's, since only the trusted hops' additions can be believed.
    pub fn client<'a>(
        &self,
        peer: std::net::IpAddr,
        forwarded: impl DoubleEndedIterator<Item = &'a str>,
    ) -> std::net::IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let mut client = peer;
        for hop in forwarded.rev().flat_map(|value| value.rsplit(',')) {
            match hop.trim().parse::<std::net::IpAddr>() {
                Ok(address) if self.trusts(address) => client = address,
                Ok(address) => return address,
                // A hop that is no address cannot be counted on: stop at what was believed.
                Err(_) => return client,
            }
        }
        client
    }

    fn trusts(&self, address: std::net::IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(&address))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Signup {
    Open,
    Closed,
}

impl Signup {
    /// As flags, the environment and checkoff.toml write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Closed => "closed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_with_their_units() {
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("32MiB"), Ok(32 << 20));
        assert_eq!(parse_size(" 512KiB "), Ok(512 << 10));
        assert_eq!(parse_size("0"), Ok(0));
        for bad in ["", "MiB", "1.5MiB", "32MB", "-1", "99999999999GiB"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn only_trusted_proxies_say_who_the_client_is() {
        let proxies = Proxies {
            trusted: vec![
                parse_proxy("10.0.0.0/8").unwrap(),
                parse_proxy("127.0.0.1").unwrap(),
            ],
            ..Proxies::default()
        };
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        // A client that is no proxy says nothing about itself.
        assert_eq!(
            proxies.client(ip("203.0.113.9"), ["1.2.3.4"].into_iter()),
            ip("203.0.113.9")
        );
        // Through one proxy, and through two (a client's own made-up entry comes first).
        assert_eq!(
            proxies.client(ip("127.0.0.1"), ["198.51.100.7"].into_iter()),
            ip("198.51.100.7")
        );
        assert_eq!(
            proxies.client(
                ip("127.0.0.1"),
                ["6.6.6.6, 198.51.100.7", "10.1.1.1"].into_iter()
            ),
            ip("198.51.100.7")
        );
        // No header, or nothing but garbage: the proxy itself.
        assert_eq!(
            proxies.client(ip("127.0.0.1"), std::iter::empty()),
            ip("127.0.0.1")
        );
        assert_eq!(
            proxies.client(ip("127.0.0.1"), ["junk"].into_iter()),
            ip("127.0.0.1")
        );
        assert!(parse_proxy("10.0.0.0/33").is_err());
        assert!(parse_proxy("proxy.example").is_err());
    }
}
