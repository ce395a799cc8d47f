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
        Some(bracketed) => match bracketed.split_once(']') {
            Some((address, after)) => (&authority[..address.len() + 2], after.strip_prefix(':')),
            None => {
                return Err(
                    "the IPv6 address has no closing `]`; write it like `http://[::1]:8080/`"
                        .to_owned(),
                )
            }
        },
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    if host.is_empty() || host == "[]" {
        return Err(format!(
            "the URL has no host between `http://` and the path; write one, like `{EXAMPLE_URL}`"
        ));
    }
    let port = match port {
        None => 80,
        Some(text) => match text.parse::<u16>() {
            Ok(port) if port > 0 => port,
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
}
