//! The snapshot as JSON, one serialiser for what `/healthz` and `status --json` say about
//! delivery. Both shapes are kept byte for byte (docs/export-and-monitoring.md: `/healthz`;
//! docs/contracts.md: JSON output, for `status --json` too): the facts and the judgement
//! are written here, once, and each surface adds only what is its own (`status` its counts and
//! figures).
use serde::Serialize;

use super::{Health, Kind, Rules, Snapshot};
use crate::domain::RelayState;
use crate::storage::Backend;

/// What both surfaces say about delivery, in this order: `use_digis`, `paused`,
/// `pause_reason`, the surface's own fields (`extra`), then `health` (the judgement).
#[derive(Debug, Serialize)]
pub struct DeliveryJson<'a, E> {
    pub use_digis: bool,
    /// `null` when the flag could not be read.
    pub paused: Option<bool>,
    pub pause_reason: Option<&'a str>,
    #[serde(flatten)]
    pub extra: E,
    pub health: &'a Health,
}

impl<'a, E: Serialize> DeliveryJson<'a, E> {
    pub fn new(snapshot: &'a Snapshot, rules: &Rules, health: &'a Health, extra: E) -> Self {
        let control = snapshot.control.as_ref().ok();
        DeliveryJson {
            use_digis: rules.use_digis,
            paused: control.map(|c| c.paused),
            pause_reason: control.and_then(|c| c.pause_reason.as_deref()),
            extra,
            health,
        }
    }
}

impl Health {
    /// `/healthz`'s top-level `status`, one word for probes that read no further, derived from
    /// this judgement like `status` (the field) beside it, with other words: it names an
    /// unreachable database, and says `ok` whenever `/healthz` answers 200, where `status`
    /// says `blocked` for something deliberate or self-healing in the way (an operator's
    /// pause, `useDigis` off, an open circuit). Both are kept: probes and the dashboard read
    /// them (docs/export-and-monitoring.md, `/healthz`).
    pub fn probe_status(&self) -> &'static str {
        if self.has(Kind::DatabaseUnreachable) {
            "database unreachable"
        } else if self.healthy {
            "ok"
        } else {
            "unhealthy"
        }
    }

    /// Why `/healthz` answers 503: the worst blocker that fails it.
    pub fn reason(&self) -> Option<&str> {
        self.blockers
            .iter()
            .find(|b| b.fails_healthz)
            .map(|b| b.message.as_str())
    }
}

/// `GET /healthz`'s body, the same whether it answers 200 or 503.
#[derive(Debug, Serialize)]
pub struct HealthzJson<'a> {
    status: &'static str,
    reason: Option<&'a str>,
    database: Database,
    #[serde(flatten)]
    delivery: DeliveryJson<'a, HealthzFacts<'a>>,
}

#[derive(Debug, Serialize)]
struct Database {
    reachable: bool,
    backend: &'static str,
}

/// What `/healthz` says between the pause and the judgement: parts of the judgement picked
/// out for probes that read one field, and the relays with their ages.
#[derive(Debug, Serialize)]
struct HealthzFacts<'a> {
    circuit_open: bool,
    degraded: bool,
    relays_alive: usize,
    relays: Vec<HealthzRelay<'a>>,
    oldest_pending_age_seconds: i64,
    export_enabled: bool,
}

#[derive(Debug, Serialize)]
struct HealthzRelay<'a> {
    relay_id: &'a str,
    hostname: &'a str,
    pid: i64,
    version: &'a str,
    state: &'a RelayState,
    detail: Option<&'a str>,
    heartbeat_age_seconds: i64,
    heartbeat_ms: Option<i64>,
    request_rate: Option<f64>,
    clock_offset_ms: Option<i64>,
    alive: bool,
}

impl<'a> HealthzJson<'a> {
    /// `health` is `snapshot` judged by `rules`; `export_enabled` is the listener's own word.
    pub fn new(
        snapshot: &'a Snapshot,
        rules: &Rules,
        health: &'a Health,
        export_enabled: bool,
    ) -> HealthzJson<'a> {
        let now = snapshot.now;
        let relays = snapshot
            .relays
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|r| HealthzRelay {
                relay_id: &r.relay_id,
                hostname: &r.hostname,
                pid: r.pid,
                version: &r.version,
                state: &r.state,
                detail: r.detail.as_deref(),
                heartbeat_age_seconds: (now - r.heartbeat_at).num_seconds().max(0),
                heartbeat_ms: r.heartbeat_ms,
                request_rate: r.request_rate,
                clock_offset_ms: r.clock_offset_ms,
                alive: super::is_live(r, now),
            })
            .collect();
        let facts = HealthzFacts {
            circuit_open: health.has(Kind::CircuitOpen),
            degraded: health.has(Kind::Degraded),
            relays_alive: health.live_relays.len(),
            relays,
            oldest_pending_age_seconds: health.oldest_pending_age_seconds,
            export_enabled,
        };
        HealthzJson {
            status: health.probe_status(),
            reason: health.reason(),
            database: Database {
                reachable: snapshot.database.is_ok(),
                backend: match snapshot.backend {
                    Backend::Sqlite => "sqlite",
                    Backend::Postgres => "postgres",
                },
            },
            delivery: DeliveryJson::new(snapshot, rules, health, facts),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration, Utc};

    use super::*;
    use crate::health::{Part, Unread};
    use crate::storage::{Control, RelayInfo};

    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    /// A part, or the database's absence.
    fn part<T>(read: bool, v: T) -> Part<T> {
        if read {
            Ok(v)
        } else {
            Err(Unread::Unreachable)
        }
    }

    fn snapshot(database: Part<()>) -> Snapshot {
        let now = at();
        let read = database.is_ok();
        let relay = RelayInfo {
            relay_id: "r1".into(),
            hostname: "h".into(),
            pid: 1,
            version: "t".into(),
            started_at: now - Duration::hours(1),
            heartbeat_at: now - Duration::seconds(2),
            state: "running".into(),
            detail: None,
            request_share: None,
            heartbeat_ms: Some(5_000),
            request_rate: Some(12.5),
            clock_offset_ms: Some(-3),
        };
        let control = Control {
            paused: true,
            pause_reason: Some("maintenance".into()),
            paused_by: Some(crate::domain::PausedBy::read("alice@h")),
            ..Control::default()
        };
        Snapshot {
            backend: Backend::Sqlite,
            database,
            now,
            db_offset_ms: part(read, 0),
            control: part(read, control),
            relays: part(read, vec![relay]),
            oldest_due_pending: part(read, Some(now - Duration::seconds(30))),
        }
    }

    /// `/healthz`'s body, byte for byte (docs/export-and-monitoring.md, `/healthz`): the two
    /// `status` words come from one judgement, `ok` for the probe where the assessment says `blocked`.
    #[test]
    fn healthz_is_written_from_the_snapshot_and_its_judgement() {
        let rules = Rules::new(true, 60_000, 5_000);
        let s = snapshot(Ok(()));
        let health = s.judge(&rules);
        let body = serde_json::to_string(&HealthzJson::new(&s, &rules, &health, true)).unwrap();
        assert_eq!(
            body,
            r#"{"status":"ok","reason":null,"database":{"reachable":true,"backend":"sqlite"},"use_digis":true,"paused":true,"pause_reason":"maintenance","circuit_open":false,"degraded":false,"relays_alive":1,"relays":[{"relay_id":"r1","hostname":"h","pid":1,"version":"t","state":"running","detail":null,"heartbeat_age_seconds":2,"heartbeat_ms":5000,"request_rate":12.5,"clock_offset_ms":-3,"alive":true}],"oldest_pending_age_seconds":30,"export_enabled":true,"health":{"status":"blocked","healthy":true,"live_relays":["r1"],"oldest_pending_age_seconds":30,"blockers":[{"kind":"paused","fails_healthz":false,"message":"PAUSED: maintenance","by":"alice@h"}]}}"#
        );

        let s = snapshot(Err(Unread::TimedOut(std::time::Duration::from_secs(5))));
        let health = s.judge(&rules);
        let body = serde_json::to_string(&HealthzJson::new(&s, &rules, &health, false)).unwrap();
        let unreachable = "the database is unreachable: nothing can be claimed or recorded";
        assert_eq!(
            body,
            format!(
                r#"{{"status":"database unreachable","reason":"{unreachable}","database":{{"reachable":false,"backend":"sqlite"}},"use_digis":true,"paused":null,"pause_reason":null,"circuit_open":false,"degraded":false,"relays_alive":0,"relays":[],"oldest_pending_age_seconds":0,"export_enabled":false,"health":{{"status":"unhealthy","healthy":false,"live_relays":[],"oldest_pending_age_seconds":0,"blockers":[{{"kind":"database_unreachable","fails_healthz":true,"message":"{unreachable}"}}]}}}}"#
            )
        );
    }

    /// `status --json` puts its own facts between the pause and the judgement.
    #[test]
    fn a_surface_adds_its_own_fields_between_the_pause_and_the_judgement() {
        #[derive(Serialize)]
        struct Own {
            counts: u8,
        }
        let rules = Rules::new(false, 0, 0);
        let s = snapshot(Ok(()));
        let health = s.judge(&rules);
        let v = serde_json::to_value(DeliveryJson::new(&s, &rules, &health, Own { counts: 7 }))
            .unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["use_digis", "paused", "pause_reason", "counts", "health"]
        );
        assert_eq!(v["use_digis"], false);
        assert_eq!(v["health"]["blockers"][0]["kind"], "use_digis_off");
    }
}
