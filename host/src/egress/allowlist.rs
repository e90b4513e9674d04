//! A workflow's outbound HTTP allowlist: which `scheme://host:port` it may
//! call, and which resolved addresses it may connect to.
//!
//! Entries are `scheme://host[:port]`: scheme `http`, `https` or `*`; host a
//! name, `*.domain` (its subdomains, not the domain itself), `*` (any name),
//! an IP address (`10.0.0.7`, `[::1]`) or a CIDR range (`10.0.0.0/8`,
//! `[fd00::/8]`); port a number, a range `8000-8999` or `*`, and when left out
//! the scheme's own (80, 443). No paths. An entry `{{ NAME }}` names one of
//! the workflow's secrets: once it is set to a URL, that URL's scheme, host
//! and port are allowed (the URL's path does not matter). An address that is not public
//! (loopback, private, link-local, unspecified, multicast…) is reachable only
//! through an entry naming it, or its range, literally.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

use crate::secrets::SecretValues;

/// A parsed allowlist; it serializes as its entries' text. Cloning it is cheap.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct Allowlist {
    rules: Arc<[Rule]>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    text: String,
    scheme: Option<Scheme>,
    host: HostPattern,
    ports: Ports,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    AnyName,
    Name(String),
    /// `.domain`: names that end with it.
    Subdomains(String),
    /// An address (a /32 or /128) or a range, named literally.
    Net(IpNet),
    /// The origin of the URL in this secret, when it is set.
    Secret(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ports {
    SchemeDefault,
    Any,
    Range(u16, u16),
}

/// Where a request goes: a host name or an IP address literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Name(String),
    Ip(IpAddr),
}

impl Host {
    /// The host of a URL authority, without brackets or port.
    pub fn parse(host: &str) -> Host {
        let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        match bare.parse::<IpAddr>() {
            Ok(ip) => Host::Ip(ip),
            Err(_) => Host::Name(bare.to_ascii_lowercase()),
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(name) => f.write_str(name),
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Host::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

impl Rule {
    fn parse(text: &str) -> Result<Rule, String> {
        let bad = |why: &str| format!("allow_http entry {text:?}: {why}");
        let trimmed = text.trim();
        if let Some(inner) = trimmed.strip_prefix("{{").and_then(|t| t.strip_suffix("}}")) {
            let name = inner.trim();
            let valid = !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(bad("expected {{ SECRET_NAME }}, a name of letters, digits and _"));
            }
            let host = HostPattern::Secret(name.to_owned());
            return Ok(Rule { text: trimmed.to_owned(), scheme: None, host, ports: Ports::Any });
        }
        let (scheme, rest) = trimmed.split_once("://").ok_or_else(|| bad("expected scheme://host[:port]"))?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => Some(Scheme::Http),
            "https" => Some(Scheme::Https),
            "*" => None,
            _ => return Err(bad("the scheme is http, https or *")),
        };
        if has_path(rest) {
            return Err(bad("no paths: name only scheme://host[:port]"));
        }
        let (host, port) = split_port(rest).ok_or_else(|| bad("expected scheme://host[:port]"))?;
        let host = parse_host_pattern(host).map_err(|why| bad(&why))?;
        let ports = match port {
            None => Ports::SchemeDefault,
            Some("*") => Ports::Any,
            Some(p) => {
                let (from, to) = p.split_once('-').unwrap_or((p, p));
                let parse = |n: &str| n.parse::<u16>().ok().filter(|&n| n > 0);
                match (parse(from), parse(to)) {
                    (Some(from), Some(to)) if from <= to => Ports::Range(from, to),
                    _ => return Err(bad("the port is a number from 1 to 65535, a range like 8000-8999, or *")),
                }
            }
        };
        Ok(Rule { text: trimmed.to_owned(), scheme, host, ports })
    }

    fn allows(&self, scheme: Scheme, host: &Host, port: u16, secrets: &SecretValues) -> bool {
        if let HostPattern::Secret(name) = &self.host {
            return secret_origin(secrets, name).is_some_and(|origin| origin == (scheme, host.clone(), port));
        }
        let host_ok = match (&self.host, host) {
            (HostPattern::AnyName, Host::Name(_)) => true,
            (HostPattern::Name(n), Host::Name(h)) => n == h,
            (HostPattern::Subdomains(suffix), Host::Name(h)) => h.ends_with(suffix.as_str()),
            (HostPattern::Net(net), Host::Ip(ip)) => net.contains(ip),
            _ => false,
        };
        host_ok && self.scheme.is_none_or(|s| s == scheme) && self.port_ok(scheme, port)
    }

    fn port_ok(&self, scheme: Scheme, port: u16) -> bool {
        match self.ports {
            Ports::SchemeDefault => port == scheme.default_port(),
            Ports::Any => true,
            Ports::Range(from, to) => (from..=to).contains(&port),
        }
    }

    /// Whether this entry names `ip` (or its range) literally, for this
    /// scheme and port: an address entry, or a secret whose URL names it.
    fn names_address(&self, scheme: Scheme, ip: IpAddr, port: u16, secrets: &SecretValues) -> bool {
        match &self.host {
            HostPattern::Secret(name) => secret_origin(secrets, name) == Some((scheme, Host::Ip(ip), port)),
            HostPattern::Net(net) => {
                net.contains(&ip) && self.scheme.is_none_or(|s| s == scheme) && self.port_ok(scheme, port)
            }
            _ => false,
        }
    }
}

/// The scheme, host and port of the URL in secret `name`, if it is set to one.
fn secret_origin(secrets: &SecretValues, name: &str) -> Option<(Scheme, Host, u16)> {
    let (scheme, rest) = secrets.get(name)?.trim().split_once("://")?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        _ => return None,
    };
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    if authority.contains('@') {
        return None;
    }
    let (host, port) = split_port(authority)?;
    let port = match port {
        None => scheme.default_port(),
        Some(p) => p.parse().ok()?,
    };
    Some((scheme, Host::parse(host), port))
}

/// Whether `host[:port]` goes on with a path, query or fragment: a `/` that
/// ends an address and starts a prefix length (`10.0.0.0/8`, `[fd00::/8]`) is
/// a range, any other is a path.
fn has_path(rest: &str) -> bool {
    if rest.contains(['?', '#']) {
        return true;
    }
    let Some((before, after)) = rest.split_once('/') else { return false };
    let prefix_len = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    let range = match before.strip_prefix('[') {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok() && after.split(']').next().is_some_and(prefix_len),
        None => before.parse::<std::net::Ipv4Addr>().is_ok() && after.split(':').next().is_some_and(prefix_len),
    };
    !range || after.contains('/')
}

/// `host[:port]`, where an IPv6 host is in brackets.
fn split_port(rest: &str) -> Option<(&str, Option<&str>)> {
    if let Some(inner) = rest.strip_prefix('[') {
        let (host, after) = inner.split_once(']')?;
        return match after {
            "" => Some((host, None)),
            _ => Some((host, Some(after.strip_prefix(':')?))),
        };
    }
    // A v4 range keeps its `/`; the port follows the last `:`.
    match rest.rsplit_once(':') {
        Some((host, port)) => Some((host, Some(port))),
        None => Some((rest, None)),
    }
}

fn parse_host_pattern(host: &str) -> Result<HostPattern, String> {
    if host == "*" {
        return Ok(HostPattern::AnyName);
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(HostPattern::Net(IpNet::from(ip)));
    }
    if host.contains('/') {
        let net: IpNet = host.parse().map_err(|_| format!("{host:?} is not a CIDR range like 10.0.0.0/8"))?;
        return Ok(HostPattern::Net(net.trunc()));
    }
    let name = host.to_ascii_lowercase();
    let (subdomains, domain) = match name.strip_prefix("*.") {
        Some(domain) => (true, domain),
        None => (false, name.as_str()),
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
    };
    if domain.is_empty() || domain.len() > 253 || !domain.split('.').all(label_ok) {
        return Err(format!("{host:?} is not a host name, *.domain, * or an IP address"));
    }
    Ok(if subdomains { HostPattern::Subdomains(format!(".{domain}")) } else { HostPattern::Name(name) })
}

/// Why a request was refused, for the guest's error and the record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Denied(pub String);

impl Allowlist {
    /// Parses the entries a workflow declares; the first bad one is named.
    pub fn parse(entries: &[String]) -> Result<Allowlist, String> {
        let rules = entries.iter().map(|e| Rule::parse(e)).collect::<Result<Vec<_>, _>>()?;
        Ok(Allowlist { rules: rules.into() })
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn entries(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.text.as_str())
    }

    /// This list without `removed` entries (the operator's narrowing); an
    /// entry the list doesn't hold is an error.
    pub fn without(&self, removed: &[String]) -> Result<Allowlist, String> {
        for entry in removed {
            if !self.rules.iter().any(|r| r.text == entry.trim()) {
                return Err(format!(
                    "--deny-http {entry:?} is not in the workflow's allow_http list ({})",
                    self.describe()
                ));
            }
        }
        let rules: Vec<Rule> =
            self.rules.iter().filter(|r| !removed.iter().any(|e| e.trim() == r.text)).cloned().collect();
        Ok(Allowlist { rules: rules.into() })
    }

    fn describe(&self) -> String {
        if self.rules.is_empty() { "empty".into() } else { self.entries().collect::<Vec<_>>().join(", ") }
    }

    /// Whether a request to `scheme://host:port` is allowed, before resolution.
    pub fn admit(&self, scheme: Scheme, host: &Host, port: u16, secrets: &SecretValues) -> Result<(), Denied> {
        if self.rules.is_empty() {
            return Err(Denied(format!(
                "{}://{host}:{port} is refused: this workflow may make no outbound HTTP requests \
                 (declare `allow_http = [\"{}://{host}\"]` in floww::workflow!)",
                scheme.as_str(),
                scheme.as_str()
            )));
        }
        if self.rules.iter().any(|r| r.allows(scheme, host, port, secrets)) {
            Ok(())
        } else {
            Err(Denied(format!(
                "{}://{host}:{port} is refused: no allow_http entry matches it (the workflow allows {})",
                scheme.as_str(),
                self.describe()
            )))
        }
    }

    /// Whether `ip`, an address `host` resolved to (or named), may be
    /// connected to: any public address; any other only if an entry names
    /// it or its range literally, or `private_ok` (the operator's choice).
    pub fn check_address(
        &self,
        scheme: Scheme,
        host: &Host,
        ip: IpAddr,
        port: u16,
        private_ok: bool,
        secrets: &SecretValues,
    ) -> Result<(), Denied> {
        let Some(kind) = special_kind(ip) else { return Ok(()) };
        if private_ok || self.rules.iter().any(|r| r.names_address(scheme, ip, port, secrets)) {
            return Ok(());
        }
        let shown = Host::Ip(ip);
        let resolved = match host {
            Host::Name(name) => format!("{name} resolves to {shown}, "),
            Host::Ip(_) => format!("{shown} is "),
        };
        Err(Denied(format!(
            "{}://{host}:{port} is refused: {resolved}a {kind} address, which only an allow_http entry naming it \
             literally (e.g. \"{}://{shown}:{port}\") or the host's --allow-private-egress allows",
            scheme.as_str(),
            scheme.as_str()
        )))
    }
}

impl TryFrom<Vec<String>> for Allowlist {
    type Error = String;
    fn try_from(entries: Vec<String>) -> Result<Self, String> {
        Allowlist::parse(&entries)
    }
}

impl From<Allowlist> for Vec<String> {
    fn from(list: Allowlist) -> Self {
        list.rules.iter().map(|r| r.text.clone()).collect()
    }
}

/// What kind of address that is not public `ip` is; `None` for a public one.
fn special_kind(ip: IpAddr) -> Option<&'static str> {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            if v4.is_loopback() {
                Some("loopback")
            } else if v4.is_private() || (a == 100 && (64..128).contains(&b)) {
                Some("private")
            } else if v4.is_link_local() {
                Some("link-local")
            } else if v4.is_unspecified() || a == 0 {
                Some("unspecified")
            } else if v4.is_multicast() || v4.is_broadcast() || a >= 240 {
                Some("multicast or reserved")
            } else if v4.is_documentation() || (a == 198 && (b == 18 || b == 19)) {
                Some("reserved")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unspecified() {
                Some("unspecified")
            } else if v6.is_multicast() {
                Some("multicast or reserved")
            } else if first & 0xffc0 == 0xfe80 {
                Some("link-local")
            } else if first & 0xfe00 == 0xfc00 {
                Some("private")
            } else {
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> Allowlist {
        Allowlist::parse(&entries.iter().map(|e| e.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn error(entry: &str) -> String {
        Allowlist::parse(&[entry.to_string()]).unwrap_err()
    }

    fn none() -> SecretValues {
        SecretValues::default()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn entries_follow_the_grammar() {
        for good in [
            "https://api.github.com",
            "https://*.slack.com",
            "http://127.0.0.1:8080",
            "*://example.com:*",
            "http://10.0.0.0/8:8000-8999",
            "https://[::1]:8443",
            "https://[fd00::/8]",
            "https://*",
        ] {
            Allowlist::parse(&[good.to_string()]).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
        assert!(error("api.github.com").contains("expected scheme://host[:port]"));
        assert!(error("ftp://a.example").contains("the scheme is http, https or *"));
        assert!(error("https://api.github.com/repos").contains("no paths"));
        assert!(error("https://a.example:0").contains("a number from 1 to 65535"));
        assert!(error("https://a.example:9-8").contains("a range like 8000-8999"));
        assert!(error("https://bad_name").contains("is not a host name"));
        assert!(error("http://10.0.0.0/99").contains("not a CIDR range"));
        assert!(error("{{ 1BAD }}").contains("expected {{ SECRET_NAME }}"));
    }

    #[test]
    fn requests_match_scheme_host_and_port() {
        let allow = list(&["https://api.github.com", "https://*.slack.com", "http://127.0.0.1:8000-8001"]);
        let name = |n: &str| Host::parse(n);
        assert!(allow.admit(Scheme::Https, &name("API.GitHub.com"), 443, &none()).is_ok());
        assert!(allow.admit(Scheme::Http, &name("api.github.com"), 80, &none()).is_err(), "scheme");
        assert!(allow.admit(Scheme::Https, &name("api.github.com"), 8443, &none()).is_err(), "port");
        assert!(allow.admit(Scheme::Https, &name("hooks.slack.com"), 443, &none()).is_ok());
        assert!(allow.admit(Scheme::Https, &name("slack.com"), 443, &none()).is_err(), "subdomains only");
        assert!(allow.admit(Scheme::Https, &name("evilslack.com"), 443, &none()).is_err());
        assert!(allow.admit(Scheme::Http, &name("127.0.0.1"), 8001, &none()).is_ok());
        assert!(allow.admit(Scheme::Http, &name("127.0.0.1"), 8002, &none()).is_err());
        let refused = allow.admit(Scheme::Https, &name("evil.example"), 443, &none()).unwrap_err();
        assert_eq!(
            refused.0,
            "https://evil.example:443 is refused: no allow_http entry matches it (the workflow allows \
             https://api.github.com, https://*.slack.com, http://127.0.0.1:8000-8001)"
        );
        let none = Allowlist::default().admit(Scheme::Https, &name("a.example"), 443, &none()).unwrap_err();
        assert!(none.0.contains("this workflow may make no outbound HTTP requests"), "{none}");
    }

    #[test]
    fn addresses_that_are_not_public_need_a_literal_entry() {
        let allow = list(&["http://localhost:8080", "http://10.1.0.0/16:8080"]);
        let localhost = Host::parse("localhost");
        let refused = allow.check_address(Scheme::Http, &localhost, ip("127.0.0.1"), 8080, false, &none()).unwrap_err();
        assert!(refused.0.contains("localhost resolves to 127.0.0.1, a loopback address"), "{refused}");
        assert!(
            allow.check_address(Scheme::Http, &localhost, ip("127.0.0.1"), 8080, true, &none()).is_ok(),
            "operator"
        );
        assert!(
            allow.check_address(Scheme::Http, &localhost, ip("10.1.2.3"), 8080, false, &none()).is_ok(),
            "in the range"
        );
        assert!(allow.check_address(Scheme::Http, &localhost, ip("10.2.0.1"), 8080, false, &none()).is_err());
        assert!(
            allow.check_address(Scheme::Http, &localhost, ip("93.184.216.34"), 8080, false, &none()).is_ok(),
            "public"
        );
        for special in [
            "169.254.169.254",
            "0.0.0.0",
            "192.168.1.1",
            "100.64.0.1",
            "224.0.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
        ] {
            let host = Host::parse(special);
            assert!(allow.check_address(Scheme::Http, &host, ip(special), 80, false, &none()).is_err(), "{special}");
        }
    }

    #[test]
    fn a_secret_entry_allows_the_origin_of_the_url_it_holds_once_set() {
        let allow = list(&["{{ SLACK_WEBHOOK_URL }}", "{{HOOK}}"]);
        let hooks = Host::parse("hooks.slack.com");
        assert!(allow.admit(Scheme::Https, &hooks, 443, &none()).is_err(), "unset: nothing");
        let set = SecretValues::new(vec![
            ("SLACK_WEBHOOK_URL".into(), "https://hooks.slack.com/services/T0/B0/XYZ".into()),
            ("HOOK".into(), "http://127.0.0.1:9000/in".into()),
        ]);
        assert!(allow.admit(Scheme::Https, &hooks, 443, &set).is_ok());
        assert!(allow.admit(Scheme::Http, &hooks, 80, &set).is_err(), "its scheme and port only");
        assert!(allow.admit(Scheme::Https, &Host::parse("evil.slack.com"), 443, &set).is_err());
        let loopback = Host::parse("127.0.0.1");
        assert!(allow.admit(Scheme::Http, &loopback, 9000, &set).is_ok());
        assert!(allow.check_address(Scheme::Http, &loopback, ip("127.0.0.1"), 9000, false, &set).is_ok(), "named");
        assert!(allow.check_address(Scheme::Https, &hooks, ip("127.0.0.1"), 443, false, &set).is_err());
    }

    #[test]
    fn the_operator_removes_entries_it_names() {
        let allow = list(&["https://a.example", "https://b.example"]);
        let narrowed = allow.without(&["https://a.example".into()]).unwrap();
        assert_eq!(narrowed.entries().collect::<Vec<_>>(), ["https://b.example"]);
        let unknown = allow.without(&["https://c.example".into()]).unwrap_err();
        assert!(unknown.contains("is not in the workflow's allow_http list"), "{unknown}");
        let json = serde_json::to_string(&narrowed).unwrap();
        assert_eq!(serde_json::from_str::<Allowlist>(&json).unwrap(), narrowed);
    }
}
