//! Lesson 14: sequential awaits versus gather
//!
//! An `.await` waits for one thing before the next line runs. That is what you
//! want when the next step needs the result (a profile lookup needs the user's
//! name), and a waste when it doesn't (three users who have nothing to do with
//! each other). This lesson loads three users with their profiles three ways:
//! one after another, as spawned tasks joined with `join_all` (Python's
//! `create_task` + `gather`), and as plain futures joined with `join_all`. Each
//! user still needs two steps in series; only the users overlap.
//!
//! Run it:     cargo run --example 14_sequential_vs_gather
//!             MINILOOP_TIME_SCALE=0.1 cargo run --example 14_sequential_vs_gather
//! Read:       docs/14-sequential-vs-gather.md
//! Debug it:   break on '14_sequential_vs_gather::fetch_profile::{async_fn#0}'
//!             (the quotes and `{async_fn#0}` name the body, not the function
//!             that only builds the future) and `bt`: in the sequential run each
//!             stop sits under `load_one_by_one`, in the main future; in the
//!             gathered run under `Core::poll_task`, in one of three tasks
//!
//! `MINILOOP_TIME_SCALE` (a positive number, default 1.0) multiplies every delay;
//! it changes no line except the three `run time` lines.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use miniloop::{join_all, sleep, spawn};

/// Set once in `main`, before anything sleeps; read by `seconds`.
static TIME_SCALE: OnceLock<f64> = OnceLock::new();

/// A number of seconds, times the time scale. Same as lesson 13.
fn seconds(count: f64) -> Duration {
    let time_scale = TIME_SCALE.get().copied().unwrap_or(1.0);
    Duration::from_secs_f64(count * time_scale)
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

/// The user ids this program loads.
const USER_IDS: [u32; 3] = [1, 2, 3];

/// Step one: a slow lookup of a user's name by id (a database in real life).
async fn fetch_username(user_id: u32) -> &'static str {
    sleep(seconds(0.5)).await;
    match user_id {
        1 => "ada",
        2 => "grace",
        _ => "linus",
    }
}

/// Step two: a slow lookup that needs step one's answer, the username.
async fn fetch_profile(username: &str) -> &'static str {
    sleep(seconds(0.5)).await;
    match username {
        "ada" => "likes engines",
        "grace" => "likes compilers",
        _ => "likes kernels",
    }
}

/// Both steps for one user. They must stay in series: `fetch_profile` cannot
/// start before `fetch_username` has given it a name. One second per user.
async fn load_user(user_id: u32) -> String {
    let username = fetch_username(user_id).await;
    let profile = fetch_profile(username).await;
    format!("user {user_id}: {username}, {profile}")
}

/// Three users, one after another: each `.await` waits for a whole user
/// before the next one starts, although no user needs another's result.
async fn load_one_by_one() -> Vec<String> {
    let mut users = Vec::new();
    for user_id in USER_IDS {
        users.push(load_user(user_id).await);
    }
    users
}

/// Three users as three tasks: `spawn` starts each one at the loop's next
/// turn, and `join_all` waits for all the handles (`create_task` + `gather`).
async fn load_as_tasks() -> Vec<String> {
    let handles: Vec<_> = USER_IDS
        .into_iter()
        .map(|user_id| spawn(load_user(user_id)))
        .collect();
    // `join_all` keeps input order, whatever order the tasks finish in.
    let results = join_all(handles).await;
    results
        .into_iter()
        .map(|result| result.expect("loading a user never panics"))
        .collect()
}

/// Three users as plain futures inside this one task: no spawn, no `Send`
/// needed; `join_all` polls each future when its own timer fires.
async fn load_joined() -> Vec<String> {
    join_all(USER_IDS.map(load_user)).await
}

/// Runs one way of loading on a fresh loop; prints its lines and its time.
fn report<F: std::future::Future<Output = Vec<String>>>(title: &str, label: &str, load: F) {
    println!("{title}");
    let started_at = Instant::now();
    let users = miniloop::run(load);
    let run_time = started_at.elapsed();
    for user in users {
        println!("  {user}");
    }
    println!("{label} run time: {:.2} seconds", run_time.as_secs_f64());
}

fn main() {
    let time_scale = match time_scale_from_env() {
        Ok(time_scale) => time_scale,
        Err(message) => {
            eprintln!("error: {message}");
            std::process::exit(2);
        }
    };
    TIME_SCALE
        .set(time_scale)
        .expect("the time scale is set once, before the loop starts");

    report("One after another:", "Sequential", load_one_by_one());
    report("Spawned, then join_all:", "Gathered", load_as_tasks());
    report("join_all of plain futures:", "Joined", load_joined());
}
