//! Lesson 36: seeded schedules: finding an order bug
//!
//! Two tasks withdraw from one account of 100: rent takes 70, groceries 50 after fetching
//! the basket (four round trips). Each checks the balance, awaits the bank's authorization, then subtracts:
//! check-then-act across an `.await`. If groceries checks while rent waits between its check
//! and its subtraction, both see enough money and the account ends at -20.
//!
//! The default order never does that: rent subtracts in the loop's second turn, groceries
//! checks in its fifth, on every run. So the program passes, a hundred times out of a
//! hundred. Then:
//!
//! 1. The explorer (`miniloop::explore`) runs the same day under seeded task orders and
//!    stops at the first that overdraws, with the seed that replays it.
//! 2. The replay, twice, with the trace: what each task did, between the loop's lines.
//! 3. How rare the bad orders are: a count over 10 000 seeds.
//! 4. The fix (subtract before the `.await`, give back if refused), under 10 000 seeds.
//!
//! Run it:     cargo run --example 36_seeded_schedules
//! Replay:     MINILOOP_TRACE=1 cargo run --example 36_seeded_schedules -- --seed 0x…
//! Read:       docs/36-seeded-schedules.md
//! Debug it:   break on `36_seeded_schedules::overdrawn`, then `bt`: the call is in main's
//!             future, after both tasks finished; `frame` up to see the seed
//!
//! No line depends on timing but the wall times, which the test reads as numbers: the seeds
//! are a fixed sequence, and each seed is one order, the same on every run.

use std::sync::{Arc, Mutex};

use miniloop::explore::{parse_seed, schedule_seed, Explorer};
use miniloop::trace::TraceLog;
use miniloop::{task, yield_now, EventLoop};

/// The account's opening balance, and the two withdrawals.
const OPENING: i64 = 100;
const RENT: i64 = 70;
const GROCERIES: i64 = 50;

/// How many runs in the default order, and how many seeded orders to try.
const DEFAULT_RUNS: u32 = 100;
const SCHEDULES: u64 = 1_000;
const SCHEDULES_AFTER_FIX: u64 = 10_000;

/// What the tasks did, in order; with a trace, each line notes how many trace events came
/// before it, so that `print_replay` can put it among the loop's lines.
#[derive(Clone, Default)]
struct Journal {
    lines: Arc<Mutex<Vec<(usize, String)>>>,
    trace: Option<TraceLog>,
}

impl Journal {
    fn note(&self, line: String) {
        let at = self.trace.as_ref().map_or(0, |trace| trace.events().len());
        self.lines.lock().unwrap().push((at, line));
    }
}

/// The account, shared by the two tasks (`spawn` asks for `Send`, hence `Arc<Mutex<_>>`).
#[derive(Clone)]
struct Account {
    balance: Arc<Mutex<i64>>,
    journal: Journal,
}

/// The bank's answer to "may I?": a round trip, here one `yield_now` so that the lesson needs
/// no server. What matters is that it is an `.await`: other tasks run during it.
async fn authorize() {
    yield_now().await;
}

/// Round trips before groceries knows what it owes (the list, the prices, the stock, the
/// total). The more there are, the rarer the orders in which rent is still between its check
/// and its subtraction when groceries checks: four make it about one order in 200.
const BASKET_TRIPS: u32 = 4;

async fn fetch_basket() {
    for _ in 0..BASKET_TRIPS {
        yield_now().await;
    }
}

/// The bug: the balance is checked, then the task waits, then it subtracts what it checked
/// against, whatever happened meanwhile.
async fn withdraw_check_then_act(account: Account, who: &str, amount: i64) {
    let seen = *account.balance.lock().unwrap();
    if seen < amount {
        account
            .journal
            .note(format!("{who}: sees {seen}, not enough for {amount}"));
        return;
    }
    account
        .journal
        .note(format!("{who}: sees {seen}, enough for {amount}"));
    authorize().await; // the gap: the other task may check the same balance here
    let mut balance = account.balance.lock().unwrap();
    *balance -= amount;
    let now = *balance;
    drop(balance);
    account
        .journal
        .note(format!("{who}: takes {amount}, balance {now}"));
}

/// The fix: check and subtract with no `.await` between (so no other task can run between
/// them), then wait; a refusal would give the money back.
async fn withdraw_reserve_first(account: Account, who: &str, amount: i64) {
    {
        let mut balance = account.balance.lock().unwrap();
        if *balance < amount {
            let seen = *balance;
            drop(balance);
            account
                .journal
                .note(format!("{who}: sees {seen}, not enough for {amount}"));
            return;
        }
        *balance -= amount;
    }
    account.journal.note(format!("{who}: reserves {amount}"));
    authorize().await;
}

/// One day at the bank: rent and groceries as two tasks. `Err` if the account ends below 0.
async fn day_at_the_bank(is_fixed: bool, journal: Journal) -> Result<i64, String> {
    let account = Account {
        balance: Arc::new(Mutex::new(OPENING)),
        journal,
    };
    let (rent_account, groceries_account) = (account.clone(), account.clone());
    let rent = task::Builder::new().name("rent").spawn(async move {
        if is_fixed {
            withdraw_reserve_first(rent_account, "rent", RENT).await;
        } else {
            withdraw_check_then_act(rent_account, "rent", RENT).await;
        }
    });
    let groceries = task::Builder::new().name("groceries").spawn(async move {
        fetch_basket().await;
        if is_fixed {
            withdraw_reserve_first(groceries_account, "groceries", GROCERIES).await;
        } else {
            withdraw_check_then_act(groceries_account, "groceries", GROCERIES).await;
        }
    });
    rent.await.expect("rent does not panic");
    groceries.await.expect("groceries does not panic");
    let balance = *account.balance.lock().unwrap();
    if balance < 0 {
        return Err(overdrawn(balance));
    }
    Ok(balance)
}

/// The failure's message (a function of its own, to break on).
#[inline(never)]
fn overdrawn(balance: i64) -> String {
    format!("overdrawn: the account ends at {balance}")
}

/// Runs the buggy day once under `seed` with a trace, and prints each task's lines among the
/// loop's; returns the trace and the outcome, to compare two replays.
fn replay(seed: u64, is_printed: bool) -> (Vec<String>, Result<i64, String>) {
    let trace = TraceLog::new();
    let journal = Journal {
        lines: Arc::default(),
        trace: Some(trace.clone()),
    };
    let event_loop = EventLoop::builder()
        .seed(seed)
        .trace_into(trace.clone())
        .build();
    let outcome = event_loop.run_until_complete(day_at_the_bank(false, journal.clone()));
    drop(event_loop);
    let events = trace.describe();
    if is_printed {
        let lines = journal.lines.lock().unwrap();
        let mut lines = lines.iter().peekable();
        for (index, event) in events.iter().enumerate() {
            while let Some((_, line)) = lines.next_if(|(at, _)| *at <= index) {
                println!("    >> {line}");
            }
            // The spawns and main's wakes are the same in every order: the polls tell the story.
            if event.starts_with("poll task") || event.starts_with("finished") {
                println!("       {event}");
            }
        }
        for (_, line) in lines {
            println!("    >> {line}");
        }
    }
    (events, outcome)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, seed] = args.as_slice() {
        if flag == "--seed" {
            let seed = parse_seed(seed).unwrap_or_else(|message| {
                eprintln!("--seed: {message}");
                std::process::exit(2);
            });
            println!(
                "Replaying seed {seed:#x} (MINILOOP_TRACE=1 adds the loop's own trace on stderr):"
            );
            let (_, outcome) = replay(seed, true);
            println!("Outcome: {outcome:?}");
            return;
        }
    }
    if !args.is_empty() {
        eprintln!("usage: cargo run --example 36_seeded_schedules [-- --seed 0x…]");
        std::process::exit(2);
    }

    println!("Lesson 36: an order bug that the default order hides");
    println!(
        "Opening balance {OPENING}; rent withdraws {RENT}, groceries {GROCERIES} after fetching the basket."
    );

    // 1. The default order, a hundred times: what an ordinary test sees.
    let mut passed = 0;
    let mut balances = Vec::new();
    for _ in 0..DEFAULT_RUNS {
        if let Ok(balance) = miniloop::run(day_at_the_bank(false, Journal::default())) {
            passed += 1;
            balances.push(balance);
        }
    }
    balances.dedup();
    println!("Default order: {passed} of {DEFAULT_RUNS} runs pass, ending at {balances:?}");

    // 2. The explorer: the same day under seeded orders, until one fails.
    let explorer = Explorer::new().schedules(SCHEDULES);
    let failure = match explorer.run(|| day_at_the_bank(false, Journal::default())) {
        Ok(explored) => {
            println!(
                "Explorer: all {} seeded orders passed; no order bug found",
                explored.schedules
            );
            return;
        }
        Err(failure) => failure,
    };
    let seed = failure.seed.expect("a seeded schedule");
    println!(
        "Explorer: schedule {} of {} failed, seed {seed:#x}, after {:.1} ms: {}",
        failure.schedule,
        failure.of,
        failure.elapsed.as_secs_f64() * 1e3,
        failure.message
    );
    println!("Replay it: cargo run --example 36_seeded_schedules -- --seed {seed:#x}");

    // 3. The replay, twice: the same order, the same trace, the same failure.
    println!("Replay of seed {seed:#x}, what each task did (>>) among the loop's trace:");
    let (first_trace, first_outcome) = replay(seed, true);
    let (second_trace, second_outcome) = replay(seed, false);
    let is_same = first_trace == second_trace && first_outcome == second_outcome;
    println!(
        "Replayed twice: {} trace events each, {}; outcome {first_outcome:?}",
        first_trace.len(),
        if is_same { "identical" } else { "DIFFERENT" },
    );

    // How rare is it? Every one of the fixed number of seeds, with no stop at the first.
    let failing = (0..SCHEDULES_AFTER_FIX)
        .map(|index| Explorer::new().seed(schedule_seed(index)))
        .filter(|replay| {
            replay
                .run(|| day_at_the_bank(false, Journal::default()))
                .is_err()
        })
        .count();
    println!("Of the first {SCHEDULES_AFTER_FIX} seeded orders, {failing} overdraw");

    // 4. The fix, under ten times as many orders.
    let fixed = Explorer::new().schedules(SCHEDULES_AFTER_FIX);
    match fixed.run(|| day_at_the_bank(true, Journal::default())) {
        Ok(explored) => println!(
            "Fixed (reserve before the await): {} seeded orders pass, in {:.2} s",
            explored.schedules,
            explored.elapsed.as_secs_f64()
        ),
        Err(failure) => println!("Fixed: still fails: {failure}"),
    }
}
