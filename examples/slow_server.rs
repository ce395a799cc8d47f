//! The slow-sites server, on its own: the sites of lessons 01 and 02, on a port you choose.
//!
//! Each site answers `GET /<name>` after its own delay, so requests to it behave like
//! requests to a slow website, without the internet. `GET /delay/<ms>` waits `<ms>`
//! milliseconds, and `GET /` lists the sites. The server is a miniloop program: one task
//! accepts connections and spawns a task per connection (`miniloop::http::slow_sites`).
//!
//! Run it:     cargo run --example slow_server -- --port 8080
//! Then:       cargo run --example 02_concurrent_requests -- http://127.0.0.1:8080/google
//!             curl http://127.0.0.1:8080/
//!
//! It listens on 127.0.0.1 only, and runs until you stop it (Ctrl-C).
//! `MINILOOP_TIME_SCALE` (a positive number, default 1.0) multiplies every site's delay,
//! as in the lessons.

use std::process::ExitCode;

use miniloop::http::{slow_sites, LESSON_SITES};
use miniloop::net::TcpListener;

/// What `--help` and every usage error print.
const USAGE: &str = "usage: cargo run --example slow_server -- [--port PORT]
  --port PORT   the port to listen on, on 127.0.0.1 (default 8080; 0 picks a free one)
  --help        print this message";

/// Reads `--port N` from the arguments: `Ok(None)` for `--help`, an error message for
/// anything else.
fn port_from_args(args: &[String]) -> Result<Option<u16>, String> {
    let mut port = 8080;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--help" | "-h" => return Ok(None),
            "--port" => {
                let Some(value) = args.next() else {
                    return Err("`--port` needs a number after it, like `--port 8080`".into());
                };
                port = value.parse().map_err(|_| {
                    format!("the port `{value}` is not a number from 0 to 65535; try `--port 8080`")
                })?;
            }
            other => {
                return Err(format!(
                    "unknown argument `{other}`; the only option is `--port PORT`"
                ))
            }
        }
    }
    Ok(Some(port))
}

/// Reads `MINILOOP_TIME_SCALE`: 1.0 when unset, an error message when unusable.
/// Same as lesson 12.
fn time_scale_from_env() -> Result<f64, String> {
    let Some(raw) = std::env::var_os("MINILOOP_TIME_SCALE") else {
        return Ok(1.0);
    };
    let text = raw.to_string_lossy();
    let parsed = text.trim().parse::<f64>();
    // The upper bound keeps `Duration::from_secs_f64` far from overflowing.
    match parsed {
        Ok(scale) if scale > 0.0 && scale <= 1000.0 => Ok(scale),
        _ => Err(format!(
            "`MINILOOP_TIME_SCALE` must be a number greater than 0 and at most 1000, \
             like 0.1 (got {text:?}); it multiplies every delay, so unset it or use 1 \
             for real time"
        )),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (port, time_scale) = match (port_from_args(&args), time_scale_from_env()) {
        (Ok(Some(port)), Ok(time_scale)) => (port, time_scale),
        (Ok(None), _) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        (Err(message), _) | (_, Err(message)) => {
            eprintln!("error: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let sites = LESSON_SITES.map(|site| site.scaled(time_scale));

    miniloop::run(async {
        let listener = match TcpListener::bind(&format!("127.0.0.1:{port}")).await {
            Ok(listener) => listener,
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::FAILURE;
            }
        };
        let address = listener
            .local_addr()
            .expect("a bound listener has an address");
        println!("slow-sites server on http://{address}/ (Ctrl-C to stop)");
        for site in &sites {
            println!(
                "  http://{address}/{:<10} answers after {:?}",
                site.name, site.delay
            );
        }
        println!("  http://{address}/delay/<ms> answers after <ms> milliseconds");
        slow_sites::serve(listener, &sites).await;
        ExitCode::SUCCESS
    })
}
