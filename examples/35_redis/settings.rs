//! The server's settings, from its command line. Shared by the miniloop server and its
//! tokio twin, which take the same options.

use std::time::Duration;

/// How long a client may take none of its pending replies before it is disconnected.
pub const DEFAULT_STALL_LIMIT: Duration = Duration::from_secs(10);

/// The settings a connection reads.
#[derive(Debug)]
pub struct Config {
    /// Where to listen: `127.0.0.1:6379`.
    pub listen: String,
    /// The slow-sites server FETCH loads from: `http://127.0.0.1:8080`.
    pub origin: String,
    /// A client that takes none of its pending replies for this long is disconnected.
    pub stall_limit: Duration,
}

/// What the command line asked for.
#[derive(Debug, PartialEq)]
pub struct Server {
    /// `ADDRESS:PORT`, from `--bind` and `--port`.
    pub listen: String,
    /// `--origin`, if given.
    pub origin: Option<String>,
    /// `--stall-limit`.
    pub stall_limit: Duration,
}

/// The usage text of `example`.
pub fn usage(example: &str) -> String {
    format!(
        "usage: cargo run --example {example} -- [OPTIONS]
  --port PORT            the port to listen on (default 6379; 0 picks a free one)
  --bind ADDRESS         the address to listen on (default 127.0.0.1)
  --origin URL           where FETCH loads from (default: the slow-sites server of lessons
                         01 and 02, started in this process on a free port)
  --stall-limit SECONDS  disconnect a client that takes none of its replies for this long
                         (default 10)
  --help                 print this message"
    )
}

/// Reads the options; `Ok(None)` after printing the usage for `--help`, an error message
/// (with the usage) for anything it cannot use.
pub fn parse_args(args: &[String], example: &str) -> Result<Option<Server>, String> {
    let (mut bind, mut port, mut origin) = ("127.0.0.1".to_owned(), 6379u16, None);
    let mut stall_limit = DEFAULT_STALL_LIMIT;
    let mut args = args.iter();
    let fail = |message: String| Err(format!("{message}\n{}", usage(example)));
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--help" | "-h" => {
                println!("{}", usage(example));
                return Ok(None);
            }
            "--port" | "--bind" | "--origin" | "--stall-limit" => {}
            other => return fail(format!("unknown option `{other}`")),
        }
        let Some(value) = args.next().cloned() else {
            return fail(format!(
                "`{arg}` needs a value after it, like `--port 6380`"
            ));
        };
        match arg.as_str() {
            "--port" => match value.parse() {
                Ok(number) => port = number,
                Err(_) => {
                    return fail(format!(
                        "the port `{value}` is not a number from 0 to 65535; try `--port 6380`"
                    ))
                }
            },
            "--bind" => bind = value,
            "--origin" if value.starts_with("http://") => {
                origin = Some(value.trim_end_matches('/').to_owned());
            }
            "--origin" => {
                return fail(format!(
                    "the origin `{value}` is not an http:// URL; start the slow-sites server \
                     (`cargo run --example slow_server -- --port 8080`) and pass \
                     `--origin http://127.0.0.1:8080`"
                ))
            }
            "--stall-limit" => match value.parse::<f64>() {
                Ok(seconds) if seconds > 0.0 && seconds <= 86_400.0 => {
                    stall_limit = Duration::from_secs_f64(seconds);
                }
                _ => {
                    return fail(format!(
                        "the stall limit `{value}` is not a number of seconds above 0 and at \
                         most 86400; try `--stall-limit 10`"
                    ))
                }
            },
            _ => unreachable!("checked above"),
        }
    }
    // An IPv6 address needs brackets before its port.
    let listen = if bind.contains(':') && !bind.starts_with('[') {
        format!("[{bind}]:{port}")
    } else {
        format!("{bind}:{port}")
    };
    Ok(Some(Server {
        listen,
        origin,
        stall_limit,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|arg| arg.to_string()).collect()
    }

    #[test]
    fn options_make_a_server_and_mistakes_say_why() {
        assert_eq!(
            parse_args(&args(&["--port", "6380", "--stall-limit", "0.5"]), "x"),
            Ok(Some(Server {
                listen: "127.0.0.1:6380".into(),
                origin: None,
                stall_limit: Duration::from_millis(500),
            }))
        );
        let v6 = parse_args(&args(&["--bind", "::1", "--port", "0"]), "x");
        assert_eq!(v6.unwrap().unwrap().listen, "[::1]:0");
        for (bad, says) in [
            (&["--port"][..], "needs a value"),
            (&["--port", "70000"], "not a number from 0 to 65535"),
            (&["--origin", "https://x"], "not an http:// URL"),
            (&["--stall-limit", "0"], "not a number of seconds"),
            (&["--verbose"], "unknown option"),
        ] {
            let error = parse_args(&args(bad), "x").unwrap_err();
            assert!(error.contains(says), "{bad:?}: {error}");
        }
    }
}
