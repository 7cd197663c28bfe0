//! `TCP://system-address:port`, the form SQL Server requires for `endpoint_url` and
//! `read_only_routing_url`. One parser, shared by the checks and the probes, so both agree on what
//! a URL names.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

/// A parsed `TCP://host:port`. `host` keeps the spelling the server stored (IPv6 without brackets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpUrl {
    pub host: String,
    pub port: u16,
}

/// What kind of system address a URL names; the checks judge each differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKind {
    /// `localhost`, `127.x.x.x`, `::1`: only reachable from the machine itself.
    Loopback,
    /// A literal IPv4 or IPv6 address.
    IpAddress,
    /// A dotted DNS name (`sql1.contoso.com`).
    Fqdn,
    /// A single-label (NetBIOS-style) name (`SQL1`).
    SingleLabel,
}

/// Why a string is not a valid `TCP://system-address:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlProblem {
    Empty,
    MissingScheme,
    MissingHost,
    /// A system address with spaces, control characters or slashes.
    InvalidHost(String),
    MissingPort,
    InvalidPort(String),
    /// Anything after the port (`/path`, spaces, a second colon).
    TrailingText(String),
}

impl fmt::Display for UrlProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlProblem::Empty => f.write_str("the URL is empty"),
            UrlProblem::MissingScheme => f.write_str("it does not start with TCP://"),
            UrlProblem::MissingHost => f.write_str("it names no system address"),
            UrlProblem::InvalidHost(h) => write!(f, "'{}' is not a system address", h.escape_debug()),
            UrlProblem::MissingPort => f.write_str("it has no :port"),
            UrlProblem::InvalidPort(p) => write!(f, "'{p}' is not a TCP port (1-65535)"),
            UrlProblem::TrailingText(t) => write!(f, "unexpected text '{t}' after the port"),
        }
    }
}

impl TcpUrl {
    /// Parses `TCP://host:port` (scheme case-insensitive, IPv6 in brackets), the way SQL Server
    /// validates it: exactly a scheme, an address and a port.
    pub fn parse(url: &str) -> Result<TcpUrl, UrlProblem> {
        let url = url.trim();
        if url.is_empty() {
            return Err(UrlProblem::Empty);
        }
        let rest = match url.get(..6) {
            Some(scheme) if scheme.eq_ignore_ascii_case("tcp://") => &url[6..],
            _ => return Err(UrlProblem::MissingScheme),
        };
        let (host, after_host) = if let Some(bracketed) = rest.strip_prefix('[') {
            let end = bracketed.find(']').ok_or(UrlProblem::MissingHost)?;
            (&bracketed[..end], &bracketed[end + 1..])
        } else {
            match rest.rfind(':') {
                Some(colon) => (&rest[..colon], &rest[colon..]),
                None => (rest, ""),
            }
        };
        if host.is_empty() {
            return Err(UrlProblem::MissingHost);
        }
        if host.chars().any(|c| c.is_whitespace() || c.is_control() || c == '/') {
            return Err(UrlProblem::InvalidHost(host.to_string()));
        }
        let port_text = after_host.strip_prefix(':').ok_or(UrlProblem::MissingPort)?;
        let digits_end = port_text.find(|c: char| !c.is_ascii_digit()).unwrap_or(port_text.len());
        let (digits, trailing) = port_text.split_at(digits_end);
        if digits.is_empty() {
            return Err(if trailing.is_empty() { UrlProblem::MissingPort } else { UrlProblem::InvalidPort(trailing.to_string()) });
        }
        if !trailing.is_empty() && trailing != "/" {
            return Err(UrlProblem::TrailingText(trailing.to_string()));
        }
        match digits.parse::<u16>() {
            Ok(port) if port > 0 => Ok(TcpUrl { host: host.to_string(), port }),
            _ => Err(UrlProblem::InvalidPort(digits.to_string())),
        }
    }

    pub fn host_kind(&self) -> HostKind {
        host_kind(&self.host)
    }

    /// The first DNS label (`sql1` of `sql1.contoso.com`), for comparing with a NetBIOS name.
    pub fn first_label(&self) -> &str {
        self.host.split('.').next().unwrap_or(&self.host)
    }
}

/// Classifies a host name or address as written in a URL, a listener or a connection string.
pub fn host_kind(host: &str) -> HostKind {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.eq_ignore_ascii_case("localhost") || bare == "." || bare.eq_ignore_ascii_case("(local)") {
        return HostKind::Loopback;
    }
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return if ip.is_loopback() || ip == IpAddr::V6(Ipv6Addr::UNSPECIFIED) { HostKind::Loopback } else { HostKind::IpAddress };
    }
    if bare.trim_end_matches('.').contains('.') { HostKind::Fqdn } else { HostKind::SingleLabel }
}

impl fmt::Display for TcpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "TCP://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "TCP://{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(url: &str) -> TcpUrl {
        TcpUrl::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    #[test]
    fn parses_the_forms_sql_server_accepts() {
        assert_eq!(ok("TCP://sql1.contoso.com:5022"), TcpUrl { host: "sql1.contoso.com".into(), port: 5022 });
        assert_eq!(ok("tcp://SQL1:5022").host, "SQL1");
        assert_eq!(ok("TCP://10.0.0.11:5022").host_kind(), HostKind::IpAddress);
        assert_eq!(ok("TCP://[2001:db8::11]:5022").host, "2001:db8::11");
        assert_eq!(ok("TCP://[2001:db8::11]:5022").to_string(), "TCP://[2001:db8::11]:5022");
    }

    #[test]
    fn names_what_is_wrong() {
        assert_eq!(TcpUrl::parse(""), Err(UrlProblem::Empty));
        assert_eq!(TcpUrl::parse("sql1.contoso.com:5022"), Err(UrlProblem::MissingScheme));
        assert_eq!(TcpUrl::parse("TCP://sql1.contoso.com"), Err(UrlProblem::MissingPort));
        assert_eq!(TcpUrl::parse("TCP://:5022"), Err(UrlProblem::MissingHost));
        assert_eq!(TcpUrl::parse("TCP://sql1:70000"), Err(UrlProblem::InvalidPort("70000".into())));
        assert_eq!(TcpUrl::parse("TCP://sql1:0"), Err(UrlProblem::InvalidPort("0".into())));
        assert_eq!(TcpUrl::parse("TCP://sql1:5022/x"), Err(UrlProblem::TrailingText("/x".into())));
        assert_eq!(TcpUrl::parse("TCP://sql1:abc"), Err(UrlProblem::InvalidPort("abc".into())));
    }

    #[test]
    fn classifies_hosts() {
        assert_eq!(host_kind("localhost"), HostKind::Loopback);
        assert_eq!(host_kind("127.0.0.1"), HostKind::Loopback);
        assert_eq!(host_kind("[::1]"), HostKind::Loopback);
        assert_eq!(host_kind("SQL1"), HostKind::SingleLabel);
        assert_eq!(host_kind("sql1.contoso.com"), HostKind::Fqdn);
        assert_eq!(host_kind("10.0.0.11"), HostKind::IpAddress);
        assert_eq!(ok("TCP://sql1.contoso.com:5022").first_label(), "sql1");
    }
}
