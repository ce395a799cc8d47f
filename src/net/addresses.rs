//! What `bind` and `connect` accept, and how a name becomes socket addresses.
//!
//! [`ToSocketAddrs`] is std's trait of the same name, made `async`-friendly the way tokio's
//! is: the types std accepts (`SocketAddr`, `(ip, port)`, `("host", port)`, `"host:port"`,
//! `String`, a slice of addresses) say *what* to resolve, and [`resolve`] does it without
//! blocking the loop. Numbers are parsed in place; `localhost` is answered in place (RFC 6761);
//! any other name is looked up on the blocking pool, because `getaddrinfo` blocks.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Anything `TcpListener::bind` and `TcpStream::connect` accept as an address: the types std's
/// `ToSocketAddrs` takes, resolved without blocking the loop.
///
/// | form | example | resolved |
/// |---|---|---|
/// | `SocketAddr`, `SocketAddrV4`, `SocketAddrV6` | `listener.local_addr()?` | as it is |
/// | `(IpAddr, u16)`, `(Ipv4Addr, u16)`, `(Ipv6Addr, u16)` | `(Ipv4Addr::LOCALHOST, 8080)` | as it is |
/// | `&[SocketAddr]` | `&[first, second][..]` | as it is, tried in order |
/// | `&str`, `String` | `"127.0.0.1:8080"`, `"example.com:80"` | numbers and `localhost` in place, other names on the blocking pool |
/// | `(&str, u16)`, `(String, u16)` | `("localhost", 8080)` | the same |
///
/// A reference to any of these works too (`&String`, `&SocketAddr`). The trait is sealed: its
/// one method is private, so only these types implement it.
///
/// # Examples
/// ```
/// use std::net::{Ipv4Addr, SocketAddr};
/// use miniloop::net::{TcpListener, TcpStream};
///
/// miniloop::run(async {
///     let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
///     let address: SocketAddr = listener.local_addr().unwrap();
///     let _by_value = TcpStream::connect(address).await.unwrap();
///     let _by_name = TcpStream::connect(("localhost", address.port())).await.unwrap();
///     let _by_text = TcpStream::connect(format!("127.0.0.1:{}", address.port())).await.unwrap();
/// });
/// ```
pub trait ToSocketAddrs: sealed::Sealed {}

mod sealed {
    use super::Addresses;

    /// The private half of `ToSocketAddrs`: what to resolve, decided without waiting.
    pub trait Sealed {
        fn to_addresses(&self) -> Addresses;
    }
}

/// What an address argument asks for, before anything is looked up. (`pub` in a private
/// module: named in the sealed trait, which is public, yet out of users' reach.)
#[derive(Debug)]
pub enum Addresses {
    /// Numbers: nothing to look up.
    Known(Vec<SocketAddr>),
    /// `host:port` text, resolved by [`resolve_text`].
    Text(String),
}

macro_rules! known_address {
    ($($address:ty),*) => {$(
        impl ToSocketAddrs for $address {}
        impl sealed::Sealed for $address {
            fn to_addresses(&self) -> Addresses {
                Addresses::Known(vec![SocketAddr::from(*self)])
            }
        }
    )*};
}

known_address!(
    SocketAddr,
    SocketAddrV4,
    SocketAddrV6,
    (IpAddr, u16),
    (Ipv4Addr, u16),
    (Ipv6Addr, u16)
);

impl ToSocketAddrs for [SocketAddr] {}
impl sealed::Sealed for [SocketAddr] {
    fn to_addresses(&self) -> Addresses {
        Addresses::Known(self.to_vec())
    }
}

impl ToSocketAddrs for str {}
impl sealed::Sealed for str {
    fn to_addresses(&self) -> Addresses {
        Addresses::Text(self.to_owned())
    }
}

impl ToSocketAddrs for String {}
impl sealed::Sealed for String {
    fn to_addresses(&self) -> Addresses {
        self.as_str().to_addresses()
    }
}

impl ToSocketAddrs for (&str, u16) {}
impl sealed::Sealed for (&str, u16) {
    fn to_addresses(&self) -> Addresses {
        let (host, port) = *self;
        // An IPv6 literal has colons of its own: as text it would need brackets.
        match host.parse::<IpAddr>() {
            Ok(ip) => Addresses::Known(vec![SocketAddr::new(ip, port)]),
            Err(_) => Addresses::Text(format!("{host}:{port}")),
        }
    }
}

impl ToSocketAddrs for (String, u16) {}
impl sealed::Sealed for (String, u16) {
    fn to_addresses(&self) -> Addresses {
        (self.0.as_str(), self.1).to_addresses()
    }
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {}
impl<T: ToSocketAddrs + ?Sized> sealed::Sealed for &T {
    fn to_addresses(&self) -> Addresses {
        (**self).to_addresses()
    }
}

/// The socket addresses `addresses` stands for, at least one, in the order to try them.
pub(crate) async fn resolve(addresses: Addresses) -> io::Result<Vec<SocketAddr>> {
    match addresses {
        Addresses::Known(known) if known.is_empty() => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the list of addresses is empty; give at least one `SocketAddr`",
        )),
        Addresses::Known(known) => Ok(known),
        Addresses::Text(text) => resolve_text(&text).await,
    }
}

/// Resolves `address` ("127.0.0.1:8080", "localhost:80", "example.com:80") to socket addresses.
/// Numeric addresses and `localhost` are answered in place; other names go to the blocking
/// pool, and so wait there for a free thread when it is full.
async fn resolve_text(address: &str) -> io::Result<Vec<SocketAddr>> {
    if let Ok(parsed) = address.parse::<SocketAddr>() {
        return Ok(vec![parsed]);
    }
    if let Some(loopback) = resolve_localhost(address) {
        return Ok(loopback);
    }
    let owned = address.to_owned();
    let lookup = crate::spawn_blocking(move || {
        std::net::ToSocketAddrs::to_socket_addrs(&owned).map(Iterator::collect)
    });
    let resolved: io::Result<Vec<SocketAddr>> = match lookup.await {
        Ok(result) => result,
        Err(error) => Err(io::Error::other(format!(
            "name lookup did not finish: {error}"
        ))),
    };
    match resolved {
        Ok(addresses) if !addresses.is_empty() => Ok(addresses),
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("resolving {address:?} found no addresses; check the host name"),
        )),
        Err(error) => Err(io::Error::new(
            error.kind(),
            format!("resolving {address:?} failed: {error}; check the host name and port, e.g. \"127.0.0.1:8080\""),
        )),
    }
}

/// `localhost:PORT` (any case, with or without the root's `.`) without asking the system:
/// RFC 6761 (section 6.3) reserves the name for the loopback addresses, so the answer is known,
/// and a lookup on the blocking pool would wait behind whatever fills the pool. IPv4 first:
/// the slow-sites server and most test servers listen on `127.0.0.1`, and a machine without
/// IPv6 still gets an address that works. `None` for anything else, or a port that is not
/// plain digits (the resolver then gives its own error).
fn resolve_localhost(address: &str) -> Option<Vec<SocketAddr>> {
    let (host, port) = address.rsplit_once(':')?;
    let host = host.strip_suffix('.').unwrap_or(host);
    if !host.eq_ignore_ascii_case("localhost") || !port.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let port = port.parse::<u16>().ok()?;
    Some(vec![
        SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        SocketAddr::from((Ipv6Addr::LOCALHOST, port)),
    ])
}

#[cfg(test)]
mod tests {
    use super::sealed::Sealed;
    use super::*;

    #[test]
    fn localhost_is_the_loopback_addresses_in_any_case_and_with_the_root_dot() {
        let loopback = |port| {
            Some(vec![
                SocketAddr::from(([127, 0, 0, 1], port)),
                SocketAddr::from((Ipv6Addr::LOCALHOST, port)),
            ])
        };
        assert_eq!(resolve_localhost("localhost:8080"), loopback(8080));
        assert_eq!(resolve_localhost("LocalHost.:80"), loopback(80));
        for other in [
            "localhost",
            "localhost:",
            "localhost:+80",
            "localhost:70000",
            "localhostx:80",
            "my.localhost:80",
            "example.com:80",
        ] {
            assert_eq!(resolve_localhost(other), None, "{other}");
        }
    }

    #[test]
    fn a_host_and_port_pair_is_numbers_when_the_host_is_an_ip_literal() {
        let known = |addresses: Addresses| match addresses {
            Addresses::Known(known) => Some(known),
            Addresses::Text(_) => None,
        };
        let v6 = SocketAddr::from((Ipv6Addr::LOCALHOST, 80));
        assert_eq!(known(("::1", 80).to_addresses()), Some(vec![v6]));
        assert_eq!(known(("::1".to_owned(), 80).to_addresses()), Some(vec![v6]));
        match ("example.com", 80).to_addresses() {
            Addresses::Text(text) => assert_eq!(text, "example.com:80"),
            other @ Addresses::Known(_) => panic!("a name should be looked up, got {other:?}"),
        }
    }
}
