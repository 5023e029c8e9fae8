//! Digis unreachable for a reason the configuration causes, or for one that passes (issue 25,
//! item 3; DESIGN §5): a certificate that fails verification and a plain-HTTP server on an
//! https URL pause the relay with the reason and put the row back without charging an attempt;
//! a reset during the handshake is retried like any connection error. On both databases,
//! against real local servers (a TLS server with a test CA's certificate, a plain one, one that
//! resets).
use std::sync::atomic::Ordering;

use chrono::Utc;
use digis_relay::domain::OutboxState;

use crate::both_databases;
use crate::common::{
    all_rows, config_for, once, plain_http, relay, resets_the_handshake, tls_digis, tls_file,
    TestDb, TOKEN,
};

both_databases!(
    a_certificate_that_fails_verification_pauses_the_relay,
    plain_http_on_an_https_url_pauses_the_relay,
    a_reset_during_the_handshake_is_retried,
);

async fn a_certificate_that_fails_verification_pauses_the_relay(db: TestDb) {
    db.active_with(5, &[1, 2]).await;
    let (addr, served) = tls_digis().await;
    let url = format!("https://localhost:{}", addr.port());
    let mut cfg = config_for(&url, &db);
    cfg.relay.concurrency = 1;
    once(&relay(&db, cfg.clone())).await;
    let control = db.storage.control().await.unwrap();
    assert!(control.paused, "{control:?}");
    let reason = control.pause_reason.unwrap_or_default();
    assert!(
        reason.contains("certificate") && reason.contains("digis_ca_file"),
        "{reason}"
    );
    assert!(!reason.contains(TOKEN), "{reason}");
    assert!(control.paused_by.is_some_and(|b| b.is_relay()));
    let rows = all_rows(&db).await;
    assert!(
        rows.iter()
            .all(|r| r.state == OutboxState::Pending && r.attempts == 0),
        "back to pending, nothing charged: {rows:?}"
    );
    assert_eq!(served.load(Ordering::SeqCst), 0, "no request got through");

    // The same server trusted through digis_ca_file: the rows go.
    db.storage.resume("test", Utc::now()).await.unwrap();
    cfg.digis_ca_file = Some(tls_file("ca.pem"));
    once(&relay(&db, cfg)).await;
    let rows = all_rows(&db).await;
    assert!(
        rows.iter().all(|r| r.state == OutboxState::Sent),
        "{rows:?}"
    );
    assert_eq!(served.load(Ordering::SeqCst), 2);
}

async fn plain_http_on_an_https_url_pauses_the_relay(db: TestDb) {
    db.active_with(5, &[1]).await;
    let addr = plain_http().await;
    let mut cfg = config_for(&format!("https://127.0.0.1:{}", addr.port()), &db);
    cfg.relay.concurrency = 1;
    once(&relay(&db, cfg)).await;
    let control = db.storage.control().await.unwrap();
    assert!(control.paused, "{control:?}");
    let reason = control.pause_reason.unwrap_or_default();
    assert!(reason.contains("plain HTTP"), "{reason}");
    let rows = all_rows(&db).await;
    assert!(
        rows.iter()
            .all(|r| r.state == OutboxState::Pending && r.attempts == 0),
        "{rows:?}"
    );
}

async fn a_reset_during_the_handshake_is_retried(db: TestDb) {
    db.active_with(5, &[1]).await;
    let addr = resets_the_handshake().await;
    let mut cfg = config_for(&format!("https://127.0.0.1:{}", addr.port()), &db);
    cfg.relay.concurrency = 1;
    // One attempt per row: the backoff (1 ms here) would otherwise retry it within `once`.
    cfg.relay.backoff_base_ms = 600_000;
    cfg.relay.backoff_max_ms = 600_000;
    once(&relay(&db, cfg)).await;
    let control = db.storage.control().await.unwrap();
    assert!(
        !control.paused,
        "a reset is not the configuration's fault: {control:?}"
    );
    let rows = all_rows(&db).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].state, OutboxState::Pending, "{rows:?}");
    assert_eq!(rows[0].attempts, 1, "retried later, charged: {rows:?}");
    let error = rows[0].last_error.clone().unwrap_or_default();
    assert!(error.contains("reset"), "{error}");
}
