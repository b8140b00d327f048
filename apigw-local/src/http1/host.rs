//! The `Host` header's value, checked before it reaches the function as the URL of its request.

use super::head::trim_ows;

/// Whether a `Host` value is `host[:port]` in a form that URL parsers agree on: a bracketed IPv6 address, a dotted-quad
/// IPv4 address or a DNS name, and a port up to 65535. Stricter than RFC 3986's `reg-name`, as real hosts are: a name
/// is letters, digits, hyphens and underscores (container names have them), without percent-encoding or sub-delimiters;
/// its last label starts with a letter (the WHATWG URL standard reads a name ending in a number as an IPv4 address, and
/// fails on one that is not); and no label is punycode (`xn--`), which only an IDNA implementation can validate. A
/// local gateway is reached as `localhost`, an IP address or a container's name.
pub(super) fn is_valid_host(value: &[u8]) -> bool {
    let Ok(value) = std::str::from_utf8(trim_ows(value)) else { return false };
    // The port follows the last colon, unless that colon is inside an IPv6 address.
    let (host, port) = match value.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, Some(port)),
        _ => (value, None),
    };
    let valid_port =
        port.is_none_or(|port| port.bytes().all(|byte| byte.is_ascii_digit()) && port.parse::<u16>().is_ok());
    let valid_host = match host.strip_prefix('[').and_then(|host| host.strip_suffix(']')) {
        Some(address) => address.parse::<std::net::Ipv6Addr>().is_ok(),
        None => host.parse::<std::net::Ipv4Addr>().is_ok() || is_dns_name(host),
    };
    valid_host && valid_port
}

/// Letters, digits, hyphens and underscores in non-empty dot-separated labels, none of them punycode, the last starting
/// with a letter.
fn is_dns_name(host: &str) -> bool {
    let valid_label = |label: &str| {
        !label.is_empty()
            && label.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
            && !label.get(..4).is_some_and(|prefix| prefix.eq_ignore_ascii_case("xn--"))
    };
    host.split('.').all(valid_label)
        && host.rsplit('.').next().is_some_and(|last| last.starts_with(|c: char| c.is_ascii_alphabetic()))
}

#[cfg(test)]
mod tests {
    use crate::http1::ReadError;
    use crate::http1::test_support::{LIMITS, read_one};

    #[tokio::test]
    async fn invalid_host_is_malformed() {
        let not_a_name = ["", "a b", "a%20b", "a@b", "a{b}", "hé", ".", "a..b", "a."];
        let bad_port = ["localhost:", "localhost:99999", "localhost:+80", "localhost:8080:1"];
        // What URL parsers read as an IPv4 address that is not one, or as punycode.
        let not_a_dns_name = ["1.2.3.999", "01.2.3.4", "a.123", "0x7f", "xn--zz", "a.XN--zz.b"];
        let bad_ipv6 = ["[::1", "::1", "[::1]x", "[::1]:", "[fe80::1%eth0]", "[a]"];
        for host in not_a_name.into_iter().chain(bad_port).chain(not_a_dns_name).chain(bad_ipv6) {
            let bytes = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
            let (result, _client) = read_one(bytes.as_bytes(), &LIMITS).await;
            assert!(matches!(result, Err(ReadError::Malformed(_))), "{host:?}: {result:?}");
        }
        let (result, _client) = read_one(b"GET / HTTP/1.1\r\nHost: a\r\nhost: a b\r\n\r\n", &LIMITS).await;
        assert!(matches!(result, Err(ReadError::Malformed(_))), "every Host is checked: {result:?}");
    }

    #[tokio::test]
    async fn valid_hosts() {
        let names = ["localhost", "localhost:8080", "LocalHost:00080", "h", "apigw-local", "my_app-1.b2.example:1"];
        let addresses = ["127.0.0.1", "127.0.0.1:65535", "[::1]", "[::1]:8080", "[::ffff:192.0.2.7]:443"];
        for host in names.into_iter().chain(addresses).chain(["r275xc9bmd.execute-api.us-east-1.amazonaws.com"]) {
            let bytes = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
            let (result, _client) = read_one(bytes.as_bytes(), &LIMITS).await;
            assert_eq!(result.unwrap().header("Host"), Some(host));
        }
    }
}
