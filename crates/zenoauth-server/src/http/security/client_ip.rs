//! The client's IP address: the single source of truth for every per-IP
//! decision (rate-limit buckets, failed-login counters by source address,
//! the `ip` of audit events and of sessions).
//!
//! By default it is the TCP peer. When the peer is one of the operator's
//! **trusted proxies** (`security.trusted_proxies`), the address is taken
//! from the one forwarding header the proxies are configured to append
//! (`security.forwarded_header`): `X-Forwarded-For` (the default) or
//! `Forwarded` (RFC 7239, its `for=` parameters). It is read by the
//! *rightmost untrusted* rule: walk the list from the right (the hop
//! closest to us), skip the addresses of trusted proxies, and take the
//! first one that is not a trusted proxy. Everything left of it was written
//! by a party we do not trust and is ignored, so a client cannot choose its
//! own address by sending a forged header.
//!
//! The other header is never read: a proxy that appends only one of them
//! passes the client's copy of the other along unchanged, so believing it
//! (or letting a disagreement between the two decide) would let a client
//! pick, or erase, its own address.
//!
//! From an untrusted peer the headers are ignored completely. A malformed
//! chain (an element that is not an address, `for=unknown`, an obfuscated
//! node, a header that does not parse) falls back to the peer address — the
//! hops right of the malformed one were written by trusted proxies, so
//! only a misbehaving proxy can cause it. Nothing here fails a request.
//!
//! `X-Forwarded-Proto` and `X-Forwarded-Host` are never read: issuers and
//! redirect URLs come from the configured public URL alone.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::http::header::FORWARDED;
use axum::http::{HeaderMap, HeaderName};
use ipnet::{IpNet, Ipv4Net};

/// `X-Forwarded-For` (de-facto standard).
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Which forwarding header the trusted proxies append (and the only one
/// read): `security.forwarded_header`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For` (nginx, HAProxy, most load balancers).
    #[default]
    XForwardedFor,
    /// `Forwarded` (RFC 7239).
    Forwarded,
}

impl ForwardedHeader {
    /// `x-forwarded-for` or `forwarded` (any case, surrounding blanks ignored).
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "x-forwarded-for" => Ok(Self::XForwardedFor),
            "forwarded" => Ok(Self::Forwarded),
            _ => Err(format!("{text:?} is not x-forwarded-for or forwarded")),
        }
    }
}

/// The address ranges of the reverse proxies whose forwarding headers are
/// believed. Empty by default: the TCP peer is the client. Cheap to clone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Arc<[IpNet]>);

impl TrustedProxies {
    /// Parses one entry: an address (`10.0.0.7`, `::1`) or a CIDR range
    /// (`10.0.0.0/8`, `fd00::/8`). IPv4-mapped IPv6 entries
    /// (`::ffff:10.0.0.7`) are read as the IPv4 they map. A `/0` range
    /// (`0.0.0.0/0`, `::/0`) is refused: it would trust every peer, so any
    /// client could name its own address.
    pub fn parse_entry(text: &str) -> Result<IpNet, String> {
        let text = text.trim();
        let net = match text.parse::<IpNet>() {
            Ok(net) => net,
            Err(_) => match text.parse::<IpAddr>() {
                Ok(address) => IpNet::from(address),
                Err(_) => return Err(format!("{text:?} is not an IP address or CIDR range")),
            },
        };
        let net = canonical_net(net.trunc());
        if net.prefix_len() == 0 {
            return Err(format!("{text:?} would trust every address; list the proxies' own addresses or ranges"));
        }
        Ok(net)
    }

    /// Parses a comma-separated list (the environment variable's form);
    /// empty entries are skipped, so `""` is the empty list.
    pub fn parse_list(text: &str) -> Result<Self, String> {
        Self::parse_entries(text.split(','))
    }

    /// Parses entries (the TOML array's form); blank entries are skipped.
    pub fn parse_entries<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let nets = entries
            .into_iter()
            .filter(|entry| !entry.trim().is_empty())
            .map(Self::parse_entry)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self(nets.into()))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The ranges, as configured (normalised).
    pub fn ranges(&self) -> &[IpNet] {
        &self.0
    }

    pub fn is_trusted(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.0.iter().any(|net| net.contains(&address))
    }
}

/// An IPv4-mapped IPv6 range (`::ffff:0:0/96` and narrower) as the IPv4
/// range it maps; anything else unchanged.
fn canonical_net(net: IpNet) -> IpNet {
    if let IpNet::V6(v6) = net {
        if let (Some(v4), true) = (v6.addr().to_ipv4_mapped(), v6.prefix_len() >= 96) {
            if let Ok(mapped) = Ipv4Net::new(v4, v6.prefix_len() - 96) {
                return IpNet::V4(mapped);
            }
        }
    }
    net
}

/// The client's address for a request that arrived from `peer` with
/// `headers`, reading only `header` (see the module documentation for the
/// rule).
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies, header: ForwardedHeader) -> IpAddr {
    let peer = peer.to_canonical();
    if trusted.is_empty() || !trusted.is_trusted(peer) {
        return peer;
    }
    let chain = match header {
        ForwardedHeader::XForwardedFor => x_forwarded_for_chain(headers),
        ForwardedHeader::Forwarded => forwarded_chain(headers),
    };
    // No header or a malformed hop: the peer.
    rightmost_untrusted(&chain, trusted).unwrap_or(peer)
}

/// Walks `chain` (oldest hop first; `None` for a hop that names no
/// address) from the right: the first address that is not a trusted proxy;
/// when every hop is trusted, the leftmost (the origin as the trusted
/// proxies report it). `None` when a hop reached on the way names no
/// address, or the chain is empty. Hops left of the answer are never
/// looked at: they may be anything a client sent.
fn rightmost_untrusted(chain: &[Option<IpAddr>], trusted: &TrustedProxies) -> Option<IpAddr> {
    for hop in chain.iter().rev() {
        let address = (*hop)?;
        if !trusted.is_trusted(address) {
            return Some(address);
        }
    }
    chain.first().copied().flatten()
}

/// The field lines of `name`, in order (several lines are one
/// comma-separated list, RFC 9110 §5.3); a line that is not text is `None`.
fn field_lines<'a>(headers: &'a HeaderMap, name: &HeaderName) -> impl Iterator<Item = Option<&'a str>> {
    headers.get_all(name).iter().map(|value| value.to_str().ok())
}

/// The `X-Forwarded-For` hops, oldest first.
fn x_forwarded_for_chain(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let mut chain = Vec::new();
    for line in field_lines(headers, &X_FORWARDED_FOR) {
        match line {
            Some(line) => chain.extend(line.split(',').map(|element| parse_forwarded_address(element.trim()))),
            None => chain.push(None),
        }
    }
    chain
}

/// An address as proxies write it in `X-Forwarded-For`: `192.0.2.1`,
/// `2001:db8::1`, and the forms some add a port to or bracket
/// (`192.0.2.1:4711`, `[2001:db8::1]`, `[2001:db8::1]:4711`).
fn parse_forwarded_address(text: &str) -> Option<IpAddr> {
    let address =
        text.parse::<IpAddr>().ok().or_else(|| text.parse::<SocketAddr>().ok().map(|socket| socket.ip())).or_else(
            || text.strip_prefix('[')?.strip_suffix(']')?.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6),
        )?;
    Some(address.to_canonical())
}

/// The `for=` hops of the `Forwarded` header (RFC 7239), oldest first. An
/// element without an identifiable `for=` (absent, twice, `unknown`, an
/// obfuscated identifier, not parseable) is `None`; so is a whole line
/// that does not parse (an open quote).
fn forwarded_chain(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let mut chain = Vec::new();
    for line in field_lines(headers, &FORWARDED) {
        match line.and_then(|line| split_outside_quotes(line, ',')) {
            Some(elements) => chain.extend(elements.into_iter().map(forwarded_for)),
            None => chain.push(None),
        }
    }
    chain
}

/// The address of one `Forwarded` element's `for=` parameter.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    let mut node = None;
    for pair in split_outside_quotes(element, ';')? {
        let (name, value) = pair.split_once('=')?;
        if name.trim().eq_ignore_ascii_case("for") {
            if node.is_some() {
                return None; // RFC 7239 §4: a parameter occurs at most once per element
            }
            node = Some(unquote(value.trim())?);
        }
    }
    parse_node(&node?)
}

/// A `for=` node (RFC 7239 §6): `192.0.2.43`, `"192.0.2.43:47011"`,
/// `"[2001:db8:cafe::17]"`, `"[2001:db8:cafe::17]:4711"`. `unknown` and
/// obfuscated identifiers (`_hidden`) identify no address: `None`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Some(rest) = node.strip_prefix('[') {
        let (address, after) = rest.split_once(']')?;
        let port_ok = after.is_empty() || after.strip_prefix(':').is_some_and(is_node_port);
        let address = address.parse::<std::net::Ipv6Addr>().ok().filter(|_| port_ok)?;
        return Some(IpAddr::V6(address).to_canonical());
    }
    let (address, port) = match node.split_once(':') {
        Some((address, port)) => (address, Some(port)),
        None => (node, None),
    };
    if port.is_some_and(|port| !is_node_port(port)) {
        return None;
    }
    address.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

/// `node-port`: a port number, or an obfuscated port (`_` followed by
/// letters, digits, `.`, `_`, `-`).
fn is_node_port(text: &str) -> bool {
    text.parse::<u16>().is_ok()
        || text.strip_prefix('_').is_some_and(|rest| {
            !rest.is_empty() && rest.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"._-".contains(&byte))
        })
}

/// Splits at `separator` outside double-quoted strings; `None` when a
/// quote is left open.
fn split_outside_quotes(text: &str, separator: char) -> Option<Vec<&str>> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (index, character) in text.char_indices() {
        match character {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            _ if character == separator && !quoted => {
                parts.push(&text[start..index]);
                start = index + character.len_utf8();
            }
            _ => {}
        }
    }
    if quoted {
        return None;
    }
    parts.push(&text[start..]);
    Some(parts)
}

/// A token's text or a quoted-string's content (backslash escapes undone).
fn unquote(value: &str) -> Option<String> {
    let Some(inner) = value.strip_prefix('"') else {
        // RFC 9110 token characters: an IPv6 address or a port must be quoted.
        let is_token = !value.is_empty()
            && value.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte));
        return is_token.then(|| value.to_owned());
    };
    let inner = inner.strip_suffix('"')?;
    let mut text = String::with_capacity(inner.len());
    let mut characters = inner.chars();
    while let Some(character) = characters.next() {
        match character {
            '\\' => text.push(characters.next()?),
            '"' => return None,
            _ => text.push(character),
        }
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn trusted(list: &str) -> TrustedProxies {
        TrustedProxies::parse_list(list).unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    /// Resolves with `X-Forwarded-For` configured (the default).
    fn resolve(peer: &str, proxies: &str, pairs: &[(&str, &str)]) -> IpAddr {
        client_ip(ip(peer), &headers(pairs), &trusted(proxies), ForwardedHeader::XForwardedFor)
    }

    /// Resolves with `Forwarded` configured.
    fn resolve_rfc(peer: &str, proxies: &str, pairs: &[(&str, &str)]) -> IpAddr {
        client_ip(ip(peer), &headers(pairs), &trusted(proxies), ForwardedHeader::Forwarded)
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client_whatever_the_headers_say() {
        let spoofed = [("x-forwarded-for", "198.51.100.1"), ("forwarded", "for=198.51.100.2")];
        assert_eq!(resolve("203.0.113.9", "", &spoofed), ip("203.0.113.9"));
        assert_eq!(resolve_rfc("203.0.113.9", "", &spoofed), ip("203.0.113.9"));
    }

    #[test]
    fn a_spoofed_header_from_an_untrusted_peer_is_ignored() {
        let spoofed = [("x-forwarded-for", "198.51.100.1")];
        assert_eq!(resolve("203.0.113.9", "10.0.0.0/8", &spoofed), ip("203.0.113.9"));
        let spoofed = [("forwarded", "for=198.51.100.1")];
        assert_eq!(resolve_rfc("203.0.113.9", "10.0.0.0/8", &spoofed), ip("203.0.113.9"));
    }

    #[test]
    fn a_trusted_proxy_without_headers_is_the_client() {
        assert_eq!(resolve("10.0.0.1", "10.0.0.0/8", &[]), ip("10.0.0.1"));
    }

    #[test]
    fn one_trusted_proxy_gives_the_address_it_appended() {
        let pairs = [("x-forwarded-for", "198.51.100.7")];
        assert_eq!(resolve("10.0.0.1", "10.0.0.1", &pairs), ip("198.51.100.7"));
    }

    #[test]
    fn the_chain_is_walked_from_the_right_past_trusted_proxies_only() {
        // client → 10.1.1.1 → 10.2.2.2 → us (peer 10.3.3.3); the client forged a first entry.
        let pairs = [("x-forwarded-for", "1.2.3.4, 198.51.100.7, 10.1.1.1, 10.2.2.2")];
        assert_eq!(resolve("10.3.3.3", "10.0.0.0/8", &pairs), ip("198.51.100.7"));
        // The same chain over several field lines.
        let pairs = [("x-forwarded-for", "1.2.3.4, 198.51.100.7"), ("x-forwarded-for", "10.1.1.1,10.2.2.2")];
        assert_eq!(resolve("10.3.3.3", "10.0.0.0/8", &pairs), ip("198.51.100.7"));
        // Only the peer is trusted: the hop it reports is the client, even a private address.
        let pairs = [("x-forwarded-for", "198.51.100.7, 10.1.1.1")];
        assert_eq!(resolve("10.3.3.3", "10.3.3.3", &pairs), ip("10.1.1.1"));
        // What the client wrote left of its own address is never looked at.
        let pairs = [("x-forwarded-for", "garbage, 198.51.100.7, 10.1.1.1")];
        assert_eq!(resolve("10.3.3.3", "10.0.0.0/8", &pairs), ip("198.51.100.7"));
        let pairs = [("forwarded", "for=unknown, for=\"oops"), ("forwarded", "for=198.51.100.7")];
        assert_eq!(resolve_rfc("10.3.3.3", "10.0.0.0/8", &pairs), ip("198.51.100.7"));
        // Every hop trusted: the leftmost, the origin the proxies report.
        let pairs = [("x-forwarded-for", "10.1.1.1, 10.2.2.2")];
        assert_eq!(resolve("10.3.3.3", "10.0.0.0/8", &pairs), ip("10.1.1.1"));
    }

    #[test]
    fn several_ranges_and_single_addresses_can_be_trusted() {
        let proxies = "10.0.0.0/8, 192.0.2.10 ,fd00::/8,::1";
        let pairs = [("x-forwarded-for", "198.51.100.7, 192.0.2.10, fd00::5")];
        assert_eq!(resolve("::1", proxies, &pairs), ip("198.51.100.7"));
        assert_eq!(resolve("192.0.2.11", proxies, &pairs), ip("192.0.2.11"), "a neighbour is not trusted");
    }

    #[test]
    fn ipv6_clients_and_proxies_in_both_headers() {
        let proxies = "2001:db8:ffff::/48";
        let pairs = [("x-forwarded-for", "2001:db8:cafe::17, 2001:db8:ffff::2")];
        assert_eq!(resolve("2001:db8:ffff::1", proxies, &pairs), ip("2001:db8:cafe::17"));
        let pairs = [("x-forwarded-for", "[2001:db8:cafe::17]:4711")];
        assert_eq!(resolve("2001:db8:ffff::1", proxies, &pairs), ip("2001:db8:cafe::17"));
        let pairs = [("forwarded", r#"for="[2001:db8:cafe::17]:4711";proto=https, for="[2001:db8:ffff::2]""#)];
        assert_eq!(resolve_rfc("2001:db8:ffff::1", proxies, &pairs), ip("2001:db8:cafe::17"));
    }

    #[test]
    fn ipv4_mapped_addresses_are_the_ipv4_they_map() {
        let pairs = [("x-forwarded-for", "::ffff:198.51.100.7")];
        assert_eq!(resolve("::ffff:127.0.0.1", "127.0.0.1", &pairs), ip("198.51.100.7"));
        assert_eq!(resolve("127.0.0.1", "::ffff:127.0.0.0/104", &pairs), ip("198.51.100.7"));
        assert_eq!(resolve("::ffff:203.0.113.9", "127.0.0.1", &pairs), ip("203.0.113.9"));
    }

    #[test]
    fn the_forwarded_header_is_read_by_rfc_7239() {
        let proxies = "10.0.0.0/8";
        for (value, expected) in [
            ("for=198.51.100.7", "198.51.100.7"),
            ("For=\"198.51.100.7:47011\";by=10.0.0.2;proto=https", "198.51.100.7"),
            ("for=1.2.3.4, for=198.51.100.7;host=\"a,b\", for=10.1.1.1", "198.51.100.7"),
            ("proto=http;for=198.51.100.7", "198.51.100.7"),
        ] {
            assert_eq!(resolve_rfc("10.9.9.9", proxies, &[("forwarded", value)]), ip(expected), "{value}");
        }
    }

    #[test]
    fn garbage_falls_back_to_the_peer_address() {
        let proxies = "10.0.0.0/8";
        for pairs in [
            vec![("x-forwarded-for", "not-an-address")],
            vec![("x-forwarded-for", "198.51.100.7, , 10.1.1.1")],
            vec![("x-forwarded-for", "")],
            vec![("x-forwarded-for", "198.51.100.7:99999")],
            vec![("x-forwarded-for", "300.1.1.1")],
            vec![("forwarded", "for=unknown")],
            vec![("forwarded", "for=_hidden, for=10.1.1.1")],
            vec![("forwarded", "by=10.1.1.1")],
            vec![("forwarded", "for=\"198.51.100.7")],
            vec![("forwarded", "for=198.51.100.7;for=198.51.100.8")],
            vec![("forwarded", "for=[2001:db8::1]")],
            vec![("forwarded", "for=\"[2001:db8::1\"")],
            vec![("forwarded", "for")],
            vec![("forwarded", ";;;,,,===")],
        ] {
            let resolved = if pairs[0].0 == "forwarded" { resolve_rfc } else { resolve };
            assert_eq!(resolved("10.9.9.9", proxies, &pairs), ip("10.9.9.9"), "{pairs:?}");
        }
        // Bytes that are not text.
        let mut headers = HeaderMap::new();
        headers.insert(X_FORWARDED_FOR, HeaderValue::from_bytes(b"198.51.100.7\xff").unwrap());
        let resolved = client_ip(ip("10.9.9.9"), &headers, &trusted(proxies), ForwardedHeader::XForwardedFor);
        assert_eq!(resolved, ip("10.9.9.9"));
    }

    #[test]
    fn only_the_configured_header_is_read_and_the_other_cannot_erase_or_pick_the_address() {
        let proxies = "10.0.0.0/8";
        // A proxy that appends only X-Forwarded-For passes a client's own Forwarded along:
        // whatever it says — another address, garbage — changes nothing.
        for forged in ["for=1.2.3.4", "for=unknown", "for=\"oops", "for=10.1.1.1"] {
            let pairs = [("forwarded", forged), ("x-forwarded-for", "198.51.100.7")];
            assert_eq!(resolve("10.9.9.9", proxies, &pairs), ip("198.51.100.7"), "{forged}");
        }
        // Configured for Forwarded, a client's X-Forwarded-For is ignored the same way.
        for forged in ["1.2.3.4", "garbage", "10.1.1.1"] {
            let pairs = [("x-forwarded-for", forged), ("forwarded", "for=198.51.100.7")];
            assert_eq!(resolve_rfc("10.9.9.9", proxies, &pairs), ip("198.51.100.7"), "{forged}");
        }
        // The configured header missing: the peer, whatever the other one says.
        assert_eq!(resolve("10.9.9.9", proxies, &[("forwarded", "for=1.2.3.4")]), ip("10.9.9.9"));
        assert_eq!(resolve_rfc("10.9.9.9", proxies, &[("x-forwarded-for", "1.2.3.4")]), ip("10.9.9.9"));
    }

    #[test]
    fn the_header_setting_parses() {
        assert_eq!(ForwardedHeader::default(), ForwardedHeader::XForwardedFor);
        assert_eq!(ForwardedHeader::parse(" X-Forwarded-For "), Ok(ForwardedHeader::XForwardedFor));
        assert_eq!(ForwardedHeader::parse("forwarded"), Ok(ForwardedHeader::Forwarded));
        for bad in ["", "both", "x-real-ip", "forwarded, x-forwarded-for"] {
            assert!(ForwardedHeader::parse(bad).unwrap_err().contains(bad));
        }
    }

    #[test]
    fn a_huge_header_is_handled() {
        let long = vec!["10.1.1.1"; 5000].join(", ");
        assert_eq!(resolve("10.9.9.9", "10.0.0.0/8", &[("x-forwarded-for", &long)]), ip("10.1.1.1"));
    }

    #[test]
    fn entries_parse_and_bad_ones_are_named() {
        let list = trusted(" 10.0.0.0/8 , ,192.0.2.1,2001:db8::/32, ::ffff:192.0.2.0/120");
        assert_eq!(list.ranges().len(), 4);
        assert!(list.is_trusted(ip("10.200.3.4")) && list.is_trusted(ip("192.0.2.1")));
        assert!(list.is_trusted(ip("2001:db8::9")) && list.is_trusted(ip("192.0.2.77")));
        assert!(!list.is_trusted(ip("11.0.0.1")) && !list.is_trusted(ip("2001:db9::1")));
        assert!(TrustedProxies::parse_list("").unwrap().is_empty());
        for bad in ["10.0.0.0/33", "proxy.example", "10.0.0", "::1/129", "*"] {
            let error = TrustedProxies::parse_list(bad).unwrap_err();
            assert!(error.contains(bad), "{error}");
        }
        // A /0 range trusts every peer: refused, in either family and any spelling.
        for everything in ["0.0.0.0/0", "::/0", "10.0.0.0/0", "::ffff:0.0.0.0/96", "10.0.0.0/8, ::/0"] {
            let error = TrustedProxies::parse_list(everything).unwrap_err();
            assert!(error.contains("would trust every address"), "{everything}: {error}");
        }
        assert!(TrustedProxies::parse_list("0.0.0.0/1, 128.0.0.0/1").is_ok(), "only /0 itself is refused");
    }
}
