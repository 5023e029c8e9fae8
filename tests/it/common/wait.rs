//! Waiting on a condition: the one way the suite, the reliability runs and the benches wait.
//! No busy-wait, no sleep standing in for synchronisation.
use std::fmt::Display;
use std::future::Future;
use std::time::{Duration, Instant};

/// How often [`eventually`] looks again: short enough for quick tests, long enough to leave
/// the cores to the processes under test (a loaded 2-core CI machine).
pub const POLL: Duration = Duration::from_millis(20);

/// Polls `check` until it gives `Some(value)` and returns the value; panics naming `what` once
/// `within` has passed.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    eventually_every(what, within, POLL, || {
        let next = check();
        async move { next.await.ok_or("") }
    })
    .await
}

/// [`eventually`] for a check that says why not yet (`Err(why)`): the last reason is in the
/// panic.
pub async fn eventually_ok<T, E, F, Fut>(what: &str, within: Duration, check: F) -> T
where
    E: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    eventually_every(what, within, POLL, check).await
}

/// [`eventually_ok`], looking every `every`: for a check that costs the processes under test
/// (a count over a large outbox while a run is measured).
pub async fn eventually_every<T, E, F, Fut>(
    what: &str,
    within: Duration,
    every: Duration,
    check: F,
) -> T
where
    E: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    poll_until(within, every, check)
        .await
        .unwrap_or_else(|why| {
            let why = why.to_string();
            let why = if why.is_empty() {
                why
            } else {
                format!(": {why}")
            };
            panic!("never {what} (waited {within:?}){why}")
        })
}

/// What the waits above are made of, for a caller that does something of its own when the
/// condition never holds (puts a database back before it fails, reports a bench as not
/// finished): polls `check` every `every` until it gives `Ok(value)`; once `within` has
/// passed, the last `Err`.
pub async fn poll_until<T, E, F, Fut>(
    within: Duration,
    every: Duration,
    mut check: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let started = Instant::now();
    loop {
        match check().await {
            Ok(v) => return Ok(v),
            Err(why) if started.elapsed() >= within => return Err(why),
            Err(_) => tokio::time::sleep(every).await,
        }
    }
}

/// [`eventually`] for a thread without a runtime (a child process of a test, a pty reader),
/// looking every `every`.
pub fn eventually_blocking<T>(
    what: &str,
    within: Duration,
    every: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let started = Instant::now();
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            started.elapsed() < within,
            "never {what} (waited {within:?})"
        );
        std::thread::sleep(every);
    }
}
