//! The dashboard in a test: a fixed clock and environment for screens built by hand, a screen
//! drawn to text, and an [`App`] that has taken its first look at a real database.
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use digis_relay::config::Config;
use digis_relay::domain::{OutboxId, OutboxState, PersonId, SubscriptionId};
use digis_relay::storage::{Control, Counts, OutboxRow};
use digis_relay::tui::app::{App, Environment};
use digis_relay::tui::effects::{settle, Executor};
use digis_relay::tui::message::Msg;
use digis_relay::tui::view;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use super::TestDb;

/// The fixed "now" of screens built by hand, so that ages and snapshots never move.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap()
}

/// The environment the header shows in screens built by hand.
pub fn env() -> Environment {
    Environment {
        use_digis: true,
        endpoint: "https://api.iqey.org/v1/import/single/brp?token=***".into(),
        database: "sqlite://digis-relay.db".into(),
        heartbeat_ms: 5_000,
        backlog_max_age_ms: 900_000,
        max_clock_offset_ms: 5_000,
        relay_running_here: false,
        no_color: true,
    }
}

/// The screen as text, `w` by `h`.
pub fn render(app: &App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| view::draw(f, app)).unwrap();
    t.backend().to_string()
}

/// A dashboard `height` lines high over `db`, after its first tick has loaded the page, the
/// counts and the control row.
pub async fn dashboard_with(db: &TestDb, height: u16, config: Config) -> (App, Executor) {
    let config = Arc::new(config);
    let mut app = App::new(
        Environment::from_config(&config, false, true),
        Utc::now(),
        height,
    );
    let exec = Executor::new(db.storage(), config);
    settle(&mut app, &exec, Msg::Tick(Utc::now())).await;
    assert!(app.page.loaded && app.counts.is_some() && app.control.is_some());
    (app, exec)
}

/// A row made at [`t0`] and due then, never tried: each screen's fixture sets what its rows
/// show on top of it.
pub fn fresh_row(id: i64, sub: i64, person: i64, state: OutboxState) -> OutboxRow {
    OutboxRow {
        id: OutboxId(id),
        subscription_id: SubscriptionId(sub),
        person_id: PersonId(person),
        state,
        attempts: 0,
        next_attempt_at: t0(),
        locked_by: None,
        locked_until: None,
        last_error: None,
        last_http_status: None,
        external_id: None,
        created_at: t0(),
        sent_at: None,
        reason: None,
        resend: false,
        card_number: None,
        defect: None,
    }
}

/// A screen built by hand at [`t0`] with these counts and a control row that pauses nothing.
pub fn app_at_t0(height: u16, counts: Counts) -> App {
    let mut app = App::new(env(), t0(), height);
    app.counts = Some(counts);
    app.control = Some(Control::default());
    app
}

/// `/`, clear the box (Ctrl-U), type `text`, Enter.
pub fn typed(text: &str) -> Vec<Msg> {
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let mut msgs = vec![
        Msg::char('/'),
        Msg::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)),
    ];
    msgs.extend(text.chars().map(Msg::char));
    msgs.push(Msg::key(KeyCode::Enter));
    msgs
}

/// Collects what a tracing subscriber writes, for a test that reads the log back.
#[derive(Clone, Default)]
pub struct Captured(pub Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
