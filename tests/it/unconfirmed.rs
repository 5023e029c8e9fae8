//! "Only a real acceptance counts as sent" (docs/contracts.md, Digis HTTP), through the real binary
//! on both databases: a proxy or maintenance page answers 200 with HTML in Digis's place. No
//! request starts after the first such answer, the relay pauses itself with the reason (and
//! never probes or lifts that pause), the rows that got one fail with cause `unconfirmed` and the
//! page shown, and are never sent again by themselves; `retry` sends them again only when the
//! operator confirms (`--yes`), since Digis may already have sent the SMS.
use std::time::Duration;

use chrono::Utc;
use digis_relay::domain::{FailureCause, OutboxState, PausedBy, RelayState, UNCONFIRMED_PAUSE};

use crate::both_databases;
use crate::common::{
    all_rows, cli_db, eventually, fake, heartbeat_after, relay_config, wait_heartbeat,
    RunningService, TestDb, BIN,
};

const MEMBERS: i64 = 12;
const CONCURRENCY: usize = 4;
const PROBE_MS: i64 = 300;
/// Long enough that every row of the first `concurrency` is on its way before the first
/// answer comes back, so several rows are in flight when the page answers.
const ANSWER_DELAY_MS: u64 = 3_000;

both_databases!(
    an_html_200_pauses_the_relay_and_fails_only_the_rows_in_flight,
    retry_on_a_terminal_asks_y_n_for_unconfirmed_rows,
);

async fn state_of(db: &TestDb, id: i64) -> OutboxState {
    all_rows(db)
        .await
        .into_iter()
        .find(|r| r.id.0 == id)
        .unwrap_or_else(|| panic!("row {id}"))
        .state
}

async fn an_html_200_pauses_the_relay_and_fails_only_the_rows_in_flight(db: TestDb) {
    for s in 1..=MEMBERS {
        db.active_with(s, &[s]).await;
    }
    let fake = fake(&[&format!("html,delay_ms={ANSWER_DELAY_MS}")]).await;
    let config = relay_config(
        &db,
        "unconfirmed",
        &fake.base_url(),
        &format!(
            "[relay]\nrelay_id = \"unconfirmed\"\nconcurrency = {CONCURRENCY}\nbatch_size = 20\n\
             config_error_probe_ms = {PROBE_MS}\npoll_interval_ms = 50\nheartbeat_ms = 100\n\
             max_requests_per_second = 0\n"
        ),
    );
    let svc = RunningService::start(&config);

    // Paused by the relay, with the reason, in the database and in its heartbeat.
    let detail = wait_heartbeat(&db, "unconfirmed", RelayState::Paused).await;
    assert!(
        detail
            .as_deref()
            .is_some_and(|d| d.starts_with(UNCONFIRMED_PAUSE) && d.contains("HTTP 200")),
        "{detail:?}"
    );
    let control = db.storage.control().await.unwrap();
    assert!(control.paused, "{control:?}");
    assert_eq!(control.paused_by, Some(PausedBy::relay("unconfirmed")));
    assert!(
        control
            .pause_reason
            .as_deref()
            .is_some_and(|r| r.starts_with(UNCONFIRMED_PAUSE) && r.contains("not JSON")),
        "{control:?}"
    );
    // Every request that went out got its page: those rows fail, the rest were never sent.
    eventually(
        "every row that got the page was failed",
        Duration::from_secs(60),
        || async {
            let failed = db.storage.counts().await.unwrap().failed;
            (failed > 0 && failed as usize == fake.received().len()).then_some(())
        },
    )
    .await;
    // The pause is never probed: the heartbeat goes on for many probe intervals, and no
    // request leaves.
    let after = Utc::now() + chrono::Duration::milliseconds(6 * PROBE_MS);
    heartbeat_after(&db, "unconfirmed", after).await;
    let (status, stderr) = svc.terminate();
    assert!(status.success(), "{stderr}");

    // The process is gone: what the fake received is final.
    let received = fake.received();
    assert_eq!(
        received.len(),
        CONCURRENCY,
        "only the rows already in flight at the first answer were sent: {:?}",
        received.iter().map(|r| r.at).collect::<Vec<_>>()
    );
    let first_answer = received.iter().map(|r| r.at).min().unwrap()
        + chrono::Duration::milliseconds(ANSWER_DELAY_MS as i64);
    assert!(
        received.iter().all(|r| r.at < first_answer),
        "a request started after the first answer"
    );
    let rows = all_rows(&db).await;
    let failed: Vec<_> = rows
        .iter()
        .filter(|r| r.state == OutboxState::Failed)
        .collect();
    assert_eq!(failed.len(), CONCURRENCY, "{rows:?}");
    for r in &failed {
        let e = r.last_error.as_deref().unwrap_or_default();
        assert!(e.starts_with("unconfirmed: "), "{e}");
        assert!(e.contains("We'll be back soon"), "the page is shown: {e}");
        assert_eq!(r.last_http_status, Some(200));
        assert_eq!(r.attempts, 1);
    }
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM digis_outbox WHERE state = 'failed' AND fail_rule = 'unconfirmed' AND fail_field IS NULL")
            .await,
        CONCURRENCY as i64
    );
    let rest: Vec<_> = rows
        .iter()
        .filter(|r| r.state != OutboxState::Failed)
        .collect();
    assert_eq!(rest.len(), MEMBERS as usize - CONCURRENCY);
    assert!(
        rest.iter()
            .all(|r| r.state == OutboxState::Pending && r.attempts == 0),
        "the others wait, uncharged: {rest:?}"
    );
    assert_eq!(db.storage.counts().await.unwrap().sent, 0);
    // Still paused after the relay stopped: only `resume` lifts it.
    assert!(db.storage.control().await.unwrap().paused);

    // `retry ID` without a terminal and without --yes: nothing retried, and it says why.
    let ids: Vec<i64> = failed.iter().map(|r| r.id.0).collect();
    let one = ids[0].to_string();
    let out = cli_db(&db, &["retry", &one]);
    assert_eq!(out.code, 2, "{} {}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains(&format!("row {one} left alone"))
            && out.stdout.contains("unconfirmed")
            && out.stdout.contains("second SMS")
            && out.stdout.contains("--yes"),
        "{}",
        out.stdout
    );
    assert_eq!(state_of(&db, ids[0]).await, OutboxState::Failed);
    // Nor with --all-failed.
    let out = cli_db(&db, &["retry", "--all-failed"]);
    let said = out.stdout_of_code(2);
    assert!(
        said.starts_with("0 failed row(s) queued again, due now; 4 left alone"),
        "{said}"
    );
    assert_eq!(
        db.storage.counts().await.unwrap().failed,
        CONCURRENCY as u64
    );

    // With the flag it retries: one by id, then the rest with --all-failed.
    let out = cli_db(&db, &["retry", "--yes", &one]);
    assert_eq!(out.code, 0, "{} {}", out.stdout, out.stderr);
    assert_eq!(
        out.stdout.trim(),
        format!("row {one} queued again, due now")
    );
    assert_eq!(state_of(&db, ids[0]).await, OutboxState::Pending);
    let out = cli_db(&db, &["retry", "--all-failed", "--include-unconfirmed"]);
    assert_eq!(out.code, 0, "{} {}", out.stdout, out.stderr);
    assert_eq!(
        out.stdout.trim(),
        format!("{} failed row(s) queued again, due now", CONCURRENCY - 1)
    );
    assert_eq!(db.storage.counts().await.unwrap().failed, 0);
}

/// `retry ID` on a terminal (`script` gives it a pseudo-terminal): it asks y/N for a row whose
/// answer was unconfirmed; `n` (or just Enter) leaves it and exits 2, `y` retries it.
async fn retry_on_a_terminal_asks_y_n_for_unconfirmed_rows(db: TestDb) {
    use digis_relay::storage::{AttemptRecord, Completion};
    db.active_with(5, &[1]).await;
    let s = db.storage();
    let now = Utc::now();
    let c = s
        .claim("r", 10, Duration::from_secs(60), now)
        .await
        .unwrap()
        .remove(0);
    let error = digis_relay::relay::decide::unconfirmed_text(200, "not JSON", "<html>down</html>");
    let attempt = AttemptRecord {
        started_at: now,
        duration_ms: 3,
        relay_id: "r".into(),
        http_status: Some(200),
        error: Some(error),
    };
    let failed = Completion::Failed {
        cause: FailureCause::unconfirmed(),
    };
    s.complete(&c, &failed, &attempt, now).await.unwrap();
    let id = c.row.id.0.to_string();
    let on_a_terminal = |answer: &str| {
        let command = format!(
            "{BIN} --database-url '{}' retry {id}; echo \"exit=$?\"",
            db.url
        );
        crate::common::on_terminal(db.dir.path(), &command, &[], answer)
    };
    let said = on_a_terminal("n\n");
    assert!(
        said.contains("confirmed nothing") && said.contains("[y/N]"),
        "{said}"
    );
    assert!(said.contains(&format!("row {id} left alone")), "{said}");
    assert!(said.contains("exit=2"), "{said}");
    assert_eq!(state_of(&db, c.row.id.0).await, OutboxState::Failed);
    let said = on_a_terminal("y\n");
    assert!(said.contains("[y/N]"), "{said}");
    assert!(said.contains(&format!("row {id} queued again")), "{said}");
    assert!(said.contains("exit=0"), "{said}");
    assert_eq!(state_of(&db, c.row.id.0).await, OutboxState::Pending);
}
