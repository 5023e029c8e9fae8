//! `[export] allow_from`: the CIDR ranges a peer must be in to fetch `/export/...`
//! (docs/contracts.md, Export, health and metrics). Parsed when the configuration is loaded, so a
//! typo is a configuration error naming the entry, not a refusal of Digis at night.
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Empty = any peer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowFrom(Vec<IpNet>);

impl AllowFrom {
    /// Each entry a CIDR range (`10.0.0.0/8`, `2001:db8::/32`) or a single address. The error
    /// quotes the entry: a range is no secret.
    pub fn parse<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<AllowFrom, String> {
        let mut nets = Vec::new();
        for entry in entries {
            let e = entry.trim();
            let net = e
                .parse::<IpNet>()
                .ok()
                .or_else(|| e.parse::<IpAddr>().ok().map(IpNet::from))
                .ok_or_else(|| {
                    format!(
                        "`{entry}` is not a CIDR range such as 10.0.0.0/8 or 2001:db8::/32 (or a single address)"
                    )
                })?;
            // `10.1.2.3/8` means the range it falls in: stored as 10.0.0.0/8 so it is shown so.
            nets.push(net.trunc());
        }
        Ok(AllowFrom(nets))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn ranges(&self) -> &[IpNet] {
        &self.0
    }

    /// True when the list is empty or `peer` is in one of its ranges. An IPv4-mapped IPv6 peer
    /// (`::ffff:10.1.2.3`, what a dual-stack socket reports for an IPv4 client) is judged as
    /// the IPv4 address it is.
    pub fn allows(&self, peer: IpAddr) -> bool {
        let peer = peer.to_canonical();
        self.0.is_empty() || self.0.iter().any(|net| net.contains(&peer))
    }
}

impl fmt::Display for AllowFrom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: Vec<String> = self.0.iter().map(IpNet::to_string).collect();
        f.write_str(&shown.join(", "))
    }
}

impl Serialize for AllowFrom {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(IpNet::to_string))
    }
}

/// A list of strings, or one string with commas (what an environment variable can hold:
/// `DIGIS_RELAY_EXPORT__ALLOW_FROM=10.0.0.0/8,192.168.0.0/16`).
impl<'de> Deserialize<'de> for AllowFrom {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AllowFrom;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of CIDR ranges such as [\"10.0.0.0/8\"]")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<AllowFrom, E> {
                let entries = v.split(',').map(str::trim).filter(|e| !e.is_empty());
                AllowFrom::parse(entries).map_err(E::custom)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<AllowFrom, A::Error> {
                let mut entries: Vec<String> = Vec::new();
                while let Some(e) = seq.next_element::<String>()? {
                    entries.push(e);
                }
                AllowFrom::parse(entries.iter().map(String::as_str)).map_err(de::Error::custom)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_match_their_family_and_mapped_ipv4() {
        let a = AllowFrom::parse(["10.0.0.0/8", "2001:db8::/32", "192.168.1.7"]).unwrap();
        assert!(a.allows(ip("10.200.3.4")));
        assert!(a.allows(ip("::ffff:10.1.2.3")), "IPv4-mapped IPv6");
        assert!(a.allows(ip("2001:db8::1")));
        assert!(a.allows(ip("192.168.1.7")));
        assert!(!a.allows(ip("192.168.1.8")));
        assert!(!a.allows(ip("11.0.0.1")));
        assert!(!a.allows(ip("::ffff:11.0.0.1")));
        assert!(!a.allows(ip("127.0.0.1")));
        assert!(!a.allows(ip("2001:db9::1")));
        assert!(
            AllowFrom::default().allows(ip("203.0.113.9")),
            "empty = any"
        );
        assert_eq!(
            AllowFrom::parse(["10.1.2.3/8"]).unwrap().to_string(),
            "10.0.0.0/8"
        );
    }

    #[test]
    fn a_bad_entry_is_named() {
        for bad in ["10.0.0.0/33", "10.0.0/8", "office", "::1/129", ""] {
            let e = AllowFrom::parse([bad]).unwrap_err();
            assert!(e.contains(&format!("`{bad}`")), "{bad}: {e}");
        }
    }
}
