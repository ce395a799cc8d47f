//! The commands: what each one does to the shared state, and the reply it appends.
//!
//! Runtime-free, like the keyspace: a command runs to its end without waiting, with the lock
//! held for that one command. The three things a command cannot finish on its own are
//! returned as an [`Outcome`] for the connection's task to carry out on its runtime: `FETCH`
//! on a cache miss (a load from the origin), `BLPOP` on empty lists (a wait), and `QUIT` or
//! `SHUTDOWN` (the end of the connection, or of the server).
//!
//! # Rules this module keeps
//! - Errors are Redis's own texts (`ERR wrong number of arguments for 'get' command`,
//!   `WRONGTYPE ...`): clients match on them. Errors of our own (`FETCH` inside a
//!   transaction) say what went wrong and how to do it instead.
//! - `MULTI`/`EXEC` as Redis: an unknown command or a wrong number of arguments while queuing
//!   is an error at once and makes `EXEC` fail (`EXECABORT`); an error while running (`INCR`
//!   on a word, a `FETCH` that would have to wait) is that command's reply in `EXEC`'s array,
//!   and the others run. Inside a transaction nothing waits: `BLPOP` is `LPOP`, and `FETCH`
//!   is given to [`Runtime::fetch_now`].
//! - Clients waiting in `BLPOP` are served after each command (after `EXEC` for a
//!   transaction), as Redis serves them: `RPUSH` answers with the length it made.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::keyspace::{Bytes, Ttl, Value, WrongType};
use crate::resp::{self, OwnedRequest, Request};
use crate::shared::{lock, ClientId, SharedState};

/// What the command code needs from the runtime it runs on, besides the keyspace's timers.
pub trait Runtime {
    /// Runs `FETCH key` without waiting, inside `MULTI`/`EXEC`: appends the value, or an
    /// error that says why it would have had to wait.
    fn fetch_now(&self, shared: &SharedState, key: &[u8], out: &mut Vec<u8>);
}

/// What the connection's task must do after a command.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The reply is in the output buffer; go on with the next command.
    Replied,
    /// `FETCH key` outside a transaction: run [`fetch`], sync first, and append its reply.
    Fetch(Bytes),
    /// `BLPOP` found every list empty and the client now waits in the shared state: wait for
    /// its mailbox until `deadline` (`None`: for ever), then reply `*-1` if nothing came.
    Block {
        /// When the wait ends with a nil reply.
        deadline: Option<Instant>,
    },
    /// `QUIT`: `+OK` is in the buffer; send it and close.
    Quit,
    /// `SHUTDOWN`: close without a reply; the server is stopping.
    Shutdown,
}

/// One connection's own state, beside what it shares.
#[derive(Debug)]
pub struct Session {
    /// Its id in the shared state.
    pub id: ClientId,
    /// Between `MULTI` and `EXEC`: the queued commands, and whether queuing one failed.
    transaction: Option<Transaction>,
    /// How many channels it listens on; above zero, only the pub/sub commands are allowed.
    pub subscriptions: usize,
}

#[derive(Debug, Default)]
struct Transaction {
    queued: Vec<OwnedRequest>,
    has_failed: bool,
}

impl Session {
    /// The state of a new connection, registered as `id`.
    pub fn new(id: ClientId) -> Session {
        Session {
            id,
            transaction: None,
            subscriptions: 0,
        }
    }
}

/// Everything a command may touch.
pub struct Ctx<'a> {
    /// The shared state (the command locks it).
    pub shared: &'a SharedState,
    /// The connection's own state.
    pub session: &'a mut Session,
    /// Where the reply goes.
    pub out: &'a mut Vec<u8>,
    /// The runtime, for `FETCH` inside a transaction.
    pub runtime: &'a dyn Runtime,
}

/// A command's entry in the table: Redis's arity (`n`: exactly `n` arguments with the name;
/// `-n`: at least `n`), its flags for `COMMAND`, and its code.
pub struct Spec {
    /// The name, in capitals.
    pub name: &'static str,
    arity: i64,
    flags: &'static [&'static str],
    /// The first, last and step of its key arguments, for `COMMAND` (0 when it has none).
    keys: (i64, i64, i64),
    run: fn(&mut Ctx<'_>, Request<'_>) -> Outcome,
}

/// Every command, the common ones first (the table is searched in order).
static COMMANDS: &[Spec] = &[
    spec("GET", 2, &["readonly", "fast"], (1, 1, 1), get),
    spec("SET", -3, &["write", "denyoom"], (1, 1, 1), set),
    spec("PING", -1, &["fast"], (0, 0, 0), ping),
    spec("INCR", 2, &["write", "denyoom", "fast"], (1, 1, 1), incr),
    spec(
        "INCRBY",
        3,
        &["write", "denyoom", "fast"],
        (1, 1, 1),
        incrby,
    ),
    spec("DECR", 2, &["write", "denyoom", "fast"], (1, 1, 1), decr),
    spec(
        "DECRBY",
        3,
        &["write", "denyoom", "fast"],
        (1, 1, 1),
        decrby,
    ),
    spec("DEL", -2, &["write"], (1, -1, 1), del),
    spec("EXISTS", -2, &["readonly", "fast"], (1, -1, 1), exists),
    spec("LPUSH", -3, &["write", "denyoom", "fast"], (1, 1, 1), lpush),
    spec("RPUSH", -3, &["write", "denyoom", "fast"], (1, 1, 1), rpush),
    spec("LPOP", -2, &["write", "fast"], (1, 1, 1), lpop),
    spec(
        "BLPOP",
        -3,
        &["write", "noscript", "blocking"],
        (1, -2, 1),
        blpop,
    ),
    spec("LLEN", 2, &["readonly", "fast"], (1, 1, 1), llen),
    spec("LRANGE", 4, &["readonly"], (1, 1, 1), lrange),
    spec("EXPIRE", -3, &["write", "fast"], (1, 1, 1), expire),
    spec("PEXPIRE", -3, &["write", "fast"], (1, 1, 1), pexpire),
    spec("TTL", 2, &["readonly", "fast"], (1, 1, 1), ttl),
    spec("PTTL", 2, &["readonly", "fast"], (1, 1, 1), pttl),
    spec("PERSIST", 2, &["write", "fast"], (1, 1, 1), persist),
    spec("TYPE", 2, &["readonly", "fast"], (1, 1, 1), type_of),
    spec("ECHO", 2, &["fast"], (0, 0, 0), echo),
    spec("DBSIZE", 1, &["readonly", "fast"], (0, 0, 0), dbsize),
    spec("FLUSHDB", -1, &["write"], (0, 0, 0), flushdb),
    spec("FETCH", 2, &["write"], (1, 1, 1), fetch_command),
    spec(
        "PUBLISH",
        3,
        &["pubsub", "loading", "fast"],
        (0, 0, 0),
        publish,
    ),
    spec(
        "SUBSCRIBE",
        -2,
        &["pubsub", "noscript"],
        (0, 0, 0),
        subscribe,
    ),
    spec(
        "UNSUBSCRIBE",
        -1,
        &["pubsub", "noscript"],
        (0, 0, 0),
        unsubscribe,
    ),
    spec(
        "PSUBSCRIBE",
        -2,
        &["pubsub", "noscript"],
        (0, 0, 0),
        psubscribe,
    ),
    spec(
        "PUNSUBSCRIBE",
        -1,
        &["pubsub", "noscript"],
        (0, 0, 0),
        punsubscribe,
    ),
    spec("MULTI", 1, &["noscript", "fast"], (0, 0, 0), multi),
    spec("EXEC", 1, &["noscript"], (0, 0, 0), exec),
    spec("DISCARD", 1, &["noscript", "fast"], (0, 0, 0), discard),
    spec("CLIENT", -2, &["admin", "noscript"], (0, 0, 0), client),
    spec("SELECT", 2, &["loading", "fast"], (0, 0, 0), select),
    spec("COMMAND", -1, &["loading", "stale"], (0, 0, 0), command),
    spec("CONFIG", -2, &["admin", "noscript"], (0, 0, 0), config),
    spec("INFO", -1, &["loading", "stale"], (0, 0, 0), info),
    spec("HELLO", -1, &["noscript", "fast"], (0, 0, 0), hello),
    spec("QUIT", -1, &["fast"], (0, 0, 0), quit),
    spec("SHUTDOWN", -1, &["admin", "noscript"], (0, 0, 0), shutdown),
];

const fn spec(
    name: &'static str,
    arity: i64,
    flags: &'static [&'static str],
    keys: (i64, i64, i64),
    run: fn(&mut Ctx<'_>, Request<'_>) -> Outcome,
) -> Spec {
    Spec {
        name,
        arity,
        flags,
        keys,
        run,
    }
}

/// The command called `name`, in any case.
fn lookup(name: &[u8]) -> Option<&'static Spec> {
    COMMANDS.iter().find(|spec| {
        spec.name.len() == name.len() && spec.name.as_bytes().eq_ignore_ascii_case(name)
    })
}

/// Whether `request` has a number of arguments that `spec` accepts.
fn arity_fits(spec: &Spec, request: Request<'_>) -> bool {
    let given = request.len() as i64;
    if spec.arity >= 0 {
        given == spec.arity
    } else {
        given >= -spec.arity
    }
}

/// The commands a client listening on channels may still send (Redis's list).
fn is_allowed_while_subscribed(name: &str) -> bool {
    matches!(
        name,
        "SUBSCRIBE" | "UNSUBSCRIBE" | "PSUBSCRIBE" | "PUNSUBSCRIBE" | "PING" | "QUIT"
    )
}

/// The commands that make no sense inside a transaction.
fn is_refused_in_transaction(name: &str) -> bool {
    matches!(
        name,
        "SUBSCRIBE" | "UNSUBSCRIBE" | "PSUBSCRIBE" | "PUNSUBSCRIBE" | "SHUTDOWN" | "HELLO"
    )
}

/// Runs one request: checks it, queues it (inside `MULTI`) or runs it, and appends the reply.
pub fn execute(ctx: &mut Ctx<'_>, request: Request<'_>) -> Outcome {
    let Some(spec) = lookup(request.arg(0)) else {
        unknown_command(ctx.out, request);
        if let Some(transaction) = &mut ctx.session.transaction {
            transaction.has_failed = true;
        }
        return Outcome::Replied;
    };
    if !arity_fits(spec, request) {
        wrong_arity(ctx.out, spec.name);
        if let Some(transaction) = &mut ctx.session.transaction {
            transaction.has_failed = true;
        }
        return Outcome::Replied;
    }
    if ctx.session.subscriptions > 0 && !is_allowed_while_subscribed(spec.name) {
        resp::error(
            ctx.out,
            &format!(
                "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT \
                 / RESET are allowed in this context",
                spec.name.to_ascii_lowercase()
            ),
        );
        return Outcome::Replied;
    }
    if let Some(transaction) = &mut ctx.session.transaction {
        if !matches!(spec.name, "EXEC" | "DISCARD" | "MULTI" | "QUIT") {
            if is_refused_in_transaction(spec.name) {
                transaction.has_failed = true;
                resp::error(ctx.out, "ERR Command not allowed inside a transaction");
            } else {
                transaction.queued.push(request.to_owned());
                resp::simple(ctx.out, "QUEUED");
            }
            return Outcome::Replied;
        }
    }
    (spec.run)(ctx, request)
}

fn unknown_command(out: &mut Vec<u8>, request: Request<'_>) {
    let mut message = format!(
        "ERR unknown command '{}', with args beginning with: ",
        shown(request.arg(0))
    );
    for arg in request.args().skip(1) {
        message.push_str(&format!("'{}' ", shown(arg)));
    }
    resp::error(out, &message);
}

/// An argument as an error message quotes it: lossy UTF-8, at most 128 bytes.
fn shown(arg: &[u8]) -> String {
    String::from_utf8_lossy(&arg[..arg.len().min(128)]).into_owned()
}

fn wrong_arity(out: &mut Vec<u8>, name: &str) {
    resp::error(
        out,
        &format!(
            "ERR wrong number of arguments for '{}' command",
            name.to_ascii_lowercase()
        ),
    );
}

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const NOT_AN_INTEGER: &str = "ERR value is not an integer or out of range";
const SYNTAX_ERROR: &str = "ERR syntax error";

/// A decimal integer as Redis reads one: an optional `-`, then digits without a leading zero
/// (or a lone `0`), no `+`, no spaces, within `i64`.
pub fn parse_integer(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', digits)) => (true, digits),
        _ => (false, text),
    };
    let valid = match digits {
        [] => false,
        [b'0'] => !negative,
        [first, ..] => (b'1'..=b'9').contains(first) && digits.iter().all(u8::is_ascii_digit),
    };
    if !valid || digits.len() > 19 {
        return None;
    }
    let magnitude = digits.iter().try_fold(0u64, |value, digit| {
        value.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
    })?;
    if negative {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// `now + amount` (`amount` in milliseconds, or in seconds when `in_seconds`), for `SET`'s
/// `EX`/`PX` and `EXPIRE`: `None` if it overflows.
fn deadline_after(amount: i64, in_seconds: bool) -> Option<Instant> {
    let millis = if in_seconds {
        amount.checked_mul(1000)?
    } else {
        amount
    };
    let now = Instant::now();
    if millis <= 0 {
        return Some(now);
    }
    now.checked_add(Duration::from_millis(millis as u64))
}

// Connection and server.

fn ping(ctx: &mut Ctx<'_>, request: Request<'_>) -> Outcome {
    match (request.len(), ctx.session.subscriptions > 0) {
        (1, false) => resp::simple(ctx.out, "PONG"),
        (2, false) => resp::bulk(ctx.out, request.arg(1)),
        // A subscribed client gets PING's answer in the shape of a message.
        (1 | 2, true) => {
            resp::array_header(ctx.out, 2);
            resp::bulk(ctx.out, b"pong");
            resp::bulk(
                ctx.out,
                if request.len() == 2 {
                    request.arg(1)
                } else {
                    b""
                },
            );
        }
        _ => wrong_arity(ctx.out, "PING"),
    }
    Outcome::Replied
}

fn echo(ctx: &mut Ctx<'_>, request: Request<'_>) -> Outcome {
    resp::bulk(ctx.out, request.arg(1));
    Outcome::Replied
}

fn quit(ctx: &mut Ctx<'_>, _request: Request<'_>) -> Outcome {
    resp::simple(ctx.out, "OK");
    Outcome::Quit
}

/// `SHUTDOWN [NOSAVE|SAVE|NOW|FORCE]`: nothing is ever saved here, so the options change
/// nothing; refusing them would only break the clients that send them.
fn shutdown(ctx: &mut Ctx<'_>, _request: Request<'_>) -> Outcome {
    lock(ctx.shared).request_shutdown();
    Outcome::Shutdown
}

fn select(ctx: &mut Ctx<'_>, request: Request<'_>) -> Outcome {
    match parse_integer(request.arg(1)) {
        Some(0) => resp::simple(ctx.out, "OK"),
        Some(_) => resp::error(
            ctx.out,
            "ERR DB index is out of range; this server has one database, number 0",
        ),
        None => resp::error(ctx.out, NOT_AN_INTEGER),
    }
    Outcome::Replied
}

fn client(ctx: &mut Ctx<'_>, request: Request<'_>) -> Outcome {
    let subcommand = request.arg(1).to_ascii_uppercase();
    let id = ctx.session.id;
    match (subcommand.as_slice(), request.len()) {
        (b"SETNAME", 3) => {
            let name = request.arg(2);
            if name.iter().any(|&byte| !(b'!'..=b'~').contains(&byte)) {
                resp::error(
                    ctx.out,
                    "ERR Client names cannot contain spaces, newlines or special characters.",
                );
            } else {
                let name = (!name.is_empty()).then(|| name.to_vec());
                lock(ctx.shared).set_name(id, name);
                resp::simple(ctx.out, "OK");
            }
        }
        (b"GETNAME", 2) => match lock(ctx.shared).name(id) {
            Some(name) => resp::bulk(ctx.out, name),
            None => resp::null_bulk(ctx.out),
        },
        (b"ID", 2) => resp::integer(ctx.out, id as i64),
        (b"LIST", 2) => {
            let list = lock(ctx.shared).client_list();
            resp::bulk(ctx.out, list.as_bytes());
        }
        // Client libraries announce themselves (`CLIENT SETINFO LIB-NAME redis-rs`); nothing
        // here reads it, and an error would only fill their logs.
        (b"SETINFO", 4) => resp::simple(ctx.out, "OK"),
        (b"SETNAME" | b"GETNAME" | b"ID" | b"LIST" | b"SETINFO", _) => {
            wrong_arity(ctx.out, "client")
        }
        _ => resp::error(
            ctx.out,
            &format!(
                "ERR unknown subcommand '{}'. Try CLIENT HELP.",
                shown(request.arg(1))
            ),
        ),
    }
    Outcome::Replied
}

fn command(ctx: &mut Ctx<'_>, request: Request<'_>) -> Outcome {
    let subcommand = (request.len() > 1).then(|| request.arg(1).to_ascii_uppercase());
    match subcommand.as_deref() {
        None => {
            resp::array_header(ctx.out, COMMANDS.len());
            for spec in COMMANDS {
                command_entry(ctx.out, spec);
            }
        }
        Some(b"COUNT") => resp::integer(ctx.out, COMMANDS.len() as i64),
        Some(b"INFO") => {
            resp::array_header(ctx.out, request.len() - 2);
            for name in request.args().skip(2) {
                match lookup(name) {
                    Some(spec) => command_entry(ctx.out, spec),
                    None => resp::null_array(ctx.out),
                }
            }
        }
        // `redis-cli` asks for the docs to show hints as you type; with none it uses its own.
        Some(b"DOCS") => resp::array_header(ctx.out, 0),
        Some(_) => resp::error(
            ctx.out,
            &format!(
                "ERR unknown subcommand '{}'. Try COMMAND HELP.",
                shown(request.arg(1))
            ),
        ),
    }
    Outcome::Replied
}

/// One command as `COMMAND` describes it, in Redis 7's ten fields (the last four empty).
fn command_entry(out: &mut Vec<u8>, spec: &Spec) {
    resp::array_header(out, 10);
    resp::bulk(out, spec.name.to_ascii_lowercase().as_bytes());
    resp::integer(out, spec.arity);
    resp::array_header(out, spec.flags.len());
    for flag in spec.flags {
        resp::simple(out, flag);
    }
    resp::integer(out, spec.keys.0);
    resp::integer(out, spec.keys.1);
    resp::integer(out, spec.keys.2);
    for _ in 0..4 {
        resp::array_header(out, 0);
    }
}

fn config(ctx: &mut Ctx<'_>, request: Request<'_>) -> Outcome {
    let subcommand = request.arg(1).to_ascii_uppercase();
    match subcommand.as_slice() {
        // `redis-benchmark` reads `save` and `appendonly` to warn about persistence: there
        // is none here.
        b"GET" if request.len() == 3 => {
            let wanted = request.arg(2).to_ascii_lowercase();
            let known: [(&[u8], &[u8]); 3] =
                [(b"save", b""), (b"appendonly", b"no"), (b"databases", b"1")];
            let found: Vec<_> = known
                .iter()
                .filter(|(name, _)| wanted == b"*" || wanted == *name)
                .collect();
            resp::array_header(ctx.out, 2 * found.len());
            for (name, value) in found {
                resp::bulk(ctx.out, name);
                resp::bulk(ctx.out, value);
            }
        }
        b"RESETSTAT" if request.len() == 2 => resp::simple(ctx.out, "OK"),
        b"GET" | b"RESETSTAT" => wrong_arity(ctx.out, "config"),
        _ => resp::error(
            ctx.out,
            &format!(
                "ERR unknown subcommand '{}'; this server's settings are its command-line \
                 options (`--help`), and CONFIG only answers GET and RESETSTAT",
                shown(request.arg(1))
            ),
        ),
    }
    Outcome::Replied
}

fn info(ctx: &mut Ctx<'_>, _request: Request<'_>) -> Outcome {
    let text = {
        let shared = lock(ctx.shared);
        format!(
            "# Server\r\nredis_version:7.0.0\r\nredis_mode:standalone\r\n\
             server:miniloop lesson 35\r\nuptime_in_seconds:{}\r\n\r\n\
             # Clients\r\nconnected_clients:{}\r\n\r\n# Keyspace\r\ndb0:keys={}\r\n",
            shared.started.elapsed().as_secs(),
            shared.client_count(),
            shared.keys.len(),
        )
    };
    resp::bulk(ctx.out, text.as_bytes());
    Outcome::Replied
}

fn hello(ctx: &mut Ctx<'_>, request: Request<'_>) -> Outcome {
    if request.len() > 1 && request.arg(1) != b"2" {
        resp::error(
            ctx.out,
            "NOPROTO unsupported protocol version; this server speaks RESP2 only: send \
             `HELLO 2`, or no HELLO at all",
        );
        return Outcome::Replied;
    }
    let fields: [(&[u8], &[u8]); 4] = [
        (b"server", b"redis"),
        (b"version", b"7.0.0"),
        (b"mode", b"standalone"),
        (b"role", b"master"),
    ];
    resp::array_header(ctx.out, 2 * fields.len() + 4);
    for (name, value) in fields {
        resp::bulk(ctx.out, name);
        resp::bulk(ctx.out, value);
    }
    resp::bulk(ctx.out, b"proto");
    resp::integer(ctx.out, 2);
    resp::bulk(ctx.out, b"id");
    resp::integer(ctx.out, ctx.session.id as i64);
    Outcome::Replied
}

// Strings and keys.

fn get(ctx: &mut Ctx<'_>, request: Request<'_>) -> Outcome {
    let mut shared = lock(ctx.shared);
    match shared.keys.get_str(request.arg(1)) {
        Ok(Some(value)) => resp::bulk(ctx.out, value),
        Ok(None) => resp::null_bulk(ctx.out),
        Err(WrongType) => resp::error(ctx.out, WRONGTYPE),
    }
    Outcome::Replied
}

fn set(ctx: &mut Ctx<'_>, request: Request<'_>) -> Outcome {
    let (key, value) = (request.arg(1), request.arg(2));
    let mut ttl = Ttl::Clear;
    let (mut only_if_absent, mut only_if_present, mut wants_old) = (false, false, false);
    let mut at = 3;
    while at < request.len() {
        let option = request.arg(at).to_ascii_uppercase();
        let has_ttl = ttl != Ttl::Clear;
        match option.as_slice() {
            b"NX" if !only_if_present => only_if_absent = true,
            b"XX" if !only_if_absent => only_if_present = true,
            b"GET" => wants_old = true,
            b"KEEPTTL" if !has_ttl => ttl = Ttl::Keep,
            b"EX" | b"PX" if !has_ttl && at + 1 < request.len() => {
                at += 1;
                let Some(amount) = parse_integer(request.arg(at)) else {
                    resp::error(ctx.out, NOT_AN_INTEGER);
                    return Outcome::Replied;
                };
                match deadline_after(amount, option == b"EX") {
                    Some(deadline) if amount > 0 => ttl = Ttl::At(deadline),
                    _ => {
                        resp::error(ctx.out, "ERR invalid expire time in 'set' command");
                        return Outcome::Replied;
                    }
                }
            }
            _ => {
                resp::error(ctx.out, SYNTAX_ERROR);
                return Outcome::Replied;
            }
        }
        at += 1;
    }
    let mut shared = lock(ctx.shared);
    let old = match shared.keys.get(key) {
        Some(Value::Str(old)) => Some(wants_old.then(|| old.clone())),
        Some(Value::List(_)) if wants_old => {
            resp::error(ctx.out, WRONGTYPE);
            return Outcome::Replied;
        }
        Some(Value::List(_)) => Some(None),
        None => None,
    };
    let exists = old.is_some();
    let is_set = !(only_if_absent && exists || only_if_present && !exists);
    if is_set {
        shared.keys.set(key, value, ttl);
    }
    match (wants_old, old.flatten(), is_set) {
        (true, Some(old), _) => resp::bulk(ctx.out, &old),
        (true, None, _) | (false, _, false) => resp::null_bulk(ctx.out),
        (false, _, true) => resp::simple(ctx.out, "OK"),
    }
    Outcome::Replied
}

fn del(ctx: &mut Ctx<'_>, request: Request<'_>) -> Outcome {
    let mut shared = lock(ctx.shared);
    let removed = request
        .args()
        .skip(1)
        .filter(|key| shared.keys.remove(key))
        .count();
    resp::integer(ctx.out, removed as i64);
    Outcome::Replied
}

fn exists(ctx: &mut Ctx<'_>, request: Request<'_>) -> Outcome {
    let mut shared = lock(ctx.shared);
    let found = request
        .args()
        .skip(1)
        .filter(|key| shared.keys.contains(key))
        .count();
    resp::integer(ctx.out, found as i64);
    Outcome::Replied
}

fn type_of(ctx: &mut Ctx<'_>, request: Request<'_>) -> Outcome {
    let name = match lock(ctx.shared).keys.get(request.arg(1)) {
        None => "none",
        Some(Value::Str(_)) => "string",
        Some(Value::List(_)) => "list",
    };
    resp::simple(ctx.out, name);
    Outcome::Replied
}

/// Adds `by` to the integer at `key` (missing: 0) and replies with the result.
fn add_to(ctx: &mut Ctx<'_>, key: &[u8], by: i64) -> Outcome {
    let mut shared = lock(ctx.shared);
    let current = match shared.keys.get_str(key) {
        Err(WrongType) => {
            resp::error(ctx.out, WRONGTYPE);
            return Outcome::Replied;
        }
        Ok(None) => 0,
        Ok(Some(text)) => match parse_integer(text) {
            Some(number) => number,
            None => {
                resp::error(ctx.out, NOT_AN_INTEGER);
                return Outcome::Replied;
            }
        },
    };
    let Some(next) = current.checked_add(by) else {
        resp::error(ctx.out, "ERR increment or decrement would overflow");
        return Outcome::Replied;
    };
    let mut text = Vec::with_capacity(20);
    resp::integer(&mut text, next);
    // `:123\r\n` is the reply; its middle is the value's text.
    let digits = &text[1..text.len() - 2];
    shared.keys.set(key, digits, Ttl::Keep);
    ctx.out.extend_from_slice(&text);
    Outcome::Replied
}

fn incr(ctx: &mut Ctx<'_>, request: Request<'_>) -> Outcome {
    add_to(ctx, request.arg(1), 1)
}

fn decr(ctx: &mut Ctx<'_>, request: Request<'_>) -> Outcome {
    add_to(ctx, request.arg(1), -1)
}

fn incrby(ctx: &mut Ctx<'_>, request: Request<'_>) -> Outcome {
    match parse_integer(request.arg(2)) {
        Some(by) => add_to(ctx, request.arg(1), by),
        None => {
            resp::error(ctx.out, NOT_AN_INTEGER);
            Outcome::Replied
        }
    }
}

fn decrby(ctx: &mut Ctx<'_>, request: Request<'_>) -> Outcome {
    match parse_integer(request.arg(2)).and_then(i64::checked_neg) {
        Some(by) => add_to(ctx, request.arg(1), by),
        None => {
            resp::error(ctx.out, NOT_AN_INTEGER);
            Outcome::Replied
        }
    }
}

fn dbsize(ctx: &mut Ctx<'_>, _request: Request<'_>) -> Outcome {
    let count = lock(ctx.shared).keys.len();
    resp::integer(ctx.out, count as i64);
    Outcome::Replied
}

fn flushdb(ctx: &mut Ctx<'_>, request: Request<'_>) -> Outcome {
    let mode = (request.len() == 2).then(|| request.arg(1).to_ascii_uppercase());
    match (request.len(), mode.as_deref()) {
        (1, _) | (2, Some(b"SYNC" | b"ASYNC")) => {
            lock(ctx.shared).keys.clear();
            resp::simple(ctx.out, "OK");
        }
        _ => resp::error(ctx.out, SYNTAX_ERROR),
    }
    Outcome::Replied
}

// Expiry.

fn expire(ctx: &mut Ctx<'_>, request: Request<'_>) -> Outcome {
    set_expiry(ctx, request, true, "expire")
}

fn pexpire(ctx: &mut Ctx<'_>, request: Request<'_>) -> Outcome {
    set_expiry(ctx, request, false, "pexpire")
}

/// `EXPIRE key seconds [NX|XX|GT|LT]` and `PEXPIRE` (milliseconds).
fn set_expiry(ctx: &mut Ctx<'_>, request: Request<'_>, in_seconds: bool, name: &str) -> Outcome {
    let key = request.arg(1);
    let Some(amount) = parse_integer(request.arg(2)) else {
        resp::error(ctx.out, NOT_AN_INTEGER);
        return Outcome::Replied;
    };
    let condition = match request.len() {
        3 => None,
        4 => Some(request.arg(3).to_ascii_uppercase()),
        _ => {
            resp::error(ctx.out, SYNTAX_ERROR);
            return Outcome::Replied;
        }
    };
    let Some(deadline) = deadline_after(amount, in_seconds) else {
        resp::error(
            ctx.out,
            &format!("ERR invalid expire time in '{name}' command"),
        );
        return Outcome::Replied;
    };
    let mut shared = lock(ctx.shared);
    if !shared.keys.contains(key) {
        resp::integer(ctx.out, 0);
        return Outcome::Replied;
    }
    let current = shared.keys.deadline(key);
    let allowed = match (condition.as_deref(), current) {
        (None, _) => true,
        (Some(b"NX"), current) => current.is_none(),
        (Some(b"XX"), current) => current.is_some(),
        // No deadline counts as "never", later than any deadline.
        (Some(b"GT"), current) => current.is_some_and(|current| deadline > current),
        (Some(b"LT"), current) => current.is_none_or(|current| deadline < current),
        (Some(_), _) => {
            resp::error(
                ctx.out,
                &format!("ERR Unsupported option {}", shown(request.arg(3))),
            );
            return Outcome::Replied;
        }
    };
    let changed = allowed && shared.keys.expire_at(key, deadline);
    resp::integer(ctx.out, i64::from(changed));
    Outcome::Replied
}

fn ttl(ctx: &mut Ctx<'_>, request: Request<'_>) -> Outcome {
    time_to_live(ctx, request, true)
}

fn pttl(ctx: &mut Ctx<'_>, request: Request<'_>) -> Outcome {
    time_to_live(ctx, request, false)
}

/// `TTL` (seconds, rounded as Redis rounds) and `PTTL`: -2 for no key, -1 for no deadline.
fn time_to_live(ctx: &mut Ctx<'_>, request: Request<'_>, in_seconds: bool) -> Outcome {
    let mut shared = lock(ctx.shared);
    let key = request.arg(1);
    let answer = if !shared.keys.contains(key) {
        -2
    } else {
        match shared.keys.deadline(key) {
            None => -1,
            Some(deadline) => {
                let millis = deadline
                    .saturating_duration_since(Instant::now())
                    .as_millis() as i64;
                if in_seconds {
                    (millis + 500) / 1000
                } else {
                    millis
                }
            }
        }
    };
    resp::integer(ctx.out, answer);
    Outcome::Replied
}

fn persist(ctx: &mut Ctx<'_>, request: Request<'_>) -> Outcome {
    let changed = lock(ctx.shared).keys.persist(request.arg(1));
    resp::integer(ctx.out, i64::from(changed));
    Outcome::Replied
}

// Lists.

fn lpush(ctx: &mut Ctx<'_>, request: Request<'_>) -> Outcome {
    push(ctx, request, true)
}

fn rpush(ctx: &mut Ctx<'_>, request: Request<'_>) -> Outcome {
    push(ctx, request, false)
}

fn push(ctx: &mut Ctx<'_>, request: Request<'_>, at_front: bool) -> Outcome {
    let key = request.arg(1);
    let mut shared = lock(ctx.shared);
    let length = match shared.keys.list_for_push(key) {
        Ok(list) => {
            for value in request.args().skip(2) {
                if at_front {
                    list.push_front(value.to_vec());
                } else {
                    list.push_back(value.to_vec());
                }
            }
            list.len()
        }
        Err(WrongType) => {
            resp::error(ctx.out, WRONGTYPE);
            return Outcome::Replied;
        }
    };
    shared.note_pushed(key);
    resp::integer(ctx.out, length as i64);
    // Inside a transaction, the waiting clients are served after `EXEC`.
    if ctx.session.transaction.is_none() {
        shared.serve_blocked();
    }
    Outcome::Replied
}

fn lpop(ctx: &mut Ctx<'_>, request: Request<'_>) -> Outcome {
    let count = match request.len() {
        2 => None,
        3 => match parse_integer(request.arg(2)) {
            Some(count) if count >= 0 => Some(count as usize),
            Some(_) => {
                resp::error(ctx.out, "ERR value is out of range, must be positive");
                return Outcome::Replied;
            }
            None => {
                resp::error(ctx.out, NOT_AN_INTEGER);
                return Outcome::Replied;
            }
        },
        _ => {
            wrong_arity(ctx.out, "lpop");
            return Outcome::Replied;
        }
    };
    let mut shared = lock(ctx.shared);
    let exists = shared.keys.contains(request.arg(1));
    match shared.keys.pop_front(request.arg(1), count.unwrap_or(1)) {
        Err(WrongType) => resp::error(ctx.out, WRONGTYPE),
        Ok(popped) => match count {
            None => match popped.first() {
                Some(value) => resp::bulk(ctx.out, value),
                None => resp::null_bulk(ctx.out),
            },
            Some(_) if !exists => resp::null_array(ctx.out),
            Some(_) => {
                resp::array_header(ctx.out, popped.len());
                for value in &popped {
                    resp::bulk(ctx.out, value);
                }
            }
        },
    }
    Outcome::Replied
}

fn llen(ctx: &mut Ctx<'_>, request: Request<'_>) -> Outcome {
    match lock(ctx.shared).keys.get(request.arg(1)) {
        None => resp::integer(ctx.out, 0),
        Some(Value::List(list)) => resp::integer(ctx.out, list.len() as i64),
        Some(Value::Str(_)) => resp::error(ctx.out, WRONGTYPE),
    }
    Outcome::Replied
}

fn lrange(ctx: &mut Ctx<'_>, request: Request<'_>) -> Outcome {
    let (Some(start), Some(stop)) = (parse_integer(request.arg(2)), parse_integer(request.arg(3)))
    else {
        resp::error(ctx.out, NOT_AN_INTEGER);
        return Outcome::Replied;
    };
    let mut shared = lock(ctx.shared);
    let list = match shared.keys.get(request.arg(1)) {
        None => {
            resp::array_header(ctx.out, 0);
            return Outcome::Replied;
        }
        Some(Value::List(list)) => list,
        Some(Value::Str(_)) => {
            resp::error(ctx.out, WRONGTYPE);
            return Outcome::Replied;
        }
    };
    // Negative indexes count from the end; the range is clamped to the list.
    let len = list.len() as i64;
    let from = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let to = if stop < 0 {
        len + stop
    } else {
        stop.min(len - 1)
    };
    if from > to || from >= len {
        resp::array_header(ctx.out, 0);
        return Outcome::Replied;
    }
    resp::array_header(ctx.out, (to - from + 1) as usize);
    for value in list.range(from as usize..=to as usize) {
        resp::bulk(ctx.out, value);
    }
    Outcome::Replied
}

/// `BLPOP key [key ...] timeout`: pops from the first non-empty list; if all are empty,
/// blocks (outside a transaction) until one gets an element or the time is up.
fn blpop(ctx: &mut Ctx<'_>, request: Request<'_>) -> Outcome {
    let text = String::from_utf8_lossy(request.arg(request.len() - 1));
    let seconds = match text.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds < 0.0 => {
            resp::error(ctx.out, "ERR timeout is negative");
            return Outcome::Replied;
        }
        // Under a hundred years: the deadline must fit in an `Instant`.
        Ok(seconds) if seconds.is_finite() && seconds < 3.2e9 => seconds,
        _ => {
            resp::error(ctx.out, "ERR timeout is not a float or out of range");
            return Outcome::Replied;
        }
    };
    let keys: Vec<&[u8]> = request.args().skip(1).take(request.len() - 2).collect();
    let mut shared = lock(ctx.shared);
    for key in &keys {
        match shared.keys.pop_front(key, 1) {
            Err(WrongType) => {
                resp::error(ctx.out, WRONGTYPE);
                return Outcome::Replied;
            }
            Ok(popped) if !popped.is_empty() => {
                resp::array_header(ctx.out, 2);
                resp::bulk(ctx.out, key);
                resp::bulk(ctx.out, &popped[0]);
                return Outcome::Replied;
            }
            Ok(_) => {}
        }
    }
    // Inside a transaction nothing may wait: an empty BLPOP is an empty LPOP.
    if ctx.session.transaction.is_some() {
        resp::null_array(ctx.out);
        return Outcome::Replied;
    }
    shared.block(
        ctx.session.id,
        keys.iter().map(|key| key.to_vec()).collect(),
    );
    let deadline = (seconds > 0.0).then(|| Instant::now() + Duration::from_secs_f64(seconds));
    Outcome::Block { deadline }
}

// Pub/sub.

fn publish(ctx: &mut Ctx<'_>, request: Request<'_>) -> Outcome {
    let receivers = lock(ctx.shared).publish(request.arg(1), request.arg(2));
    resp::integer(ctx.out, receivers as i64);
    Outcome::Replied
}

/// One `subscribe`/`unsubscribe` confirmation: `[kind, channel or nil, count]`.
fn confirmation(out: &mut Vec<u8>, kind: &[u8], channel: Option<&[u8]>, count: usize) {
    resp::array_header(out, 3);
    resp::bulk(out, kind);
    match channel {
        Some(channel) => resp::bulk(out, channel),
        None => resp::null_bulk(out),
    }
    resp::integer(out, count as i64);
}

fn subscribe(ctx: &mut Ctx<'_>, request: Request<'_>) -> Outcome {
    let mut shared = lock(ctx.shared);
    for channel in request.args().skip(1) {
        let count = shared.subscribe(ctx.session.id, channel);
        ctx.session.subscriptions = count;
        confirmation(ctx.out, b"subscribe", Some(channel), count);
    }
    Outcome::Replied
}

fn unsubscribe(ctx: &mut Ctx<'_>, request: Request<'_>) -> Outcome {
    let mut shared = lock(ctx.shared);
    let channels: Vec<Bytes> = if request.len() > 1 {
        request.args().skip(1).map(<[u8]>::to_vec).collect()
    } else {
        shared.channels_of(ctx.session.id)
    };
    if channels.is_empty() {
        confirmation(ctx.out, b"unsubscribe", None, 0);
    }
    for channel in channels {
        let count = shared.unsubscribe(ctx.session.id, &channel);
        ctx.session.subscriptions = count;
        confirmation(ctx.out, b"unsubscribe", Some(&channel), count);
    }
    Outcome::Replied
}

fn psubscribe(ctx: &mut Ctx<'_>, _request: Request<'_>) -> Outcome {
    resp::error(
        ctx.out,
        "ERR pattern subscriptions are not supported by this server; SUBSCRIBE to each \
         channel by its name",
    );
    Outcome::Replied
}

/// With no patterns to leave, `PUNSUBSCRIBE` confirms each one it is given (or one nil)
/// with the client's channel count, as clients expect before they leave pub/sub mode.
fn punsubscribe(ctx: &mut Ctx<'_>, request: Request<'_>) -> Outcome {
    let count = ctx.session.subscriptions;
    if request.len() == 1 {
        confirmation(ctx.out, b"punsubscribe", None, count);
    }
    for pattern in request.args().skip(1) {
        confirmation(ctx.out, b"punsubscribe", Some(pattern), count);
    }
    Outcome::Replied
}

// Transactions.

fn multi(ctx: &mut Ctx<'_>, _request: Request<'_>) -> Outcome {
    if ctx.session.transaction.is_some() {
        resp::error(ctx.out, "ERR MULTI calls can not be nested");
    } else {
        ctx.session.transaction = Some(Transaction::default());
        resp::simple(ctx.out, "OK");
    }
    Outcome::Replied
}

fn discard(ctx: &mut Ctx<'_>, _request: Request<'_>) -> Outcome {
    match ctx.session.transaction.take() {
        Some(_) => resp::simple(ctx.out, "OK"),
        None => resp::error(ctx.out, "ERR DISCARD without MULTI"),
    }
    Outcome::Replied
}

/// Runs the queued commands one after another, with nothing in between: no other task runs
/// while this one does not wait, and nothing here waits.
fn exec(ctx: &mut Ctx<'_>, _request: Request<'_>) -> Outcome {
    let Some(transaction) = ctx.session.transaction.take() else {
        resp::error(ctx.out, "ERR EXEC without MULTI");
        return Outcome::Replied;
    };
    if transaction.has_failed {
        resp::error(
            ctx.out,
            "EXECABORT Transaction discarded because of previous errors.",
        );
        return Outcome::Replied;
    }
    resp::array_header(ctx.out, transaction.queued.len());
    // BLPOP looks at this to know it may not wait; it is cleared again below.
    ctx.session.transaction = Some(Transaction::default());
    for queued in &transaction.queued {
        let request = queued.as_request();
        let spec = lookup(request.arg(0)).expect("only known commands are queued");
        let outcome = (spec.run)(ctx, request);
        if let Outcome::Fetch(key) = outcome {
            ctx.runtime.fetch_now(ctx.shared, &key, ctx.out);
        }
    }
    ctx.session.transaction = None;
    lock(ctx.shared).serve_blocked();
    Outcome::Replied
}

// FETCH: sync first.

fn fetch_command(_ctx: &mut Ctx<'_>, request: Request<'_>) -> Outcome {
    Outcome::Fetch(request.arg(1).to_vec())
}

/// `FETCH key`: the value of `key` if the cache has it; otherwise `load(path)` fetches it
/// from the origin (the slow-sites server: `apple` is `GET /apple`), and it is stored under
/// `key`. A hit returns at its first poll without waiting; only a miss suspends. The error
/// is a whole Redis error line.
pub async fn fetch<L, F>(shared: SharedState, key: Bytes, load: L) -> Result<Bytes, String>
where
    L: FnOnce(String) -> F,
    F: Future<Output = Result<Bytes, String>>,
{
    // The synchronous part: the cache, under the lock, released before any wait.
    let cached = lock(&shared)
        .keys
        .get_str(&key)
        .map(|hit| hit.map(<[u8]>::to_vec));
    match cached {
        Ok(Some(hit)) => return Ok(hit),
        Ok(None) => {}
        Err(WrongType) => return Err(WRONGTYPE.to_owned()),
    }
    let path = origin_path(&key)?;
    // The asynchronous part: the origin.
    let value = load(path).await?;
    lock(&shared).keys.set(&key, &value, Ttl::Clear);
    Ok(value)
}

/// The origin path for a key: `apple`, `delay/250`. Keys are arbitrary bytes, paths are not.
fn origin_path(key: &[u8]) -> Result<String, String> {
    let is_path = !key.is_empty()
        && key
            .iter()
            .all(|&byte| byte.is_ascii_alphanumeric() || b"-_/".contains(&byte));
    if is_path {
        Ok(String::from_utf8_lossy(key).into_owned())
    } else {
        Err(format!(
            "ERR FETCH cannot load '{}' from the origin: a key to fetch is a path on the \
             slow-sites server (letters, digits, '-', '_' and '/'), like 'apple' or \
             'delay/250'",
            shown(key)
        ))
    }
}

/// Appends `FETCH`'s reply: the value, or the error.
pub fn fetch_reply(out: &mut Vec<u8>, result: &Result<Bytes, String>) {
    match result {
        Ok(value) => resp::bulk(out, value),
        Err(message) => resp::error(out, message),
    }
}

/// The error of a `FETCH` that would have had to wait inside `MULTI`/`EXEC`; `why` says for
/// what, when the runtime can tell.
pub fn fetch_would_wait(out: &mut Vec<u8>, key: &[u8], why: Option<&str>) {
    let waiting = why
        .map(|why| format!(" (it would wait for {why})"))
        .unwrap_or_default();
    resp::error(
        out,
        &format!(
            "ERR FETCH '{}' is not cached and would have to wait for the origin{waiting}; \
             waiting is not allowed inside a transaction; FETCH it before MULTI, or use GET \
             inside",
            shown(key)
        ),
    );
}

/// A state whose expiry timers do nothing, for the unit tests.
#[cfg(test)]
fn state_for_tests() -> SharedState {
    crate::shared::new_state(|_, _, _| crate::keyspace::TimerHandle::new(|| {}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::{Parsed, RequestParser};

    /// A runtime whose `FETCH` inside a transaction always would wait.
    struct NeverNow;

    impl Runtime for NeverNow {
        fn fetch_now(&self, _shared: &SharedState, key: &[u8], out: &mut Vec<u8>) {
            fetch_would_wait(out, key, None);
        }
    }

    /// Runs inline commands, one per line, on one session; returns the replies as text.
    fn run(shared: &SharedState, session: &mut Session, lines: &str) -> String {
        let mut out = Vec::new();
        let mut parser = RequestParser::new();
        let bytes = lines.replace('\n', "\r\n").into_bytes();
        let mut at = 0;
        while let Parsed::Request { used } = parser.parse(&bytes[at..]).unwrap() {
            let request = parser.request(&bytes[at..]);
            let mut ctx = Ctx {
                shared,
                session: &mut *session,
                out: &mut out,
                runtime: &NeverNow,
            };
            execute(&mut ctx, request);
            at += used;
        }
        String::from_utf8(out).unwrap()
    }

    fn connected(shared: &SharedState) -> Session {
        Session::new(lock(shared).connect("test".into()))
    }

    #[test]
    fn strings_counters_and_errors() {
        let shared = state_for_tests();
        let mut session = connected(&shared);
        let replies = run(
            &shared,
            &mut session,
            "SET k v\nGET k\nINCR n\nINCRBY n 41\nINCR k\nSET k v NX\nSET k w XX GET\nget K\nGETX a\nGET\n",
        );
        assert_eq!(
            replies,
            "+OK\r\n$1\r\nv\r\n:1\r\n:42\r\n-ERR value is not an integer or out of range\r\n\
             $-1\r\n$1\r\nv\r\n$-1\r\n\
             -ERR unknown command 'GETX', with args beginning with: 'a' \r\n\
             -ERR wrong number of arguments for 'get' command\r\n"
        );
    }

    #[test]
    fn integers_are_read_as_redis_reads_them() {
        for good in ["0", "-1", "9223372036854775807", "-9223372036854775808"] {
            assert!(parse_integer(good.as_bytes()).is_some(), "{good}");
        }
        for bad in [
            "",
            "-",
            "+1",
            "01",
            "-0",
            " 1",
            "1.0",
            "9223372036854775808",
        ] {
            assert_eq!(parse_integer(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn a_transaction_runs_everything_and_reports_each_error_in_place() {
        let shared = state_for_tests();
        let mut session = connected(&shared);
        let replies = run(
            &shared,
            &mut session,
            "MULTI\nSET a 1\nFETCH apple\nINCR a\nBLPOP empty 5\nEXEC\nGET a\n",
        );
        assert_eq!(
            replies,
            "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*4\r\n+OK\r\n\
             -ERR FETCH 'apple' is not cached and would have to wait for the origin; waiting \
             is not allowed inside a transaction; FETCH it before MULTI, or use GET inside\r\n\
             :2\r\n*-1\r\n$1\r\n2\r\n"
        );
    }

    #[test]
    fn queuing_errors_abort_the_transaction() {
        let shared = state_for_tests();
        let mut session = connected(&shared);
        let replies = run(&shared, &mut session, "MULTI\nSET a 1\nGET\nEXEC\nGET a\n");
        assert!(replies
            .ends_with("-EXECABORT Transaction discarded because of previous errors.\r\n$-1\r\n"));
    }
}
