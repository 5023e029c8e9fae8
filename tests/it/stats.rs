//! The Stats figures (issue 13): attempts per hour and per day, save-to-sent delays and the
//! backlog, read from rows with known times on both databases; the Stats view snapshot from
//! those figures (the same screen from either database), and `status --json`'s `stats`.

use chrono::{DateTime, Duration, TimeZone, Utc};
use digis_relay::config::Config;
use digis_relay::stats::{self, DAYS, HOURS};
use digis_relay::tui::app::{App, Environment};
use digis_relay::tui::message::View;

use crate::both_databases;
use crate::common::{render, TestDb};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, 12, 34, 56).unwrap()
}

/// A time as both databases take it in SQL (SQLite stores exactly this text).
fn at(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

async fn sent_row(db: &TestDb, person: i64, created: DateTime<Utc>, sent: DateTime<Utc>) {
    db.exec(&format!(
        "INSERT INTO digis_outbox (subscription_id, person_id, state, attempts, created_at, \
         next_attempt_at, sent_at, updated_at) VALUES (900, {person}, 'sent', 1, '{c}', '{c}', '{s}', '{s}')",
        c = at(created),
        s = at(sent)
    ))
    .await;
}

async fn pending_row(db: &TestDb, person: i64, due: DateTime<Utc>) {
    db.exec(&format!(
        "INSERT INTO digis_outbox (subscription_id, person_id, state, next_attempt_at) \
         VALUES (900, {person}, 'pending', '{}')",
        at(due)
    ))
    .await;
}

/// `n` attempts with `outcome` started at `when`, on the holder row.
async fn attempts(db: &TestDb, when: &str, outcome: &str, n: usize) {
    for i in 0..n {
        db.exec(&format!(
            "INSERT INTO digis_attempt (outbox_id, attempt, started_at, duration_ms, relay_id, outcome) \
             SELECT id, {}, '{when}', 120, 'relay-a', '{outcome}' FROM digis_outbox WHERE person_id = 1000",
            i + 1
        ))
        .await;
    }
}

/// Attempts and sent rows at known times around [`now`].
async fn history(db: &TestDb) {
    // The row the attempts belong to: sent long ago, outside every window.
    sent_row(
        db,
        1000,
        t("2026-01-01T00:00:00Z"),
        t("2026-01-01T00:00:01Z"),
    )
    .await;
    attempts(db, "2026-11-28T11:15:00.000Z", "sent", 3).await;
    attempts(db, "2026-11-28T11:15:00.000Z", "retry", 2).await;
    attempts(db, "2026-11-28T11:15:00.000Z", "failed", 1).await;
    attempts(db, "2026-11-28T11:15:00.000Z", "paused", 1).await;
    attempts(db, "2026-11-28T11:16:00.000Z", "stale_sent", 1).await;
    attempts(db, "2026-11-28T12:05:00.000Z", "sent", 1).await;
    attempts(db, "2026-11-27T13:00:00.000Z", "sent", 1).await;
    attempts(db, "2026-11-27T12:59:59.999Z", "sent", 1).await;
    attempts(db, "2026-10-30T00:00:00.000Z", "failed", 1).await;
    attempts(db, "2026-10-29T23:59:59.999Z", "sent", 5).await;
    // Delays: 2 s, 4 s, 8 s and 60 s today, half a second yesterday, one outside the 30 days.
    let ten = t("2026-11-28T10:00:00Z");
    for (person, secs) in [(1, 2), (2, 4), (3, 8), (4, 60)] {
        sent_row(db, person, ten, ten + Duration::seconds(secs)).await;
    }
    let nine = t("2026-11-27T09:00:00Z");
    sent_row(db, 5, nine, nine + Duration::milliseconds(500)).await;
    sent_row(db, 6, t("2026-10-29T10:00:00Z"), t("2026-10-29T23:00:00Z")).await;
    // The backlog: one row due for 4 minutes, one waiting for a retry in an hour.
    pending_row(db, 2001, now() - Duration::minutes(4)).await;
    pending_row(db, 2002, now() + Duration::hours(1)).await;
}

both_databases!(figures_from_known_times, status_json_has_the_stats);

async fn figures_from_known_times(db: TestDb) {
    history(&db).await;
    let s = stats::collect(&*db.storage(), now()).await.unwrap();
    assert_eq!((s.hourly.len(), s.daily.len()), (HOURS, DAYS));
    assert_eq!(s.hourly[0].start, t("2026-11-27T13:00:00Z"));
    let hour = |i: usize| {
        let b = s.hourly[i];
        (b.sent, b.failed, b.retried)
    };
    assert_eq!(hour(HOURS - 1), (1, 0, 0), "this hour");
    assert_eq!(
        hour(HOURS - 2),
        (3, 1, 2),
        "11:00, paused and stale left out"
    );
    assert_eq!(hour(0), (1, 0, 0), "the first hour of the window");
    assert_eq!(s.hourly.iter().map(|b| b.sent).sum::<u64>(), 5);
    let day = |i: usize| {
        let d = s.daily[i];
        (d.day.to_string(), d.sent, d.failed, d.retried)
    };
    assert_eq!(day(DAYS - 1), ("2026-11-28".into(), 4, 1, 2));
    assert_eq!(day(DAYS - 2), ("2026-11-27".into(), 2, 0, 0));
    assert_eq!(day(0), ("2026-10-30".into(), 0, 1, 0));
    assert_eq!(s.daily.iter().map(|d| d.sent).sum::<u64>(), 6);
    let today = s.daily[DAYS - 1].delay.unwrap();
    assert_eq!(
        (today.rows, today.p50_ms, today.p90_ms, today.p99_ms),
        (4, 4_000, 60_000, 60_000)
    );
    let yesterday = s.daily[DAYS - 2].delay.unwrap();
    assert_eq!((yesterday.rows, yesterday.p50_ms), (1, 500));
    assert!(s.daily[..DAYS - 2].iter().all(|d| d.delay.is_none()));
    assert_eq!(s.delay_sample_stride, 1);
    assert_eq!(s.backlog.pending, 2);
    assert_eq!(s.backlog.oldest_due_age_seconds, Some(240));

    // The delays are sampled evenly when more rows were sent than asked for.
    let sample = db
        .storage()
        .sent_delays(t("2026-11-28T00:00:00Z"), t("2026-11-29T00:00:00Z"), 2)
        .await
        .unwrap();
    assert_eq!((sample.sent, sample.stride), (4, 2));
    assert_eq!(sample.delays.len(), 2, "{sample:?}");

    // The same screen from either database.
    let config = Config {
        digis_url_postfix: "brp?token=APIKEY".into(),
        ..Config::default()
    };
    let mut app = App::new(Environment::from_config(&config, false, true), now(), 24);
    app.env.database = "sqlite://digis-relay.db".into();
    app.counts = Some(db.storage().counts().await.unwrap());
    app.control = Some(Default::default());
    app.relays = Some(Vec::new());
    app.view = View::Stats;
    app.stats = Some(s);
    app.stats_loaded_at = Some(now());
    insta::assert_snapshot!("stats_80x24", render(&app, 80, 24));
    insta::assert_snapshot!("stats_120x30", render(&app, 120, 30));
}

async fn status_json_has_the_stats(db: TestDb) {
    let real_now = Utc::now();
    sent_row(
        &db,
        1000,
        real_now - Duration::seconds(70),
        real_now - Duration::seconds(60),
    )
    .await;
    attempts(&db, &at(real_now - Duration::seconds(60)), "sent", 1).await;
    pending_row(&db, 2001, real_now - Duration::seconds(30)).await;
    let out = crate::common::command()
        .current_dir(db.dir.path())
        .args(["--database-url", &db.url, "status", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    // No relay runs here: unhealthy, so status exits 1 (DESIGN §8) and still prints it all.
    assert_eq!(out.status.code(), Some(1), "{v}");
    let s = &v["stats"];
    assert_eq!(s["hourly"].as_array().unwrap().len(), HOURS, "{s}");
    assert_eq!(s["daily"].as_array().unwrap().len(), DAYS, "{s}");
    let sum = |key: &str, what: &str| -> u64 {
        s[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b[what].as_u64().unwrap())
            .sum()
    };
    assert_eq!(sum("hourly", "sent"), 1, "{s}");
    assert_eq!(sum("daily", "sent"), 1, "{s}");
    assert_eq!(sum("hourly", "failed") + sum("hourly", "retried"), 0);
    let hour = &s["hourly"][0];
    assert!(
        hour["start"].is_string() && hour["retried"].is_u64(),
        "{hour}"
    );
    let delays: Vec<&serde_json::Value> = s["daily"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| !d["delay"].is_null())
        .collect();
    assert_eq!(delays.len(), 1, "{s}");
    assert_eq!(delays[0]["delay"]["rows"], 1);
    assert_eq!(delays[0]["delay"]["p50_ms"], 10_000);
    assert!(delays[0]["day"].as_str().unwrap().starts_with("20"));
    assert_eq!(s["delay_sample_stride"], 1);
    assert_eq!(s["backlog"]["pending"], 1);
    assert!(s["backlog"]["oldest_due_age_seconds"].as_i64().unwrap() >= 30);
    // The human status has one line of it.
    let out = crate::common::command()
        .current_dir(db.dir.path())
        .args(["--database-url", &db.url, "status"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("last 24 h  sent 1, failed 0, retried 0"),
        "{text}"
    );
    // (Unless the row was sent just before midnight UTC and "today" began since.)
    if (real_now - Duration::seconds(60)).date_naive() == Utc::now().date_naive() {
        assert!(text.contains("; save to sent today p50 10s"), "{text}");
    }
}
