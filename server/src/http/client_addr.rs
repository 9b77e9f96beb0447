//! Who is at the other end of a request, for the login limits: the TCP peer's address;
//! or, when that peer is a trusted reverse proxy (`trusted_proxies`), the client that its
//! `X-Forwarded-For` names. Anyone else's `X-Forwarded-For` is ignored: a client can
//! write any address there.
//!
//! ```
//! use linli_server::http::client_addr::{ClientAddresses, ProxyRange};
//! let direct = ClientAddresses::default();
//! let peer = "203.0.113.7".parse().unwrap();
//! // Not from a trusted proxy: the header is the client's own invention.
//! assert_eq!(direct.resolve(peer, ["198.51.100.1"]), peer);
//! let proxied = ClientAddresses::new(vec!["203.0.113.0/24".parse::<ProxyRange>().unwrap()]);
//! assert_eq!(proxied.resolve(peer, ["198.51.100.1"]), "198.51.100.1".parse::<std::net::IpAddr>().unwrap());
//! ```

use actix_web::HttpRequest;
use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;

/// A reverse proxy's address, or a range of them (`10.0.0.5`, `10.0.0.0/8`, `::1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct ProxyRange(IpNet);

impl FromStr for ProxyRange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        s.parse::<IpNet>()
            .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
            .map(ProxyRange)
            .map_err(|_| format!("`{s}` is not an IP address or CIDR range"))
    }
}

impl TryFrom<String> for ProxyRange {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl ProxyRange {
    fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(&ip)
    }
}

/// See the module docs.
#[derive(Debug, Clone, Default)]
pub struct ClientAddresses {
    trusted: Vec<ProxyRange>,
}

impl ClientAddresses {
    pub fn new(trusted: Vec<ProxyRange>) -> Self {
        ClientAddresses { trusted }
    }

    /// The client address of `req`.
    pub fn client_of(&self, req: &HttpRequest) -> IpAddr {
        let peer = req.peer_addr().map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip());
        let forwarded = req.headers().get_all("x-forwarded-for").filter_map(|v| v.to_str().ok());
        self.resolve(peer, forwarded)
    }

    /// The client behind `peer`, given the `X-Forwarded-For` header values in order: walking
    /// from the nearest hop outwards, the first address that is not a trusted proxy. A hop
    /// that is not an address stops the walk at the last one known.
    pub fn resolve<'a>(&self, peer: IpAddr, forwarded: impl IntoIterator<Item = &'a str>) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.is_trusted(client) {
            return client;
        }
        let hops: Vec<&str> = forwarded.into_iter().flat_map(|v| v.split(',')).map(str::trim).collect();
        for hop in hops.into_iter().rev() {
            let Some(ip) = parse_hop(hop) else { break };
            client = ip.to_canonical();
            if !self.is_trusted(client) {
                break;
            }
        }
        client
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|r| r.contains(ip))
    }
}

/// `198.51.100.1`, `198.51.100.1:5000`, `2001:db8::1` or `[2001:db8::1]:5000`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>().ok().or_else(|| hop.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn proxies(ranges: &[&str]) -> ClientAddresses {
        ClientAddresses::new(ranges.iter().map(|r| r.parse().unwrap()).collect())
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client() {
        let c = ClientAddresses::default();
        assert_eq!(c.resolve(ip("127.0.0.1"), ["198.51.100.1"]), ip("127.0.0.1"));
        assert_eq!(c.resolve(ip("::ffff:192.0.2.1"), []), ip("192.0.2.1"));
    }

    #[test]
    fn a_trusted_proxy_names_the_client_and_nobody_else_does() {
        let c = proxies(&["10.0.0.0/8", "127.0.0.9"]);
        assert_eq!(c.resolve(ip("127.0.0.9"), ["198.51.100.1"]), ip("198.51.100.1"));
        // The client wrote its own header before the proxy appended the real address.
        assert_eq!(c.resolve(ip("127.0.0.9"), ["203.0.113.66, 198.51.100.1"]), ip("198.51.100.1"));
        // Two trusted hops, and headers split over several lines.
        assert_eq!(c.resolve(ip("10.1.1.1"), ["198.51.100.2", "10.2.2.2"]), ip("198.51.100.2"));
        assert_eq!(c.resolve(ip("127.0.0.9"), ["[2001:db8::1]:443"]), ip("2001:db8::1"));
        // No header, or garbage: the last address known.
        assert_eq!(c.resolve(ip("127.0.0.9"), []), ip("127.0.0.9"));
        assert_eq!(c.resolve(ip("127.0.0.9"), ["unknown, 10.3.3.3"]), ip("10.3.3.3"));
        // An untrusted peer's header is ignored.
        assert_eq!(c.resolve(ip("127.0.0.2"), ["198.51.100.1"]), ip("127.0.0.2"));
    }

    #[test]
    fn proxy_ranges_parse_addresses_and_cidrs() {
        for ok in ["127.0.0.1", "10.0.0.0/8", "::1", "fd00::/8"] {
            assert!(ok.parse::<ProxyRange>().is_ok(), "{ok}");
        }
        assert!("example.com".parse::<ProxyRange>().is_err());
        assert!("10.0.0.0/33".parse::<ProxyRange>().is_err());
    }
}
