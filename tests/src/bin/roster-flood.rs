//! `roster-flood CONNECTIONS SECONDS USER CURRENT NEW`: the starvation
//! attack of issue 14, for `tests/daemon_flood.rs`. Opens CONNECTIONS bus
//! connections (as whatever uid runs it) and has each call
//! `Users.SetPassword(USER, CURRENT, NEW)` in a loop for SECONDS, then
//! prints `{"calls": N, "answers": {"<error name or ok>": count, …}}`.
//! Connects to `DBUS_SYSTEM_BUS_ADDRESS`.

use roster_client::UsersProxy;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [connections, seconds, user, current, new] = args.as_slice() else {
        eprintln!("usage: roster-flood CONNECTIONS SECONDS USER CURRENT NEW");
        std::process::exit(2);
    };
    let (Ok(connections), Ok(seconds)) = (connections.parse::<usize>(), seconds.parse::<f64>())
    else {
        eprintln!("roster-flood: CONNECTIONS and SECONDS are numbers");
        std::process::exit(2);
    };
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let (user, current, new) = (user.clone(), current.clone(), new.clone());
            std::thread::spawn(move || flood(until, &user, &current, &new))
        })
        .collect();
    let mut answers = BTreeMap::<String, u64>::new();
    for worker in workers {
        for (answer, n) in worker.join().unwrap_or_default() {
            *answers.entry(answer).or_default() += n;
        }
    }
    let calls: u64 = answers.values().sum();
    println!(
        "{}",
        serde_json::json!({ "calls": calls, "answers": answers })
    );
}

/// One connection's loop: how many answers of each kind it got.
fn flood(until: Instant, user: &str, current: &str, new: &str) -> BTreeMap<String, u64> {
    let mut answers = BTreeMap::new();
    // The flooder's own password, guessed: always a given one.
    let current = roster_client::CurrentPassword::Given(current.into());
    let outcome = zbus::block_on(async {
        let conn = zbus::Connection::system().await?;
        let users = UsersProxy::new(&conn).await?;
        while Instant::now() < until {
            let answer = match users.set_password(user, &current, new).await {
                Ok(()) => "ok".to_owned(),
                Err(e) => error_name(&e),
            };
            *answers.entry(answer).or_insert(0u64) += 1;
        }
        Ok::<(), zbus::Error>(())
    });
    if let Err(e) = outcome {
        *answers.entry(format!("connect: {e}")).or_insert(0) += 1;
    }
    answers
}

fn error_name(error: &roster_client::RosterError) -> String {
    use zbus::DBusError;
    match error {
        roster_client::RosterError::ZBus(e) => format!("zbus: {e}"),
        // "busy" (the hash queue refused) apart from the rate limit.
        roster_client::RosterError::Unavailable(m) if m.contains("busy") => {
            "Unavailable(busy)".into()
        }
        roster_client::RosterError::Unavailable(_) => "Unavailable(other)".into(),
        other => other.name().rsplit('.').next().unwrap_or("?").to_owned(),
    }
}
