//! Splitting an `http://` URL into host, port and path, with errors that show a URL that works.

use std::io;

use super::fetch_error;

/// A URL that works, shown in every "malformed URL" message.
const EXAMPLE_URL: &str = "http://127.0.0.1:8080/google";

/// The parts of an `http://` URL that a request needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Url {
    /// A name or an address; an IPv6 address keeps its brackets (`[::1]`).
    pub(crate) host: String,
    pub(crate) port: u16,
    /// Path and query, as sent on the request line; `/` when the URL has none.
    pub(crate) path: String,
}

impl Url {
    /// Parses `http://host[:port][/path][?query][#fragment]`. The fragment is dropped: it is
    /// never sent to the server.
    pub(crate) fn parse(url: &str) -> io::Result<Url> {
        let invalid = |detail: String| fetch_error(url, io::ErrorKind::InvalidInput, detail);
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid(format!(
                "the URL contains a space or a control character; percent-encode it (a space \
                 is `%20`), like `{EXAMPLE_URL}`"
            )));
        }
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(invalid(format!(
                "the URL has no scheme; write it in full, like `{EXAMPLE_URL}`"
            )));
        };
        if scheme.eq_ignore_ascii_case("https") {
            return Err(fetch_error(
                url,
                io::ErrorKind::Unsupported,
                "miniloop's HTTP client speaks plain HTTP only (TLS is out of scope); use an \
                 `http://` URL, for example the lessons' slow-sites server \
                 (`cargo run --example slow_server`)",
            ));
        }
        if !scheme.eq_ignore_ascii_case("http") {
            return Err(fetch_error(
                url,
                io::ErrorKind::Unsupported,
                format!(
                    "miniloop's HTTP client supports only `http://` URLs (this one starts with \
                     `{scheme}://`); use one like `{EXAMPLE_URL}`"
                ),
            ));
        }
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let path_start = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(path_start);
        let path = match path {
            "" => "/".to_owned(),
            query if query.starts_with('?') => format!("/{query}"),
            path => path.to_owned(),
        };
        let (host, port) = split_host_and_port(authority).map_err(invalid)?;
        Ok(Url { host, port, path })
    }

    /// What `TcpStream::connect` takes: `host:port`.
    pub(crate) fn socket_address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The `Host` header: the port is left out when it is HTTP's default, 80.
    pub(crate) fn host_header(&self) -> String {
        match self.port {
            80 => self.host.clone(),
            port => format!("{}:{port}", self.host),
        }
    }
}

/// Splits `host[:port]` (or `[v6 address][:port]`); the port defaults to 80.
fn split_host_and_port(authority: &str) -> Result<(String, u16), String> {
    if authority.contains('@') {
        return Err(format!(
            "user names and passwords in URLs are not supported; remove the part before `@`, \
             like `{EXAMPLE_URL}`"
        ));
    }
    // An IPv6 address has colons of its own, so its brackets decide where the port starts.
    let (host, port) = match authority.strip_prefix('[') {
        Some(bracketed) => split_bracketed(authority, bracketed)?,
        None => {
            // Two colons can only be an IPv6 address without its brackets; splitting it at
            // the last colon would connect to a different address than the one written.
            if authority.matches(':').count() > 1 {
                return Err(format!(
                    "`{authority}` has more than one `:`; an IPv6 address goes in brackets, \
                     like `http://[::1]:8080/`"
                ));
            }
            match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        }
    };
    if host.is_empty() || host == "[]" {
        return Err(format!(
            "the URL has no host between `http://` and the path; write one, like `{EXAMPLE_URL}`"
        ));
    }
    if !host.starts_with('[') && host.contains(['[', ']']) {
        return Err(format!(
            "the host `{host}` has a bracket; only an IPv6 address is written in brackets, \
             like `http://[::1]:8080/`; otherwise write a name or an address, like \
             `{EXAMPLE_URL}`"
        ));
    }
    let port = match port {
        None => 80,
        // Digits only: `u16::from_str` also takes a leading `+`, which no URL has.
        Some(text) => match text.parse::<u16>() {
            Ok(port) if port > 0 && text.bytes().all(|byte| byte.is_ascii_digit()) => port,
            _ => {
                return Err(format!(
                    "the port `{text}` is not a number from 1 to 65535; write it like \
                     `{EXAMPLE_URL}`, or leave it out for port 80"
                ))
            }
        },
    };
    Ok((host.to_owned(), port))
}

/// Splits `[v6 address][:port]` (`bracketed` is `authority` after its `[`): the host keeps
/// its brackets, and nothing but `:port` may follow the `]`.
fn split_bracketed<'a>(
    authority: &'a str,
    bracketed: &'a str,
) -> Result<(&'a str, Option<&'a str>), String> {
    let Some((address, after)) = bracketed.split_once(']') else {
        return Err(
            "the IPv6 address has no closing `]`; write it like `http://[::1]:8080/`".to_owned(),
        );
    };
    let host = &authority[..address.len() + 2];
    let port = match after.strip_prefix(':') {
        Some(port) => Some(port),
        None if after.is_empty() => None,
        None => {
            return Err(format!(
                "after the IPv6 address `{host}` comes `{after}`; only `:port` may follow the \
                 `]`; write it like `http://[::1]:8080/`"
            ))
        }
    };
    if !address.is_empty() && address.parse::<std::net::Ipv6Addr>().is_err() {
        return Err(format!(
            "`{address}` is not an IPv6 address, and only IPv6 addresses go in brackets; write \
             it like `http://[::1]:8080/`, or a name without brackets, like `{EXAMPLE_URL}`"
        ));
    }
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(url: &str) -> (String, u16, String) {
        let url = Url::parse(url).unwrap();
        (url.host, url.port, url.path)
    }

    fn error(url: &str) -> String {
        Url::parse(url).unwrap_err().to_string()
    }

    #[test]
    fn urls_split_into_host_port_and_path() {
        let expect = |host: &str, port, path: &str| (host.to_owned(), port, path.to_owned());
        assert_eq!(
            parsed("http://127.0.0.1:8080/google"),
            expect("127.0.0.1", 8080, "/google")
        );
        assert_eq!(parsed("http://example.com"), expect("example.com", 80, "/"));
        assert_eq!(parsed("HTTP://a.b?q=1#top"), expect("a.b", 80, "/?q=1"));
        assert_eq!(parsed("http://[::1]:81/x"), expect("[::1]", 81, "/x"));
        assert_eq!(parsed("http://[::1]/"), expect("[::1]", 80, "/"));
    }

    #[test]
    fn bad_urls_say_what_is_wrong_and_show_one_that_works() {
        assert!(error("https://example.com/").contains("TLS is out of scope"));
        assert!(error("ftp://example.com/").contains("only `http://` URLs"));
        assert!(error("example.com/google").contains("has no scheme"));
        assert!(error("http:///google").contains("has no host"));
        assert!(error("http://:8080/").contains("has no host"));
        assert!(error("http://127.0.0.1:80x/").contains("the port `80x` is not a number"));
        assert!(error("http://127.0.0.1:0/").contains("the port `0`"));
        assert!(error("http://127.0.0.1:/").contains("the port ``"));
        assert!(error("http://a b/").contains("space"));
        assert!(error("http://user@host/").contains("user names"));
        assert!(error("http://[::1/").contains("closing `]`"));
        for url in ["example.com", "http:///", "http://h:99999/"] {
            assert!(error(url).contains(EXAMPLE_URL), "{url}: {}", error(url));
        }
    }

    /// Guards "a malformed URL is an error, never a different address": junk after an IPv6
    /// address's `]` used to be dropped (`[::1]x:8080` went to `[::1]:80`), a `+` before the
    /// port was accepted (`u16::from_str` takes one), and an unbracketed IPv6 address was
    /// split at its last colon.
    #[test]
    fn urls_that_name_no_clear_address_are_refused() {
        for url in [
            "http://[::1]x:8080/",
            "http://[::1]]:8080/",
            "http://[::1]8080/",
        ] {
            let message = error(url);
            assert!(
                message.contains("only `:port` may follow the `]`"),
                "{url}: {message}"
            );
            assert!(message.contains("http://[::1]:8080/"), "{url}: {message}");
        }
        assert!(error("http://[nope]:8080/").contains("`nope` is not an IPv6 address"));
        assert!(error("http://127.0.0.1:+8080/").contains("the port `+8080` is not a number"));
        assert!(error("http://127.0.0.1:-1/").contains("the port `-1` is not a number"));
        for url in ["http://::1:8080/", "http://::1/", "http://fe80::1/x"] {
            let message = error(url);
            assert!(message.contains("in brackets"), "{url}: {message}");
            assert!(message.contains("http://[::1]:8080/"), "{url}: {message}");
        }
        assert!(error("http://a]b:80/").contains("`a]b`"));
        // What still works: brackets with a port, brackets alone, a plain name and port.
        assert_eq!(parsed("http://[::1]:8080/").1, 8080);
        assert_eq!(parsed("http://[::ffff:127.0.0.1]/").0, "[::ffff:127.0.0.1]");
        assert_eq!(parsed("http://localhost:08080/").1, 8080);
    }
}
