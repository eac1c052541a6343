//! URLs as the spec and the rendered files give them: the host and the
//! TCP port a client calls, which network policies must let through.

/// A URL's host, lower-cased, without port or brackets.
pub fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next()?
    } else {
        authority.split(':').next()?
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// The TCP port a URL calls: its own, else its scheme's.
pub fn port_of(url: &str) -> Option<u16> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let after_host = match authority.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map(|(_, r)| r)?,
        None => authority.find(':').map_or("", |i| &authority[i..]),
    };
    match after_host.strip_prefix(':') {
        Some(port) => port.parse().ok(),
        None => match scheme.to_ascii_lowercase().as_str() {
            "https" => Some(443),
            "http" => Some(80),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_a_url_calls() {
        assert_eq!(port_of("https://s3.backup.example.org"), Some(443));
        assert_eq!(port_of("http://s3.backup.example.org/bucket"), Some(80));
        assert_eq!(port_of("https://s3.backup.example.org:9443/x"), Some(9443));
        assert_eq!(port_of("http://[2001:db8::1]:9000/"), Some(9000));
        assert_eq!(port_of("https://[2001:db8::1]/"), Some(443));
        assert_eq!(port_of("https://key@s3.example.org:8443"), Some(8443));
        assert_eq!(port_of("s3://bucket/path"), None);
        assert_eq!(port_of("no scheme"), None);
    }
}
