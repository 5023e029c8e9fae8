//! A local stand-in for the Digis import API (docs/contracts.md, Digis HTTP), for tests, the demo and
//! staging.
//!
//! It answers `POST` on any path like Digis does (an external id per accepted member), records
//! every request, and injects faults chosen by [`FaultRule`]s: status codes, delays, dropped
//! connections, `Retry-After`, 2xx without an id, 2xx with `Success:false`, huge and slow bodies,
//! each optionally at random (`percent`) or only above a request rate (`rate_limit`, 429 by
//! default).
//!
//! Control endpoints for use from another process: `GET /_fake/health`, `GET /_fake/received`,
//! `GET /_fake/accepted`, `GET /_fake/rules`, `PUT /_fake/rules`.
pub mod cli;
mod rule;
mod server;

use std::collections::HashSet;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use rule::{parse_rule_list, FaultRule, FaultRuleError};

/// How the fake behaves. `Default`: accept any token, no faults, no record file.
#[derive(Debug, Clone, Default)]
pub struct FakeConfig {
    /// Token required in `?token=`; `None` accepts any (or none).
    pub token: Option<String>,
    /// Fault rules, first match wins.
    pub rules: Vec<FaultRule>,
    /// Append every request to this file as JSON lines.
    pub record: Option<PathBuf>,
}

/// One request the fake received (control endpoints excluded), and how it answered.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Received {
    pub at: DateTime<Utc>,
    pub method: String,
    /// The path without the query (the query holds the token).
    pub path: String,
    pub query_token: Option<String>,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    /// The JSON body; a body that is not JSON is kept as a JSON string of its text.
    pub body: serde_json::Value,
    /// The status answered; 0 when the connection was dropped without a response.
    pub status: u16,
    /// The external id answered, if any.
    pub external_id: Option<String>,
    /// The `Retry-After` header answered, if any, so a test can check the next request waited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<String>,
    /// How long the fake waited before answering (or dropping), after `at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
}

impl Received {
    /// `ExtInfo1` of the body as text, if present.
    pub fn ext_info1(&self) -> Option<String> {
        self.body.get("ExtInfo1").and_then(rule::as_text)
    }

    /// `ExtInfo20` (the card number) of the body as text, if present.
    pub fn ext_info20(&self) -> Option<String> {
        self.body.get("ExtInfo20").and_then(rule::as_text)
    }

    /// When the answer's head was sent (or the connection dropped): `at` plus the rule's delay.
    pub fn answered_at(&self) -> DateTime<Utc> {
        let delay = i64::try_from(self.delay_ms.unwrap_or(0)).unwrap_or(i64::MAX);
        self.at
            .checked_add_signed(chrono::TimeDelta::milliseconds(delay))
            .unwrap_or(self.at)
    }

    /// Answered 2xx with an external id: Digis holds the member.
    pub fn is_accepted(&self) -> bool {
        (200..300).contains(&self.status) && self.external_id.is_some()
    }
}

struct ActiveRule {
    rule: FaultRule,
    used: u32,
    /// For a `rate_limit` rule: the requests it let through in the last second.
    window: Option<rule::RateWindow>,
}

struct Inner {
    received: Vec<Received>,
    rules: Vec<ActiveRule>,
    /// (ExtInfo1, ExtInfo4) pairs accepted so far.
    accepted_pairs: HashSet<(String, String)>,
    duplicates: usize,
    next_id: u64,
    record: Option<std::fs::File>,
    record_path: Option<PathBuf>,
}

/// What the server and the handle share.
pub(crate) struct State {
    token: Option<String>,
    inner: Mutex<Inner>,
    /// Number of requests received, for condition waits.
    count: watch::Sender<usize>,
}

fn make_rules(rules: Vec<FaultRule>) -> Vec<ActiveRule> {
    rules
        .into_iter()
        .map(|rule| ActiveRule {
            window: rule.rate_limit.map(rule::RateWindow::new),
            rule,
            used: 0,
        })
        .collect()
}

impl State {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The first rule matching this body, with its use counted.
    pub(crate) fn take_rule(&self, body: &serde_json::Value) -> Option<FaultRule> {
        let mut inner = self.lock();
        let now = std::time::Instant::now();
        for r in inner.rules.iter_mut() {
            if r.rule.times.is_some_and(|t| r.used >= t) || !r.rule.filters_match(body) {
                continue;
            }
            // Under its rate: not this rule's request.
            if r.window.as_mut().is_some_and(|w| w.pass(now)) {
                continue;
            }
            if let Some(p) = r.rule.percent {
                if rand::random_range(0..100u8) >= p {
                    continue;
                }
            }
            r.used += 1;
            return Some(r.rule.clone().answering());
        }
        None
    }

    pub(crate) fn new_external_id(&self) -> String {
        let mut inner = self.lock();
        inner.next_id += 1;
        format!("TE-{:06}", inner.next_id)
    }

    /// Stores a request (and appends it to the record file), in arrival order.
    pub(crate) fn record(&self, r: Received) {
        let mut inner = self.lock();
        if r.is_accepted() {
            let pair = (
                r.ext_info1().unwrap_or_default(),
                r.body
                    .get("ExtInfo4")
                    .and_then(rule::as_text)
                    .unwrap_or_default(),
            );
            if !inner.accepted_pairs.insert(pair) {
                inner.duplicates += 1;
            }
        }
        if let Some(file) = inner.record.as_mut() {
            let mut line = serde_json::to_string(&r).unwrap_or_default();
            line.push('\n');
            if let Err(e) = file.write_all(line.as_bytes()).and_then(|_| file.flush()) {
                // The path only: the line holds personal data.
                tracing::warn!(
                    target: "fake_digis",
                    "cannot append to {}: {e}",
                    inner.record_path.as_deref().unwrap_or_else(|| "?".as_ref()).display()
                );
            }
        }
        inner.received.push(r);
        let n = inner.received.len();
        drop(inner);
        self.count.send_replace(n);
    }
}

/// A running fake. Dropping it stops the server too; [`FakeHandle::shutdown`] also waits.
pub struct FakeHandle {
    addr: SocketAddr,
    state: Arc<State>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

/// Starts the fake on `listen` (`"127.0.0.1:0"` picks a free port) and returns at once.
pub async fn start(listen: &str, cfg: FakeConfig) -> std::io::Result<FakeHandle> {
    for r in &cfg.rules {
        r.validate().map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("fault rule `{r}`: {e}"),
            )
        })?;
    }
    let (record, next_id) = match &cfg.record {
        Some(path) => {
            let last = last_recorded_id(path);
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| {
                    std::io::Error::new(e.kind(), format!("--record {}: {e}", path.display()))
                })?;
            (Some(f), last)
        }
        None => (None, 0),
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {listen}: {e}")))?;
    let addr = listener.local_addr()?;
    let state = Arc::new(State {
        token: cfg.token,
        inner: Mutex::new(Inner {
            received: Vec::new(),
            rules: make_rules(cfg.rules),
            accepted_pairs: HashSet::new(),
            duplicates: 0,
            next_id,
            record,
            record_path: cfg.record,
        }),
        count: watch::Sender::new(0),
    });
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(server::serve(listener, state.clone(), stop_rx));
    Ok(FakeHandle {
        addr,
        state,
        stop,
        task: Some(task),
    })
}

/// The highest `TE-` number in an existing record file, so a restarted fake keeps ids unique.
fn last_recorded_id(path: &std::path::Path) -> u64 {
    let Ok(text) = std::fs::read_to_string(path) else {
        return 0;
    };
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| {
            v.get("external_id")?
                .as_str()?
                .strip_prefix("TE-")?
                .parse::<u64>()
                .ok()
        })
        .max()
        .unwrap_or(0)
}

impl FakeHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://IP:PORT`, to use as `digisUrl`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request, in arrival order, faulted ones included.
    pub fn received(&self) -> Vec<Received> {
        self.state.lock().received.clone()
    }

    /// Only the requests answered 2xx with an external id.
    pub fn accepted(&self) -> Vec<Received> {
        self.state
            .lock()
            .received
            .iter()
            .filter(|r| r.is_accepted())
            .cloned()
            .collect()
    }

    /// Accepted requests whose (ExtInfo1, ExtInfo4) pair had been accepted before.
    pub fn duplicates(&self) -> usize {
        self.state.lock().duplicates
    }

    /// Replaces the fault rules (their `times` counts start again).
    pub fn set_rules(&self, rules: Vec<FaultRule>) {
        self.state.lock().rules = make_rules(rules);
    }

    /// Waits until at least `n` requests have been received; false on timeout.
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> bool {
        let mut rx = self.state.count.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|c| *c >= n))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Waits until `done` holds for the requests received so far (checked on every arrival);
    /// false on timeout. E.g. `fake.wait_until(t, |r| r.iter().filter(|r| r.is_accepted()).count() >= 5)`.
    pub async fn wait_until(&self, timeout: Duration, done: impl Fn(&[Received]) -> bool) -> bool {
        let mut rx = self.state.count.subscribe();
        let check = async {
            loop {
                if done(&self.state.lock().received) {
                    return true;
                }
                if rx.changed().await.is_err() {
                    return false;
                }
            }
        };
        tokio::time::timeout(timeout, check).await.unwrap_or(false)
    }

    /// Stops accepting, closes open connections and waits for the server task.
    pub async fn shutdown(mut self) {
        self.stop.send_replace(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for FakeHandle {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}
