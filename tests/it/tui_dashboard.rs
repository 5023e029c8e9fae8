//! The dashboard: screens snapshot-tested from a constructed state (fixed data, fixed time), and
//! actions driven through the same `update` + effect executor the binary uses, against real
//! databases.

use chrono::{Duration, Utc};
use digis_relay::config::Config;
use digis_relay::domain::{
    OutboxId, OutboxState, PausedBy, PersonId, RecordedOutcome, SubscriptionId,
};
use digis_relay::storage::{AttemptRow, Control, Counts, OutboxRow, RelayInfo};
use digis_relay::tui::app::{App, Throughput};
use digis_relay::tui::effects::{settle, Executor};
use digis_relay::tui::keymap::SECTIONS;
use digis_relay::tui::message::{Anchor, Detail, Effect, Msg, View};
use digis_relay::tui::screens::confirm::Confirm;
use digis_relay::tui::screens::detail::DetailPane;
use digis_relay::tui::screens::outbox::Filter;
use digis_relay::tui::screens::search::SearchResult;
use digis_relay::tui::update::update;
use digis_relay::tui::view;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::KeyCode;
use ratatui::Terminal;

use crate::both_databases;
use crate::common::{app_at_t0, dashboard_with, fresh_row, render, t0, typed, TestDb};

// --- fixtures -------------------------------------------------------------------------------

fn row(id: i64, sub: i64, person: i64, state: OutboxState) -> OutboxRow {
    let mut r = OutboxRow {
        created_at: t0() - Duration::minutes(90 - id),
        card_number: Some(format!("{}", 34_231_400 + person)),
        ..fresh_row(id, sub, person, state)
    };
    match state {
        OutboxState::Pending if id % 2 == 0 => {
            r.attempts = 2;
            r.next_attempt_at = t0() + Duration::seconds(95);
            r.last_http_status = Some(503);
            r.last_error = Some("Service Unavailable".into());
        }
        OutboxState::Sending => {
            r.attempts = 1;
            r.locked_by = Some("relay-a".into());
            r.locked_until = Some(t0() + Duration::seconds(40));
        }
        OutboxState::Sent => {
            r.attempts = 1;
            r.external_id = Some(format!("DG-{}", 9000 + id));
            r.sent_at = Some(t0() - Duration::minutes(5));
        }
        OutboxState::Failed => {
            r.attempts = 1;
            r.last_http_status = Some(400);
            r.last_error = Some("MobileNumber is not a valid mobile number".into());
        }
        OutboxState::Discarded => r.reason = Some("subscription is ENDED".into()),
        _ => {}
    }
    r
}

fn all_rows() -> Vec<OutboxRow> {
    use OutboxState::*;
    let states = [
        Pending, Failed, Sent, Sending, Sent, Discarded, Pending, Sent, Failed, Sent, Pending, Sent,
    ];
    states
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let id = 60 - i as i64;
            row(id, 860 + id % 7, 100 + id, *s)
        })
        .collect()
}

fn relay(id: &str, state: &str, detail: Option<&str>, age_s: i64) -> RelayInfo {
    RelayInfo {
        relay_id: id.into(),
        hostname: "gym-server".into(),
        pid: 4242,
        version: "0.1.0".into(),
        started_at: t0() - Duration::hours(3),
        heartbeat_at: t0() - Duration::seconds(age_s),
        state: state.into(),
        detail: detail.map(Into::into),
        request_share: None,
        heartbeat_ms: Some(5_000),
        request_rate: Some(9.5),
        // The database's clock 0.1 s behind this host's.
        clock_offset_ms: Some(-120),
    }
}

/// The header shows the rate Digis is sent at most: the live relays' rates summed (a dead
/// relay's last rate is not), or `no limit` when a live relay has none.
#[test]
fn the_header_shows_the_live_relays_request_rate() {
    let mut app = fixture(30);
    let with = |id, rate, age_s| RelayInfo {
        request_rate: rate,
        ..relay(id, "running", None, age_s)
    };
    app.relays = Some(vec![
        with("relay-a", Some(7.5), 2),
        with("relay-b", Some(5.0), 1),
        with("relay-dead", Some(40.0), 3_600),
    ]);
    let screen = render(&app, 120, 30);
    assert!(screen.contains("rate 12.5/s"), "{screen}");
    app.relays = Some(vec![
        with("relay-a", Some(7.5), 2),
        with("relay-b", None, 1),
    ]);
    let screen = render(&app, 120, 30);
    assert!(screen.contains("rate: no limit"), "{screen}");
    app.relays = Some(vec![with("relay-dead", Some(40.0), 3_600)]);
    let screen = render(&app, 120, 30);
    assert!(
        !screen.contains("rate 40") && !screen.contains("no limit"),
        "{screen}"
    );
}

/// A dashboard as it looks with a running relay and a mixed outbox.
fn fixture(height: u16) -> App {
    let mut app = app_at_t0(
        height,
        Counts {
            pending: 3,
            sending: 1,
            sent: 48_211,
            failed: 2,
            discarded: 1,
        },
    );
    app.relays = Some(vec![relay("relay-a", "running", None, 2)]);
    app.throughput = Throughput::from_buckets(&[
        0, 2, 5, 9, 14, 12, 7, 3, 0, 0, 4, 8, 15, 21, 18, 11, 6, 2, 1, 0, 5, 9,
    ]);
    show(&mut app, Filter::All);
    app
}

fn show(app: &mut App, filter: Filter) {
    app.filter = filter;
    let rows: Vec<OutboxRow> = all_rows()
        .into_iter()
        .filter(|r| filter.state().is_none_or(|s| s == r.state))
        .take(app.page_size as usize)
        .collect();
    app.page.rows = rows;
    app.page.anchor = Some(Anchor::Newest);
    app.page.has_older = filter == Filter::All;
    app.page.loaded = true;
    app.selected = 1.min(app.page.rows.len().saturating_sub(1));
}

/// The detail pane open on row 59, showing `detail`.
fn row_59_open(detail: Detail, scroll: u16) -> Option<DetailPane> {
    Some(DetailPane {
        id: OutboxId(59),
        data: Some(Ok(detail)),
        scroll,
    })
}

fn detail_fixture() -> Detail {
    let mut r = row(59, 863, 7, OutboxState::Failed);
    r.attempts = 2;
    Detail {
        row: r,
        events: vec![],
        attempts: vec![
            AttemptRow {
                outbox_id: OutboxId(59),
                attempt: 1,
                started_at: t0() - Duration::minutes(20),
                duration_ms: 30_004,
                relay_id: "relay-a".into(),
                http_status: None,
                outcome: RecordedOutcome::Applied(AttemptOutcome::Retry),
                error: Some("timed out after 30000 ms".into()),
            },
            AttemptRow {
                outbox_id: OutboxId(59),
                attempt: 2,
                started_at: t0() - Duration::minutes(10),
                duration_ms: 212,
                relay_id: "relay-a".into(),
                http_status: Some(400),
                outcome: RecordedOutcome::Applied(AttemptOutcome::Failed),
                error: Some("MobileNumber is not a valid mobile number".into()),
            },
        ],
        synced: None,
        payload: Ok([
            ("IsSendSMS", "true"),
            ("TemplateId", "311"),
            ("FirstName", "\"Anna\""),
            ("LastName", "\"Svensson\""),
            ("Address", "\"Storgatan 1\""),
            ("City", "\"Stockholm\""),
            ("DOB", "\"1990-05-17\""),
            ("Email", "\"anna@example.se\""),
            ("Gender", "\"Female\""),
            ("MobileCountryCode", "\"46\""),
            ("MobileNumber", "\"701234567\""),
            ("ExtInfo1", "863"),
            ("ExtInfo20", "\"34231407\""),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()),
        value_today: None,
    }
}

// --- snapshots ------------------------------------------------------------------------------

#[test]
fn snapshot_overview() {
    let app = fixture(30);
    insta::assert_snapshot!("overview_120x30", render(&app, 120, 30));
}

#[test]
fn snapshot_each_filter() {
    for f in Filter::CYCLE {
        let mut app = fixture(30);
        show(&mut app, f);
        insta::assert_snapshot!(format!("filter_{}", f.label()), render(&app, 100, 30));
    }
}

#[test]
fn snapshot_narrow_80x24() {
    let app = fixture(24);
    let screen = render(&app, 80, 24);
    assert!(screen.contains("1 Outbox"), "{screen}");
    insta::assert_snapshot!("overview_80x24", screen);
}

#[test]
fn snapshot_detail() {
    let mut app = fixture(40);
    app.detail = row_59_open(detail_fixture(), 0);
    insta::assert_snapshot!("detail_120x40", render(&app, 120, 40));
    insta::assert_snapshot!("detail_80x24", render(&app, 80, 24));
}

/// A search report as the search module returns it, with fixed times.
fn search_report() -> digis_relay::search::SearchReport {
    use digis_relay::search::*;
    let at = |m: i64| Some(t0() - Duration::minutes(m));
    SearchReport {
        term: SearchTerm::Card("34231451".parse().unwrap()),
        matched_by: "ext_info20",
        matched_persons: None,
        persons_truncated: false,
        searched_at: t0(),
        since: None,
        verdicts: vec![MemberVerdict {
            subscription_id: SubscriptionId(863),
            person_id: PersonId(7),
            matched_on: "ext_info20",
            card_number: Some("34231451".into()),
            subscription_status: Some("ACTIVE".into()),
            is_user: true,
            verdict: VerdictKind::Failed,
            summary: "Digis rejected it (HTTP 400): MobileNumber is not a valid mobile number"
                .into(),
            advice: Some("correct the mobile number in BRP, then retry row 59".into()),
            outbox_id: Some(OutboxId(59)),
            state: Some(OutboxState::Failed),
            attempts: Some(2),
            sent_at: None,
            external_id: None,
            next_attempt_at: None,
            last_error: Some("MobileNumber is not a valid mobile number".into()),
            last_http_status: Some(400),
            reason: None,
            timeline: vec![
                TimelineEvent {
                    at: at(30),
                    source: EventSource::Database,
                    event: Event::Queued {
                        outbox_id: OutboxId(59),
                        state: OutboxState::Failed,
                        resend: false,
                    },
                },
                TimelineEvent {
                    at: at(10),
                    source: EventSource::Database,
                    event: Event::Attempt {
                        outbox_id: OutboxId(59),
                        attempt: 2,
                        outcome: RecordedOutcome::Applied(AttemptOutcome::Failed),
                        http_status: Some(400),
                        error: Some("MobileNumber is not a valid mobile number".into()),
                        relay_id: "relay-a".into(),
                        duration_ms: 212,
                    },
                },
            ],
        }],
        not_found: None,
        did_you_mean: Vec::new(),
        other_log_lines: Vec::new(),
        use_digis: true,
        paused: false,
        pause_reason: None,
        relay_running: true,
        relays: vec![RelaySummary {
            relay_id: "relay-a".into(),
            hostname: "gym-server".into(),
            state: "running".into(),
            detail: None,
            heartbeat_at: t0() - Duration::seconds(2),
            alive: true,
        }],
        log_dir: "logs".into(),
        log_dir_exists: true,
        log_files_scanned: vec![ScannedFile {
            name: "scheduler_digis_sync.txt".into(),
            bytes: 20_480,
            matching_lines: 2,
            overlong_lines: 0,
            cut_short: None,
        }],
        log_files_skipped: Vec::new(),
        bytes_scanned: 20_480,
        warnings: Vec::new(),
    }
}

#[test]
fn snapshot_search_result() {
    let mut app = fixture(30);
    app.view = View::Search;
    app.search.input = "34231451".into();
    let text = digis_relay::search::render_text(&search_report());
    app.search.result = SearchResult::Done {
        term: "34231451".into(),
        lines: text.lines().map(str::to_string).collect(),
    };
    insta::assert_snapshot!("search_result_100x30", render(&app, 100, 30));
    insta::assert_snapshot!("search_result_80x24", render(&app, 80, 24));
}

#[test]
fn snapshot_search_view_empty() {
    let mut app = fixture(24);
    update(&mut app, Msg::char('/'));
    insta::assert_snapshot!("search_empty_80x24", render(&app, 80, 24));
}

#[test]
fn snapshot_help_lists_every_key() {
    let mut app = fixture(24);
    app.help = true;
    insta::assert_snapshot!("help_80x24", render(&app, 80, 24));
    // Tall enough for all of it: every key of the keymap is on screen.
    let mut app = fixture(120);
    app.help = true;
    let screen = render(&app, 80, 120);
    for section in SECTIONS {
        for (key, _) in section.entries() {
            assert!(
                screen.contains(&key.label()),
                "help lacks {key:?}:\n{screen}"
            );
        }
    }
}

/// The help overlay's text rows, read off a drawn screen.
fn help_rows(app: &App, w: u16, h: u16) -> Vec<String> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| view::draw(f, app)).unwrap();
    let buf = t.backend().buffer();
    let cell = |x: u16, y: u16| buf[(x, y)].symbol().to_string();
    let (left, top) = (0..h)
        .find_map(|y| {
            (0..w.saturating_sub(2))
                .find(|&x| cell(x, y) == "┌" && cell(x + 2, y) == "K")
                .map(|x| (x, y))
        })
        .expect("the help is shown");
    let right = (left + 1..w).find(|&x| cell(x, top) == "┐").unwrap();
    (top + 1..h)
        .take_while(|&y| cell(left, y) != "└")
        .map(|y| {
            (left + 1..right)
                .map(|x| cell(x, y))
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect()
}

/// The help is the keymap: each section's heading, then one row per binding naming exactly its
/// keys, and nothing else.
#[test]
fn help_lists_exactly_the_keymap() {
    let mut app = fixture(120);
    app.help = true;
    let rows = help_rows(&app, 80, 120);
    let mut rows = rows.iter();
    let mut next = || rows.next().cloned().unwrap_or_default();
    for section in SECTIONS {
        assert_eq!(next(), section.title);
        for binding in section.bindings {
            let row = next();
            let keys = row
                .strip_suffix(binding.help)
                .unwrap_or_else(|| panic!("{row:?} does not say {:?}", binding.help))
                .trim();
            let mut written: Vec<&str> = keys.split(" / ").flat_map(|g| g.split(' ')).collect();
            let mut bound: Vec<String> = binding.keys.iter().map(|(k, _)| k.label()).collect();
            written.sort_unstable();
            bound.sort_unstable();
            assert_eq!(written, bound, "{row:?}");
        }
        if let Some(typed) = section.typing {
            let row = next();
            assert!(
                row.trim_start().starts_with("other keys") && row.ends_with(typed),
                "{row:?}"
            );
        }
    }
    assert_eq!(next(), "", "the help lists more than the keymap");
}

#[test]
fn help_scrolls_to_its_last_line_and_no_further() {
    let mut app = fixture(24);
    update(&mut app, Msg::char('?'));
    assert!(app.help);
    let top = help_rows(&app, 80, 24);
    assert_eq!(top[0], SECTIONS[0].title);
    for _ in 0..100 {
        update(&mut app, Msg::char('j'));
    }
    let bottom = help_rows(&app, 80, 24);
    assert_eq!(bottom.len(), top.len());
    assert!(bottom.last().unwrap().ends_with("quit"), "{bottom:?}");
    // Clamped at the end: one step up shows a different first line at once.
    update(&mut app, Msg::char('k'));
    assert_ne!(help_rows(&app, 80, 24)[0], bottom[0]);
    update(&mut app, Msg::key(KeyCode::Esc));
    assert!(!app.help);
    // Opened again, it starts at the top.
    update(&mut app, Msg::char('?'));
    assert_eq!(help_rows(&app, 80, 24), top);
}

#[test]
fn snapshot_confirm_dialog() {
    let mut app = fixture(24);
    app.confirm = Some(Confirm {
        question: "Discard row 59 (ExtInfo1 863, person 7)? It will not be sent.".into(),
        action: Effect::Discard(OutboxId(59)),
    });
    insta::assert_snapshot!("confirm_80x24", render(&app, 80, 24));
}

#[test]
fn snapshot_relays_view() {
    let mut app = fixture(24);
    app.view = View::Relays;
    // Two live relays share a budget of 10 requests a second (5 each, 5 % spared); the
    // stopped one's last share is not shown.
    let shared = |mut r: RelayInfo| {
        r.request_share = Some(4.75);
        r
    };
    app.relays = Some(vec![
        shared(relay("relay-a", "running", None, 2)),
        shared(relay(
            "relay-b",
            "circuit_open",
            Some("Digis failing (5 x HTTP 503); retry at 12:01:00Z"),
            3,
        )),
        shared(relay("relay-old", "stopped", None, 86_400)),
    ]);
    insta::assert_snapshot!("relays_80x24", render(&app, 80, 24));
    insta::assert_snapshot!("relays_120x24", render(&app, 120, 24));
}

#[test]
fn header_tells_the_truth_about_delivery() {
    use digis_relay::tui::ui::theme::Level;
    let texts =
        |app: &App| -> Vec<String> { view::delivery(app).into_iter().map(|(_, t)| t).collect() };
    let mut app = fixture(24);
    assert_eq!(view::delivery(&app)[0].0, Level::Ok);

    app.control = Some(Control {
        paused: true,
        pause_reason: Some("Digis answered 401: check digisUrlPostfix".into()),
        paused_by: Some(PausedBy::read("relay-a")),
        paused_at: Some(t0() - Duration::seconds(300)),
        sync_requested_at: None,
        ..Control::default()
    });
    let t = texts(&app).join(" | ");
    assert!(t.contains("PAUSED: Digis answered 401"), "{t}");
    assert!(t.contains("by relay-a, 5m ago"), "{t}");

    app.control = Some(Control::default());
    app.relays = Some(vec![relay(
        "relay-a",
        "circuit_open",
        Some("retry at 12:01:00Z"),
        1,
    )]);
    assert!(texts(&app)[0].contains("CIRCUIT OPEN at relay-a: retry at 12:01:00Z"));

    // Heartbeat older than three intervals: the relay is gone.
    app.relays = Some(vec![relay("relay-a", "running", None, 16)]);
    assert!(
        texts(&app)[0].contains("NO RELAY SEEN for 16 s"),
        "{:?}",
        texts(&app)
    );
    app.relays = Some(Vec::new());
    assert!(texts(&app)[0].contains("NO RELAY has ever run"));

    app.relays = Some(vec![relay("relay-a", "running", None, 1)]);
    app.env.use_digis = false;
    assert_eq!(texts(&app)[0], "useDigis is off: nothing is sent");
    let screen = render(&app, 80, 24);
    assert!(screen.contains("useDigis is off"), "{screen}");
    assert!(screen.contains("token=***"), "{screen}");
}

#[test]
fn stray_keys_do_not_answer_a_question() {
    let mut app = fixture(24);
    assert!(update(&mut app, Msg::char('x')).is_empty());
    let asked = app.confirm.clone().expect("x asks first");
    assert_eq!(asked.action, Effect::Discard(app.page.rows[1].id));
    assert!(update(&mut app, Msg::char('j')).is_empty());
    assert!(app.confirm.is_some());
    assert!(update(&mut app, Msg::key(KeyCode::Esc)).is_empty());
    assert!(app.confirm.is_none());
    // A sent row cannot be discarded: said at once, no dialog.
    app.selected = 2;
    assert_eq!(app.page.rows[2].state, OutboxState::Sent);
    update(&mut app, Msg::char('x'));
    assert!(app.confirm.is_none());
    assert!(app
        .status
        .as_ref()
        .unwrap()
        .text
        .contains("only pending or failed"));
}

/// What an action does is testable without keys: `handle` takes the action itself.
#[test]
fn actions_change_the_state_without_keys() {
    use digis_relay::tui::message::Action;
    use digis_relay::tui::update::handle;
    let mut app = fixture(24);
    let row = app.page.rows[1].id;
    assert!(handle(&mut app, Action::Discard).is_empty());
    assert_eq!(app.confirm.as_ref().unwrap().action, Effect::Discard(row));
    assert_eq!(handle(&mut app, Action::Yes), vec![Effect::Discard(row)]);
    assert!(app.confirm.is_none());
    assert!(handle(&mut app, Action::No).is_empty(), "no question open");
    assert_eq!(app.status.as_ref().unwrap().text, "working…");

    // Movement means what the place makes of it: the selection, then the detail's scroll.
    handle(&mut app, Action::MoveDown);
    assert_eq!(app.selected, 2);
    let id = app.page.rows[2].id;
    assert_eq!(
        handle(&mut app, Action::OpenDetail),
        vec![Effect::LoadDetail(id)]
    );
    handle(&mut app, Action::PageDown);
    assert_eq!(app.detail.as_ref().unwrap().scroll, 10);
    assert_eq!(app.selected, 2);
    handle(&mut app, Action::CloseDetail);
    assert!(app.detail.is_none());

    // The search box holds 254 characters (the longest e-mail address); leaving the view
    // leaves the box.
    handle(&mut app, Action::Search);
    assert_eq!((app.view, app.search.editing), (View::Search, true));
    for _ in 0..300 {
        handle(&mut app, Action::Type('8'));
    }
    assert_eq!(app.search.input.len(), 254);
    handle(&mut app, Action::ClearInput);
    assert!(app.search.input.is_empty());
    handle(&mut app, Action::ShowView(View::Relays));
    assert_eq!((app.view, app.search.editing), (View::Relays, false));
    // A row action outside the Outbox, with no detail open, says where to go.
    assert!(handle(&mut app, Action::Retry).is_empty());
    assert!(app
        .status
        .as_ref()
        .unwrap()
        .text
        .contains("Outbox view first"));
}

#[test]
fn stale_page_answers_are_dropped() {
    let mut app = fixture(24);
    let first = update(&mut app, Msg::char('f'));
    let second = update(&mut app, Msg::char('f'));
    let seq = |e: &[Effect]| match e[0] {
        Effect::LoadPage { seq, .. } => seq,
        _ => panic!("expected a page load"),
    };
    assert!(seq(&first) < seq(&second));
    let before = app.page.rows.clone();
    update(
        &mut app,
        Msg::Page {
            seq: seq(&first),
            anchor: Anchor::Newest,
            select: digis_relay::tui::message::Select::First,
            result: Ok(digis_relay::tui::message::PageData {
                rows: Vec::new(),
                has_newer: false,
                has_older: false,
            }),
        },
    );
    assert_eq!(
        app.page.rows, before,
        "an old answer replaced a newer request"
    );
}

// --- actions against real databases ---------------------------------------------------------

both_databases!(
    search_view_runs_the_search_module,
    search_view_finds_a_member_by_phone_email_and_name,
    retry_key_puts_a_failed_row_back,
    discard_asks_and_discards,
    pause_asks_and_resume_does_not,
    retry_all_failed_and_sync,
    retrying_an_unconfirmed_row_asks_first,
    resend_queues_a_sent_member_again,
    detail_shows_payload_and_attempts,
    paging_walks_the_whole_outbox,
    filter_shows_only_that_state,
);

async fn dashboard(db: &TestDb, height: u16) -> (App, Executor) {
    dashboard_with(db, height, Config::default()).await
}

async fn state_of(db: &TestDb, id: OutboxId) -> OutboxState {
    db.storage().outbox_row(id).await.unwrap().unwrap().state
}

fn select(app: &mut App, id: OutboxId) {
    app.selected = app
        .page
        .rows
        .iter()
        .position(|r| r.id == id)
        .unwrap_or_else(|| panic!("row {id} is not on the page"));
}

async fn fail_all(db: &TestDb) {
    db.exec("UPDATE digis_outbox SET state = 'failed', attempts = 1, last_http_status = 400, last_error = 'MobileNumber is not a valid mobile number'")
        .await;
}

async fn retry_key_puts_a_failed_row_back(db: TestDb) {
    db.active_with(863, &[7, 8]).await;
    fail_all(&db).await;
    let (mut app, exec) = dashboard(&db, 24).await;
    let id = app.page.rows[0].id;
    assert_eq!(app.page.rows[0].state, OutboxState::Failed);
    settle(&mut app, &exec, Msg::char('r')).await;
    assert_eq!(state_of(&db, id).await, OutboxState::Pending);
    let status = app.status.clone().unwrap();
    assert!(
        status.text.contains(&format!("row {id} queued again")),
        "{status:?}"
    );
    // The screen follows without waiting for the tick.
    assert_eq!(app.page.rows[0].state, OutboxState::Pending);
    assert_eq!(app.counts.unwrap().pending, 1);
    // Retrying a row that is already waiting says so (it is due now) and changes nothing
    // harmful: still pending, nothing charged.
    app.status = None;
    settle(&mut app, &exec, Msg::char('r')).await;
    assert_eq!(state_of(&db, id).await, OutboxState::Pending);
    let status = app.status.clone().expect("a status line");
    assert_eq!(status.text, format!("row {id} queued again, due now"));
    assert_eq!(
        status.kind,
        digis_relay::tui::app::StatusKind::Ok,
        "{status:?}"
    );
    let row = db.storage().outbox_row(id).await.unwrap().unwrap();
    assert_eq!(
        row.attempts, 0,
        "a retry starts the count again, and charges nothing"
    );
}

/// A row whose answer was unconfirmed may have been sent: `r` and `R` ask first and say a second
/// SMS may follow; `n` changes nothing. A retry that did not ask (a stale screen) leaves it.
async fn retrying_an_unconfirmed_row_asks_first(db: TestDb) {
    db.active_with(863, &[7, 8]).await;
    fail_all(&db).await;
    let text = digis_relay::relay::decide::unconfirmed_text(200, "not JSON", "<html>down</html>");
    db.exec(&format!(
        "UPDATE digis_outbox SET last_http_status = 200, last_error = '{}', fail_rule = 'unconfirmed', fail_field = NULL WHERE id = (SELECT MAX(id) FROM digis_outbox)",
        text.replace('\'', "''")
    ))
    .await;
    let id = OutboxId(db.scalar("SELECT MAX(id) FROM digis_outbox").await);
    let (mut app, exec) = dashboard(&db, 24).await;

    settle(&mut app, &exec, Msg::char('R')).await;
    let confirm = app.confirm.clone().expect("retry-all asks");
    assert_eq!(confirm.action, Effect::RetryAllFailedWithUnconfirmed);
    assert!(
        confirm.question.contains("Queue 2 failed")
            && confirm.question.contains("1 of them")
            && confirm.question.contains("SECOND SMS"),
        "{}",
        confirm.question
    );
    settle(&mut app, &exec, Msg::char('n')).await;
    assert_eq!(db.storage().counts().await.unwrap().failed, 2);

    // A retry that did not ask leaves the row alone and says why.
    match exec.execute(Effect::Retry(id)).await {
        Msg::Acted { ok, text } => {
            assert!(
                !ok && text.contains("left alone") && text.contains("second SMS"),
                "{text}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(state_of(&db, id).await, OutboxState::Failed);

    select(&mut app, id);
    settle(&mut app, &exec, Msg::char('r')).await;
    let confirm = app
        .confirm
        .clone()
        .expect("retrying an unconfirmed row asks");
    assert_eq!(confirm.action, Effect::RetryUnconfirmed(id));
    assert!(
        confirm.question.contains(&format!("Retry row {id}"))
            && confirm.question.contains("SECOND SMS"),
        "{}",
        confirm.question
    );
    settle(&mut app, &exec, Msg::char('n')).await;
    assert_eq!(state_of(&db, id).await, OutboxState::Failed);
    settle(&mut app, &exec, Msg::char('r')).await;
    settle(&mut app, &exec, Msg::char('y')).await;
    assert_eq!(state_of(&db, id).await, OutboxState::Pending);
    assert!(
        app.status
            .as_ref()
            .unwrap()
            .text
            .contains(&format!("row {id} queued again")),
        "{:?}",
        app.status
    );
}

async fn discard_asks_and_discards(db: TestDb) {
    db.active_with(863, &[7, 8]).await;
    let (mut app, exec) = dashboard(&db, 24).await;
    let id = app.page.rows[1].id;
    select(&mut app, id);
    settle(&mut app, &exec, Msg::char('x')).await;
    assert!(app.confirm.is_some());
    settle(&mut app, &exec, Msg::char('n')).await;
    assert_eq!(
        state_of(&db, id).await,
        OutboxState::Pending,
        "n must not discard"
    );
    settle(&mut app, &exec, Msg::char('x')).await;
    settle(&mut app, &exec, Msg::char('y')).await;
    assert_eq!(state_of(&db, id).await, OutboxState::Discarded);
    let row = db.storage().outbox_row(id).await.unwrap().unwrap();
    assert!(row
        .reason
        .unwrap()
        .starts_with("discarded from the dashboard by "));
    assert!(app.status.unwrap().text.contains("discarded"));
    // The other row is untouched.
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM digis_outbox WHERE state = 'pending'")
            .await,
        1
    );
}

async fn pause_asks_and_resume_does_not(db: TestDb) {
    let (mut app, exec) = dashboard(&db, 24).await;
    settle(&mut app, &exec, Msg::char('p')).await;
    assert!(
        !db.storage().control().await.unwrap().paused,
        "p must ask first"
    );
    settle(&mut app, &exec, Msg::char('y')).await;
    let c = db.storage().control().await.unwrap();
    assert!(c.paused);
    assert_eq!(c.pause_reason.as_deref(), Some("paused from the dashboard"));
    assert!(c.paused_by.is_some());
    assert!(view::delivery(&app)[0].1.contains("PAUSED"));
    settle(&mut app, &exec, Msg::char('p')).await;
    assert!(app.confirm.is_none());
    assert!(!db.storage().control().await.unwrap().paused);
    assert!(!app.control.as_ref().unwrap().paused);
}

async fn retry_all_failed_and_sync(db: TestDb) {
    db.active_with(863, &[7, 8]).await;
    db.active_with(864, &[9]).await;
    fail_all(&db).await;
    let (mut app, exec) = dashboard(&db, 24).await;
    settle(&mut app, &exec, Msg::char('R')).await;
    assert_eq!(app.confirm.as_ref().unwrap().action, Effect::RetryAllFailed);
    assert!(app
        .confirm
        .as_ref()
        .unwrap()
        .question
        .contains("Queue 3 failed"));
    settle(&mut app, &exec, Msg::char('y')).await;
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM digis_outbox WHERE state = 'pending'")
            .await,
        3
    );
    assert!(app
        .status
        .as_ref()
        .unwrap()
        .text
        .contains("3 failed row(s) queued again"));

    db.exec("UPDATE digis_outbox SET next_attempt_at = '2099-01-01T00:00:00.000Z'")
        .await;
    settle(&mut app, &exec, Msg::char('s')).await;
    assert!(db
        .storage()
        .control()
        .await
        .unwrap()
        .sync_requested_at
        .is_some());
    assert!(app
        .status
        .as_ref()
        .unwrap()
        .text
        .contains("3 waiting row(s) made due"));
}

async fn resend_queues_a_sent_member_again(db: TestDb) {
    db.active_with(863, &[7]).await;
    db.exec("UPDATE digis_outbox SET state = 'sent', attempts = 1, external_id = 'DG-1'")
        .await;
    db.exec("INSERT INTO digis (subscription_id, person_id, external_id) VALUES (863, 7, 'DG-1')")
        .await;
    let (mut app, exec) = dashboard(&db, 24).await;
    settle(&mut app, &exec, Msg::char('e')).await;
    assert!(app
        .confirm
        .as_ref()
        .unwrap()
        .question
        .contains("second SMS"));
    settle(&mut app, &exec, Msg::char('y')).await;
    let rows = db
        .storage()
        .rows_for_subscription(SubscriptionId(863))
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[1].state, rows[1].resend),
        (OutboxState::Pending, true)
    );
    // The new row is on top of the refreshed page.
    assert_eq!(app.page.rows[0].id, rows[1].id);
}

async fn detail_shows_payload_and_attempts(db: TestDb) {
    db.active_with(863, &[7]).await;
    let (mut app, exec) = dashboard(&db, 24).await;
    settle(&mut app, &exec, Msg::key(KeyCode::Enter)).await;
    let pane = app.detail.as_ref().expect("Enter opens the detail");
    let d = match &pane.data {
        Some(Ok(d)) => d.clone(),
        other => panic!("detail not loaded: {other:?}"),
    };
    assert_eq!(d.row.subscription_id, SubscriptionId(863));
    let payload = d.payload.expect("payload builds");
    assert_eq!(payload[0], ("IsSendSMS".to_string(), "true".to_string()));
    assert!(payload.contains(&("FirstName".to_string(), "\"Förnamn7\"".to_string())));
    assert!(payload.contains(&("ExtInfo1".to_string(), "863".to_string())));
    assert!(d.attempts.is_empty() && d.synced.is_none());
    let screen = render(&app, 100, 40);
    assert!(screen.contains("Förnamn7"), "{screen}");
    assert!(screen.contains("not in digis"), "{screen}");
    // Actions work from the detail, on its row.
    settle(&mut app, &exec, Msg::char('x')).await;
    settle(&mut app, &exec, Msg::char('y')).await;
    assert_eq!(state_of(&db, d.row.id).await, OutboxState::Discarded);
    assert!(matches!(
        &app.detail.as_ref().unwrap().data,
        Some(Ok(d)) if d.row.state == OutboxState::Discarded
    ));
    // Who discarded it is on record and on screen.
    match &app.detail.as_ref().unwrap().data {
        Some(Ok(d)) => assert_eq!(
            d.events
                .iter()
                .map(|e| e.action.to_string())
                .collect::<Vec<_>>(),
            ["discard"]
        ),
        other => panic!("detail not reloaded: {other:?}"),
    }
    let screen = render(&app, 100, 40);
    assert!(
        screen.contains("By hand") && screen.contains("discard by"),
        "{screen}"
    );
    settle(&mut app, &exec, Msg::key(KeyCode::Esc)).await;
    assert!(app.detail.is_none());
    // A member removed from the subscription: the detail says nothing would be sent.
    db.exec("DELETE FROM subscription_user WHERE person_id = 7")
        .await;
    settle(&mut app, &exec, Msg::key(KeyCode::Enter)).await;
    match &app.detail.as_ref().unwrap().data {
        Some(Ok(d)) => assert!(d.payload.as_ref().unwrap_err().contains("no longer a user")),
        other => panic!("{other:?}"),
    }
}

async fn paging_walks_the_whole_outbox(db: TestDb) {
    for sub in 1..=10 {
        db.active_with(sub, &[sub]).await;
    }
    let ids: Vec<i64> = {
        let rows = db
            .storage()
            .rows_for_subscription(SubscriptionId(1))
            .await
            .unwrap();
        let first = rows[0].id.0;
        (first..first + 10).rev().collect()
    };
    // Height 12: four rows per page.
    let (mut app, exec) = dashboard(&db, 12).await;
    assert_eq!(app.page_size, 4);
    let page = |app: &App| app.page.rows.iter().map(|r| r.id.0).collect::<Vec<_>>();
    let selected = |app: &App| app.selected_row().unwrap().id.0;
    assert_eq!(page(&app), ids[0..4]);
    assert!(app.page.has_older && !app.page.has_newer);
    // j past the bottom opens the next page at its top.
    for _ in 0..4 {
        settle(&mut app, &exec, Msg::char('j')).await;
    }
    assert_eq!(page(&app), ids[4..8]);
    assert_eq!(selected(&app), ids[4]);
    settle(&mut app, &exec, Msg::key(KeyCode::PageDown)).await;
    assert_eq!(page(&app), ids[8..10]);
    assert!(!app.page.has_older);
    // k past the top goes back up and selects the nearest row.
    settle(&mut app, &exec, Msg::char('k')).await;
    assert_eq!(page(&app), ids[4..8]);
    assert_eq!(selected(&app), ids[7]);
    settle(&mut app, &exec, Msg::key(KeyCode::PageUp)).await;
    assert_eq!(page(&app), ids[0..4]);
    settle(&mut app, &exec, Msg::char('G')).await;
    assert_eq!(page(&app), ids[6..10]);
    assert_eq!(selected(&app), ids[9]);
    settle(&mut app, &exec, Msg::char('g')).await;
    assert_eq!(selected(&app), ids[0]);
    // A resize changes the page size and reloads.
    settle(&mut app, &exec, Msg::Resize(80, 14)).await;
    assert_eq!(page(&app), ids[0..6]);
    // Refresh keeps the selected row even when new rows arrive above it.
    settle(&mut app, &exec, Msg::char('j')).await;
    let keep = selected(&app);
    db.active_with(11, &[11]).await;
    settle(&mut app, &exec, Msg::Tick(Utc::now())).await;
    assert_eq!(selected(&app), keep);
    assert_eq!(app.page.rows.len(), 6);
    // At the top, the selection follows the newest row.
    settle(&mut app, &exec, Msg::char('g')).await;
    db.active_with(12, &[12]).await;
    settle(&mut app, &exec, Msg::Tick(Utc::now())).await;
    assert_eq!(app.selected, 0);
    assert_eq!(
        app.selected_row().unwrap().subscription_id,
        SubscriptionId(12)
    );
}

async fn filter_shows_only_that_state(db: TestDb) {
    for sub in 1..=4 {
        db.active_with(sub, &[sub]).await;
    }
    db.exec("UPDATE digis_outbox SET state = 'failed' WHERE subscription_id IN (1, 3)")
        .await;
    let (mut app, exec) = dashboard(&db, 24).await;
    assert_eq!(app.page.rows.len(), 4);
    let mut seen = Vec::new();
    for _ in 0..Filter::CYCLE.len() {
        settle(&mut app, &exec, Msg::char('f')).await;
        let states: Vec<OutboxState> = app.page.rows.iter().map(|r| r.state).collect();
        seen.push((app.filter, states));
    }
    for state in [OutboxState::Failed, OutboxState::Pending] {
        let (_, shown) = seen
            .iter()
            .find(|(f, _)| *f == Filter::State(state))
            .unwrap();
        assert_eq!(shown, &vec![state; 2], "{state:?}");
    }
    assert_eq!(seen.last().unwrap().0, Filter::All);
    assert_eq!(seen.last().unwrap().1.len(), 4);
    // h goes back.
    settle(&mut app, &exec, Msg::char('h')).await;
    assert_eq!(app.filter, Filter::State(OutboxState::Discarded));
    assert!(render(&app, 80, 24).contains("no discarded rows"));
}

#[test]
fn search_input_takes_every_key_until_enter_or_esc() {
    let mut app = fixture(24);
    assert!(update(&mut app, Msg::char('/')).is_empty());
    assert_eq!(app.view, View::Search);
    for c in "8q".chars() {
        update(&mut app, Msg::char(c));
    }
    assert!(!app.should_quit, "q while typing is text, not quit");
    update(&mut app, Msg::key(KeyCode::Backspace));
    update(&mut app, Msg::char('6'));
    update(&mut app, Msg::char('3'));
    let effects = update(&mut app, Msg::key(KeyCode::Enter));
    assert_eq!(effects, vec![Effect::Search("863".into())]);
    assert!(matches!(&app.search.result, SearchResult::Running(t) if t == "863"));
    update(
        &mut app,
        Msg::Searched("863".into(), Ok(vec!["verdict: sent".into()])),
    );
    assert!(render(&app, 80, 24).contains("verdict: sent"));
    // Not editing any more: q quits.
    update(&mut app, Msg::char('q'));
    assert!(app.should_quit);
}

#[test]
fn no_color_means_no_color() {
    use ratatui::style::Color;
    let colors = |no_color: bool| -> usize {
        let mut app = fixture(24);
        app.env.no_color = no_color;
        let mut t = Terminal::new(TestBackend::new(80, 24)).unwrap();
        t.draw(|f| view::draw(f, &app)).unwrap();
        t.backend()
            .buffer()
            .content
            .iter()
            .filter(|c| c.fg != Color::Reset || c.bg != Color::Reset)
            .count()
    };
    assert_eq!(colors(true), 0, "NO_COLOR set, yet colours were drawn");
    assert!(
        colors(false) > 0,
        "without NO_COLOR the states are coloured"
    );
}

async fn search_view_runs_the_search_module(db: TestDb) {
    db.active_with(863, &[7]).await;
    fail_all(&db).await;
    let (mut app, exec) = dashboard(&db, 24).await;
    let card = "34000007"; // Person::ordinary(7)'s card
    for msg in typed(card) {
        settle(&mut app, &exec, msg).await;
    }
    let lines = match &app.search.result {
        SearchResult::Done { lines, .. } => lines.join("\n"),
        other => panic!("no result: {other:?}"),
    };
    assert!(lines.contains("FAILED"), "{lines}");
    assert!(lines.contains("subscription 863 person 7"), "{lines}");
    // Bare digits are tried as a subscription id too; that reading found nothing here.
    assert!(
        lines.contains("(nothing found as ExtInfo1:34000007)"),
        "{lines}"
    );
    let screen = render(&app, 100, 30);
    assert!(screen.contains("subscription 863 person 7"), "{screen}");

    // The subscription id finds the same member.
    for msg in typed("863") {
        settle(&mut app, &exec, msg).await;
    }
    match &app.search.result {
        SearchResult::Done { lines, .. } => {
            assert!(lines.join("\n").contains("person 7"), "{lines:?}")
        }
        other => panic!("{other:?}"),
    }
    // Neither an id, a card, a phone number, an address nor a name: said plainly, nothing
    // searched.
    for msg in typed("Anna 07!") {
        settle(&mut app, &exec, msg).await;
    }
    assert!(
        matches!(&app.search.result, SearchResult::Failed { error, .. } if error.contains("not a card number")),
        "{:?}",
        app.search.result
    );
}

/// Times and the test's own folder, which differ from run to run: their digits become `#`, so
/// the layout stays as drawn.
fn redact_run(screen: &str, db: &TestDb) -> String {
    let folder = db.dir.path().display().to_string();
    let screen = screen.replace(&folder, &"#".repeat(folder.chars().count()));
    let time = regex::Regex::new(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{3})?").unwrap();
    time.replace_all(&screen, |c: &regex::Captures<'_>| {
        c[0].chars()
            .map(|ch| if ch.is_ascii_digit() { '#' } else { ch })
            .collect::<String>()
    })
    .into_owned()
}

/// Person 7, whom the member searches look for by phone, e-mail address and name.
async fn add_asa_lindstrom(db: &TestDb) {
    db.person_with(&crate::common::Person {
        first_name: Some("Åsa".into()),
        last_name: Some("Lindström".into()),
        email: Some("Asa.Lindstrom@Example.se".into()),
        mobile_number: Some("070-123 45 67".into()),
        ..crate::common::Person::ordinary(7)
    })
    .await;
}

async fn search_view_finds_a_member_by_phone_email_and_name(db: TestDb) {
    use crate::common::Person;
    add_asa_lindstrom(&db).await;
    // A co-user of the subscription, and someone with the same first name.
    db.person_with(&Person {
        first_name: Some("Asa".into()),
        last_name: Some("Berg".into()),
        ..Person::ordinary(8)
    })
    .await;
    db.active_with(863, &[7, 8]).await;
    fail_all(&db).await;
    // Two hours ago, so the screen's "(2 h ago)" holds however slow the machine is.
    db.exec(match db.kind {
        crate::common::Kind::Sqlite => "UPDATE digis_outbox SET created_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-2 hours'), next_attempt_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-2 hours')",
        crate::common::Kind::Postgres => "UPDATE digis_outbox SET created_at = now() - interval '2 hours', next_attempt_at = now() - interval '2 hours'",
    })
    .await;
    let config = Config {
        log_dir: db.dir.path().join("logs"),
        ..Config::default()
    };
    let (mut app, exec) = dashboard_with(&db, 30, config).await;
    let result = |app: &App| match &app.search.result {
        SearchResult::Done { lines, .. } => lines.join("\n"),
        other => panic!("no result: {other:?}"),
    };
    for (input, found_by) in [
        ("070-123 45 67", "phone number"),
        ("+46701234567", "phone number"),
        ("0046 70 123 45 67", "phone number"),
        ("phone: 0701234567", "phone number"),
        ("ASA.LINDSTROM@example.se", "e-mail address"),
        ("lindstrom", "name"),
        ("LINDSTRÖM åsa", "name"),
        ("name: Åsa Lind", "name"),
    ] {
        for msg in typed(input) {
            settle(&mut app, &exec, msg).await;
        }
        let lines = result(&app);
        assert!(
            lines.contains(&format!("found by {found_by}: person 7\n")),
            "{input}: {lines}"
        );
        assert!(lines.contains("FAILED"), "{input}: {lines}");
        assert!(
            lines.contains("subscription 863 person 7"),
            "{input}: {lines}"
        );
        assert!(!lines.contains("person 8"), "{input}: {lines}");
        // The result shows ids and the key's kind, never the person's data.
        for personal in ["Lindstr", "Åsa", "Asa.", "123 45 67", "701234567"] {
            assert!(!lines.contains(personal), "{input}: {lines}");
        }
    }
    // Accents and case aside, "asa" is both of them.
    for msg in typed("asa") {
        settle(&mut app, &exec, msg).await;
    }
    assert!(
        result(&app).contains("found by name: persons 7, 8\n"),
        "{}",
        result(&app)
    );
    // Nobody has it: the sentence says how numbers are compared.
    for msg in typed("070-999 99 99") {
        settle(&mut app, &exec, msg).await;
    }
    let lines = result(&app);
    assert!(lines.contains("No match for this phone number"), "{lines}");
    assert!(lines.contains("read as SE"), "{lines}");

    // The same screen on both databases.
    for msg in typed("+46 70 123 45 67") {
        settle(&mut app, &exec, msg).await;
    }
    insta::assert_snapshot!(
        "search_member_by_phone_100x30",
        redact_run(&render(&app, 100, 30), &db)
    );
}

/// Everything the process logs at trace level while the dashboard searches by phone, e-mail and
/// name (on this thread's runtime: the search, and PostgreSQL's driver) holds neither what was
/// typed nor the member's data: the Log view shows that same stream.
fn dashboard_member_search_logs_nothing_typed(kind: crate::common::Kind) {
    use crate::common::Captured;
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // The membership system's side (the test's own inserts) is set up before listening.
    let (db, mut app, exec) = rt.block_on(async {
        let db = TestDb::new(kind).await;
        add_asa_lindstrom(&db).await;
        db.active_with(863, &[7]).await;
        let (app, exec) = dashboard(&db, 30).await;
        (db, app, exec)
    });
    {
        let _listening = tracing::subscriber::set_default(subscriber);
        rt.block_on(async {
            for input in ["0701234567", "asa.lindstrom@EXAMPLE.se", "lindström"] {
                for msg in typed(input) {
                    settle(&mut app, &exec, msg).await;
                }
                assert!(
                    matches!(&app.search.result, SearchResult::Done { lines, .. } if lines.join("\n").contains("person 7")),
                    "{input}: {:?}",
                    app.search.result
                );
            }
        });
    }
    drop(db);
    let log = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    assert!(log.contains("member search"), "nothing was logged: {log}");
    for personal in [
        "Åsa",
        "Lindstr",
        "lindstr",
        "Asa.Lindstrom",
        "asa.lindstrom",
        "EXAMPLE",
        "Example",
        "0701234567",
        "701234567",
        "1234567",
        "123 45 67",
    ] {
        assert!(
            !log.contains(personal),
            "the log holds {personal:?}:\n{log}"
        );
    }
}

#[test]
fn dashboard_member_search_logs_nothing_typed_on_each_database() {
    on_each_database(dashboard_member_search_logs_nothing_typed);
}

/// `body` builds its own single-threaded runtime (its tracing subscriber sees only its own
/// thread): run on SQLite, then PostgreSQL, each on a thread named after the database, so that
/// a failure says which.
fn on_each_database(body: fn(crate::common::Kind)) {
    for kind in [crate::common::Kind::Sqlite, crate::common::Kind::Postgres] {
        let run = std::thread::Builder::new()
            .name(format!("{kind:?}"))
            .spawn(move || body(kind))
            .unwrap();
        if let Err(panic) = run.join() {
            std::panic::resume_unwind(panic);
        }
    }
}

#[test]
fn tiny_terminals_do_not_panic() {
    let mut app = fixture(24);
    app.detail = row_59_open(detail_fixture(), 3);
    for (w, h) in [(1, 1), (10, 3), (20, 6), (40, 10)] {
        for view in View::ALL {
            app.view = view;
            app.help = w > 10;
            let _ = render(&app, w, h);
        }
    }
}

/// Texts from outside (Digis's messages, an operator's pause reason, a relay's detail) may hold
/// terminal escapes or newlines; the dashboard shows them escaped, never raw.
#[test]
fn stored_texts_are_shown_escaped_on_every_screen() {
    const EVIL: &str = "bad\u{1b}[2J\u{1b}]0;pwned\u{7}\nsecond line";
    let mut app = fixture(40);
    let mut d = detail_fixture();
    d.row.last_error = Some(EVIL.into());
    d.row.reason = Some(EVIL.into());
    d.attempts[1].error = Some(EVIL.into());
    app.page.rows[1].last_error = Some(EVIL.into());
    app.relays = Some(vec![relay("relay-a", "paused", Some(EVIL), 2)]);
    let mut screens = vec![render(&app, 160, 40)];
    app.detail = row_59_open(d, 0);
    screens.push(render(&app, 160, 40));
    app.detail = None;
    app.view = View::Relays;
    screens.push(render(&app, 160, 40));
    for (i, screen) in screens.iter().enumerate() {
        assert!(
            !screen.chars().any(|c| c.is_control() && c != '\n'),
            "screen {i} holds a raw control character:\n{screen:?}"
        );
        assert!(
            screen.contains("bad\\u{1b}[2J"),
            "screen {i} shows the text escaped:\n{screen}"
        );
    }
}

// --- Failures and Stats views ---------------------------------------------------------------

both_databases!(
    failures_view_retries_a_whole_group,
    stats_view_reads_its_figures_off_the_tick
);

/// `5`, move to the gym's group, Enter shows its members, `r` counts and asks, `n` changes
/// nothing, `r` `y` puts the group back to pending: through the keys the binary uses.
async fn failures_view_retries_a_whole_group(db: TestDb) {
    use crate::common::{failing_gyms, mobile_group, NOT_MOBILE};
    failing_gyms(&db).await;
    let (mut app, exec) = dashboard(&db, 24).await;
    settle(&mut app, &exec, Msg::char('5')).await;
    assert_eq!(app.view, View::Failures);
    let groups = app.failures.groups.clone().expect("the groups are read");
    assert_eq!(groups.len(), 5);
    // One unit after another, in the order of their keys (unit, then cause).
    assert_eq!(groups[0].key.unit_id, Some(1));
    let screen = render(&app, 100, 30);
    assert!(screen.contains("Stamina Centrum"), "{screen}");
    assert!(
        screen.contains(&format!("MobileNumber: {NOT_MOBILE}")),
        "{screen}"
    );
    assert!(screen.contains("6 row(s) in 5 group(s)"), "{screen}");

    let target = mobile_group(1);
    let at = groups.iter().position(|g| g.key == target).unwrap();
    settle(&mut app, &exec, Msg::char('g')).await;
    for _ in 0..at {
        settle(&mut app, &exec, Msg::char('j')).await;
    }
    assert_eq!(app.failures.selected_group().unwrap().key, target);

    // Enter: the members, names included (on screen only).
    settle(&mut app, &exec, Msg::key(KeyCode::Enter)).await;
    let members = match &app.failures.members.as_ref().unwrap().data {
        Some(Ok(m)) => m.clone(),
        other => panic!("members not loaded: {other:?}"),
    };
    assert_eq!(
        members
            .iter()
            .map(|m| m.person_id.get())
            .collect::<Vec<_>>(),
        [2, 3]
    );
    let screen = render(&app, 100, 30);
    assert!(
        screen.contains("Förnamn2 Efternamn2") && screen.contains("34000003"),
        "{screen}"
    );

    // r counts first, then asks with the count; n changes nothing.
    settle(&mut app, &exec, Msg::char('r')).await;
    let question = app.confirm.as_ref().expect("r asks").question.clone();
    assert!(
        question.contains("2 row(s) go back to pending") && question.contains("Stamina Centrum"),
        "{question}"
    );
    assert_eq!(
        app.confirm.as_ref().unwrap().action,
        Effect::RetryFailureGroup(target.clone())
    );
    assert!(render(&app, 80, 24).contains("2 row(s) go back"));
    settle(&mut app, &exec, Msg::char('n')).await;
    let failed = "SELECT COUNT(*) FROM digis_outbox WHERE state = 'failed'";
    assert_eq!(db.scalar(failed).await, 6);

    settle(&mut app, &exec, Msg::char('r')).await;
    settle(&mut app, &exec, Msg::char('y')).await;
    assert_eq!(db.scalar(failed).await, 4);
    assert_eq!(
        db.scalar(
            "SELECT COUNT(*) FROM digis_outbox WHERE state = 'pending' AND person_id IN (2, 3)"
        )
        .await,
        2
    );
    let status = app.status.clone().unwrap();
    assert!(
        status.text.starts_with("2 row(s) back to pending"),
        "{status:?}"
    );
    // The view follows: the group is gone, its pane says so.
    let groups = app.failures.groups.as_ref().unwrap();
    assert!(groups.iter().all(|g| g.key != target), "{groups:?}");
    assert!(matches!(
        &app.failures.members.as_ref().unwrap().data,
        Some(Ok(m)) if m.is_empty()
    ));
    settle(&mut app, &exec, Msg::key(KeyCode::Esc)).await;
    assert!(app.failures.members.is_none());
    // A group whose members all have a row waiting: said, nothing asked.
    db.exec("INSERT INTO digis_outbox (subscription_id, person_id) VALUES (864, 4)")
        .await;
    let later = app.now + Duration::seconds(60);
    settle(&mut app, &exec, Msg::Tick(later)).await;
    let west = mobile_group(2);
    let at = app
        .failures
        .groups
        .as_ref()
        .unwrap()
        .iter()
        .position(|g| g.key == west)
        .unwrap();
    app.failures.selected = at;
    settle(&mut app, &exec, Msg::char('r')).await;
    assert!(app.confirm.is_none());
    assert!(
        app.status
            .as_ref()
            .unwrap()
            .text
            .contains("nothing to retry"),
        "{:?}",
        app.status
    );
}

/// What the dashboard logs for a group action names the unit only: a cause may quote Digis,
/// and Digis may quote a member.
#[test]
fn failure_group_effects_log_no_cause() {
    use digis_relay::domain::FailureCause;
    use digis_relay::storage::FailureGroupKey;
    let key = FailureGroupKey {
        unit_id: Some(2),
        cause: FailureCause {
            field: None,
            rule: "Digis 409: Anna Svensson is already registered".into(),
        },
    };
    let text = Effect::RetryFailureGroup(key.clone()).log_text().unwrap();
    assert_eq!(text, "dashboard action: retry failure group of unit 2");
    for quiet in [
        Effect::LoadFailures,
        Effect::LoadFailureMembers(key.clone()),
        Effect::DryRunFailureGroup(key),
        Effect::LoadStats,
        Effect::Search("Anna Svensson".into()),
    ] {
        let logged = quiet.log_text().unwrap_or_default();
        assert!(!logged.contains("Anna"), "{quiet:?} logs {logged}");
    }
    assert!(Effect::Retry(OutboxId(5))
        .log_text()
        .unwrap()
        .contains("Retry(OutboxId(5))"));
}

/// `6` reads the figures once; the tick reads them again only every 30 s, and not while a read
/// is in flight (a slow database does not pile up queries).
async fn stats_view_reads_its_figures_off_the_tick(db: TestDb) {
    db.active_with(863, &[7, 8]).await;
    let (mut app, exec) = dashboard(&db, 24).await;
    assert!(app.stats.is_none(), "hidden views are not read");
    settle(&mut app, &exec, Msg::char('6')).await;
    assert_eq!(app.view, View::Stats);
    let stats = app.stats.clone().expect("6 reads the figures");
    assert_eq!(stats.backlog.pending, 2);
    let screen = render(&app, 80, 24);
    assert!(
        screen.contains("Backlog  2 pending") && screen.contains("Last 30 days"),
        "{screen}"
    );
    let loads = |effects: &[Effect]| effects.iter().filter(|e| **e == Effect::LoadStats).count();
    let t = app.now;
    assert_eq!(
        loads(&update(&mut app, Msg::Tick(t + Duration::seconds(5)))),
        0
    );
    assert_eq!(
        loads(&update(&mut app, Msg::Tick(t + Duration::seconds(31)))),
        1
    );
    assert_eq!(
        loads(&update(&mut app, Msg::Tick(t + Duration::seconds(62)))),
        0,
        "the first read has not answered yet"
    );
    // Tab walks every view and comes back.
    let mut seen = vec![app.view];
    for _ in 0..View::ALL.len() {
        update(&mut app, Msg::key(KeyCode::Tab));
        seen.push(app.view);
    }
    assert_eq!(seen.first(), seen.last());
    assert!(seen.contains(&View::Failures) && seen.contains(&View::Outbox));
}

fn failure_groups_fixture() -> Vec<digis_relay::storage::FailureGroup> {
    use digis_relay::domain::FailureCause;
    use digis_relay::storage::{FailureGroup, FailureGroupKey};
    let group =
        |unit: Option<i64>, name: Option<&str>, field: Option<&str>, rule: &str, rows, days| {
            FailureGroup {
                key: FailureGroupKey {
                    unit_id: unit,
                    cause: FailureCause {
                        field: field.map(Into::into),
                        rule: rule.into(),
                    },
                },
                unit_name: name.map(Into::into),
                rows,
                oldest: t0() - Duration::days(days),
                newest: t0() - Duration::hours(2),
            }
        };
    vec![
        group(
            Some(1),
            Some("Stamina Centrum"),
            Some("MobileNumber"),
            "not a mobile number for region SE",
            112,
            3,
        ),
        group(Some(1), Some("Stamina Centrum"), None, "other", 4, 9),
        group(
            Some(2),
            Some("Stamina Väst"),
            None,
            "Digis 400: Invalid mobile #",
            7,
            1,
        ),
        group(
            Some(2),
            Some("Stamina Väst"),
            Some("ExtInfo20"),
            "card number contains a space",
            3,
            2,
        ),
        group(
            None,
            None,
            None,
            "gave up after retries (last: HTTP 503)",
            1,
            1,
        ),
    ]
}

#[test]
fn snapshot_failures_view() {
    use digis_relay::domain::FailureCause;
    use digis_relay::storage::FailedMember;
    use digis_relay::tui::screens::failures::MembersPane;
    let mut app = fixture(24);
    app.view = View::Failures;
    app.failures.groups = Some(failure_groups_fixture());
    insta::assert_snapshot!("failures_80x24", render(&app, 80, 24));
    let group = failure_groups_fixture().remove(0);
    let member = |id: i64, person: i64, name: &str| FailedMember {
        id: OutboxId(id),
        subscription_id: SubscriptionId(863),
        person_id: PersonId(person),
        card_number: Some(format!("{}", 34_231_400 + person)),
        name: Some(name.into()),
        unit_id: Some(1),
        unit_name: Some("Stamina Centrum".into()),
        cause: FailureCause {
            field: Some("MobileNumber".into()),
            rule: "not a mobile number for region SE".into(),
        },
        detail: "not a mobile number for region SE".into(),
        failed_at: t0() - Duration::hours(3),
        member_problem: None,
        value_today: None,
    };
    let mut gone = member(61, 12, "");
    gone.name = None;
    gone.card_number = None;
    gone.member_problem = Some("no longer a user of the subscription".into());
    app.failures.members = Some(MembersPane {
        group,
        data: Some(Ok(vec![
            member(59, 7, "Anna Svensson"),
            member(60, 9, "Bo Ek"),
            gone,
        ])),
        scroll: 0,
    });
    insta::assert_snapshot!("failure_members_80x24", render(&app, 80, 24));
    // The question a group retry asks, at 80x24.
    app.confirm = Some(Confirm {
        question: "Retry Stamina Centrum (unit 1) · MobileNumber: not a mobile number for region SE? 110 row(s) go back to pending, due now (110 of its 112 failed rows: the others belong to the same members or have a row waiting). Fix the data in the membership system first.".into(),
        action: Effect::LoadFailures,
    });
    let screen = render(&app, 80, 24);
    assert!(screen.contains("membership system first."), "{screen}");
    insta::assert_snapshot!("failure_group_confirm_80x24", screen);
}

// --- the detail beside the table on wide terminals --------------------------------------------

use digis_relay::tui::keys::Mode;

fn loaded(id: OutboxId) -> Detail {
    let mut d = detail_fixture();
    d.row.id = id;
    d
}

#[test]
fn snapshot_detail_beside_the_table_from_160_columns() {
    let mut app = fixture(40);
    app.detail = row_59_open(detail_fixture(), 0);
    // From 159 columns down, the detail is drawn over the table, as on any narrower terminal.
    for (columns, beside, snapshot) in [
        (180, true, "detail_beside_180x40"),
        (160, true, "detail_beside_160x40"),
        (159, false, "detail_over_159x40"),
    ] {
        update(&mut app, Msg::Resize(columns, 40));
        let screen = render(&app, columns, 40);
        assert!(
            screen.contains("last error / note") == beside && screen.contains("Row 59"),
            "{snapshot}:\n{screen}"
        );
        insta::assert_snapshot!(snapshot, screen);
    }
}

/// Enter opens the detail beside the table; the arrows keep moving the selection and the detail
/// follows, one read at a time however fast the keys come; Esc closes it.
#[test]
fn wide_detail_follows_the_selection() {
    let mut app = fixture(40);
    update(&mut app, Msg::Resize(180, 40));
    let ids: Vec<OutboxId> = app.page.rows.iter().map(|r| r.id).collect();
    assert_eq!(app.selected, 1);
    assert_eq!(
        update(&mut app, Msg::key(KeyCode::Enter)),
        vec![Effect::LoadDetail(ids[1])]
    );
    assert_eq!(app.context().mode, Mode::Beside);
    update(&mut app, Msg::Detail(ids[1], Ok(loaded(ids[1]))));
    assert!(matches!(app.detail.as_ref().unwrap().data, Some(Ok(_))));

    assert_eq!(
        update(&mut app, Msg::key(KeyCode::Down)),
        vec![Effect::LoadDetail(ids[2])]
    );
    assert_eq!(app.selected, 2, "the arrows move the table, not the detail");
    let pane = app.detail.as_ref().unwrap();
    assert_eq!((pane.id, pane.data.is_none()), (ids[2], true));
    // The read of row 2 is in flight: moving on asks for nothing yet ...
    assert!(update(&mut app, Msg::char('j')).is_empty());
    assert_eq!(app.detail.as_ref().unwrap().id, ids[3]);
    // ... and its answer, now stale, is dropped and asks for the row shown.
    assert_eq!(
        update(&mut app, Msg::Detail(ids[2], Ok(loaded(ids[2])))),
        vec![Effect::LoadDetail(ids[3])]
    );
    assert!(app.detail.as_ref().unwrap().data.is_none());
    update(&mut app, Msg::Detail(ids[3], Ok(loaded(ids[3]))));
    // Row actions apply to the selected row, which the detail shows.
    update(&mut app, Msg::char('x'));
    assert_eq!(app.confirm.take().unwrap().action, Effect::Discard(ids[3]));
    // J/K scroll the detail; the selection stays.
    update(&mut app, Msg::char('J'));
    update(&mut app, Msg::char('J'));
    update(&mut app, Msg::char('K'));
    assert_eq!(app.detail.as_ref().unwrap().scroll, 1);
    assert_eq!(app.selected, 3);
    // The filter keys work with the detail open.
    assert!(matches!(
        update(&mut app, Msg::char('f')).as_slice(),
        [Effect::LoadPage { .. }]
    ));
    update(&mut app, Msg::char('F'));
    update(&mut app, Msg::key(KeyCode::Esc));
    assert!(app.detail.is_none());
    assert_eq!(app.context().mode, Mode::Browse);
    assert_eq!(app.selected, 3, "closing keeps the selection");
}

/// A page arriving (paging at an edge, or the refresh) moves the selection; the detail beside
/// the table follows it there too.
#[test]
fn wide_detail_follows_a_new_page() {
    let mut app = fixture(40);
    update(&mut app, Msg::Resize(180, 40));
    update(&mut app, Msg::key(KeyCode::Enter));
    let id = app.page.rows[1].id;
    update(&mut app, Msg::Detail(id, Ok(loaded(id))));
    let effects = update(&mut app, Msg::key(KeyCode::End));
    let Some(Effect::LoadPage { seq, select, .. }) = effects.first().cloned() else {
        panic!("End loads the oldest page: {effects:?}");
    };
    let older = vec![
        row(3, 861, 103, OutboxState::Sent),
        row(2, 862, 102, OutboxState::Failed),
    ];
    let effects = update(
        &mut app,
        Msg::Page {
            seq,
            anchor: Anchor::Oldest,
            select,
            result: Ok(digis_relay::tui::message::PageData {
                rows: older,
                has_newer: true,
                has_older: false,
            }),
        },
    );
    assert_eq!(app.selected_row().unwrap().id, OutboxId(2));
    assert_eq!(app.detail.as_ref().unwrap().id, OutboxId(2));
    assert!(
        effects.contains(&Effect::LoadDetail(OutboxId(2))),
        "{effects:?}"
    );
}

/// Below 160 columns Enter opens the detail over the table and the arrows scroll it, as before;
/// resizing moves the same open detail between the two layouts.
#[test]
fn narrow_detail_replaces_the_table_and_resizing_moves_it() {
    let mut app = fixture(40);
    update(&mut app, Msg::Resize(120, 40));
    let id = app.page.rows[1].id;
    assert_eq!(
        update(&mut app, Msg::key(KeyCode::Enter)),
        vec![Effect::LoadDetail(id)]
    );
    assert_eq!(app.context().mode, Mode::Detail);
    update(&mut app, Msg::Detail(id, Ok(loaded(id))));
    update(&mut app, Msg::key(KeyCode::Down));
    assert_eq!((app.selected, app.detail.as_ref().unwrap().scroll), (1, 1));
    assert!(
        update(&mut app, Msg::char('J')).is_empty(),
        "J is not bound here"
    );

    // Wider: beside the table, on the same row, nothing to read again.
    assert!(update(&mut app, Msg::Resize(200, 40)).is_empty());
    assert_eq!(app.context().mode, Mode::Beside);
    assert!(render(&app, 200, 40).contains("last error / note"));
    update(&mut app, Msg::key(KeyCode::Up));
    assert_eq!(app.selected, 0);
    // Narrower again with the detail open: it covers the table and takes the arrows.
    update(&mut app, Msg::Resize(100, 40));
    assert_eq!(app.context().mode, Mode::Detail);
    update(&mut app, Msg::key(KeyCode::Down));
    assert_eq!(app.selected, 0);
    update(&mut app, Msg::key(KeyCode::Enter));
    assert!(app.detail.is_none(), "Enter closes it, as Esc does");
}

both_databases!(wide_detail_reads_the_selected_row);

/// Through the executor the binary uses: the detail beside the table shows each row the
/// selection reaches.
async fn wide_detail_reads_the_selected_row(db: TestDb) {
    db.active_with(863, &[7, 8, 9]).await;
    let (mut app, exec) = dashboard(&db, 40).await;
    settle(&mut app, &exec, Msg::Resize(180, 40)).await;
    settle(&mut app, &exec, Msg::key(KeyCode::Enter)).await;
    for step in 0..3 {
        let selected = app.selected_row().unwrap().clone();
        match &app.detail.as_ref().unwrap().data {
            Some(Ok(d)) => assert_eq!(d.row.id, selected.id, "step {step}"),
            other => panic!("step {step}: {other:?}"),
        }
        let screen = render(&app, 180, 40);
        assert!(
            screen.contains(&format!("Row {}", selected.id))
                && screen.contains(&format!("Förnamn{}", selected.person_id)),
            "step {step}:\n{screen}"
        );
        settle(&mut app, &exec, Msg::key(KeyCode::Down)).await;
    }
    assert_eq!(app.selected, 2);
}

// --- the Log view ---------------------------------------------------------------------------
//
// The live log is tui-logger's, and tui-logger keeps one buffer per process: the tests that fill
// it take turns ([`live_log`]) and feed it as the dashboard does, through its tracing layer.

use std::sync::{Mutex, MutexGuard, PoisonError};

use digis_relay::domain::AttemptOutcome;
use digis_relay::synclog::SyncLine;
use digis_relay::tui::logsink::{self, SinkLayer};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

static LIVE_LOG: Mutex<()> = Mutex::new(());

/// The live log to this test alone, empty.
fn live_log() -> MutexGuard<'static, ()> {
    let guard = LIVE_LOG.lock().unwrap_or_else(PoisonError::into_inner);
    logsink::drain();
    logsink::bound_buffers();
    guard
}

/// Runs `f` with the dashboard's layer (and its filter) taking this thread's events, then hands
/// them to the app as the dashboard's loop does.
fn logged<T>(app: &mut App, f: impl FnOnce() -> T) -> T {
    let layer = SinkLayer.with_filter(digis_relay::logging::filter());
    let out = tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), f);
    update(app, Msg::Log(logsink::drain()));
    out
}

/// Times come from tui-logger's clock: the snapshots show where they are, not what they are.
fn times_hidden(screen: &str) -> String {
    regex::Regex::new(r"\d\d:\d\d:\d\dZ")
        .unwrap()
        .replace_all(screen, "hh:mm:ssZ")
        .into_owned()
}

/// A timestamp with a date in it: the second timestamp the live log used to show.
fn dated(screen: &str) -> bool {
    regex::Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d")
        .unwrap()
        .is_match(screen)
}

fn failed_line() -> SyncLine<'static> {
    SyncLine {
        at: t0(),
        relay_id: "relay-b",
        subscription_id: 863,
        card_number: Some("34231451"),
        outbox_id: 23_456_789,
        person_id: 876_543,
        attempt: 8,
        outcome: AttemptOutcome::Failed,
        http_status: Some(400),
        external_id: None,
        ms: 107,
        given_back: None,
        error: Some("rejected by Digis (HTTP 400)"),
    }
}

/// Records as the relay logs them: deliveries, retries, give-ups, one failed sync-log line
/// and last a record holding terminal escapes.
fn log_records(n: usize) {
    for i in 0..n {
        match i % 7 {
            3 => {
                tracing::warn!(target: "digis_relay::relay", "row {i}: Digis answered 503, retrying")
            }
            5 => tracing::error!(target: "digis_relay::relay", "row {i}: gave up after 8 attempts"),
            _ => tracing::info!(target: "digis_relay::relay", "row {i} sent to relay-b"),
        }
    }
    digis_relay::synclog::log_live(&failed_line());
    tracing::warn!(target: "digis_relay::relay", "gave up\u{1b}[2J\nnext\u{202e}end");
}

/// The Log view's `f` box: `text` typed into it and kept with Enter.
fn filter_log(app: &mut App, text: &str) {
    update(app, Msg::char('f'));
    for c in text.chars() {
        update(app, Msg::char(c));
    }
    update(app, Msg::key(KeyCode::Enter));
}

fn log_fixture(n: usize) -> App {
    let mut app = fixture(24);
    update(&mut app, Msg::char('4'));
    assert_eq!(app.view, View::Log);
    logged(&mut app, || log_records(n));
    app
}

/// Issue 25 item 8: each record shows one time and wraps whole (a sync-log line's `outcome=`
/// comes after 150 characters); terminal escapes are shown escaped; paging; the level and text
/// filters.
#[test]
fn snapshot_log_wrapped_paged_and_filtered() {
    let _one = live_log();
    let mut app = log_fixture(60);
    let screen = render(&app, 80, 24);
    assert!(
        screen.contains("outcome=failed") && screen.contains("external_id=- ms=107"),
        "the whole line is on screen:\n{screen}"
    );
    assert!(!dated(&screen), "one timestamp per record:\n{screen}");
    // ratatui alone would drop the ESC silently and pass the bidi override.
    assert!(
        screen.contains(r"gave up\u{1b}[2J\nnext\u{202e}end"),
        "escaped:\n{screen}"
    );
    assert!(!screen
        .chars()
        .any(|c| (c.is_control() && c != '\n') || c == '\u{202e}'));
    insta::assert_snapshot!("log_80x24", times_hidden(&screen));
    let wide = render(&app, 120, 40);
    assert!(
        wide.contains("row 41 sent") && wide.contains("outcome=failed"),
        "{wide}"
    );
    assert!(!dated(&wide), "{wide}");
    insta::assert_snapshot!("log_120x40", times_hidden(&wide));

    // tui-logger pages by half a window (from what it drew last); End follows the newest again.
    assert_eq!(render(&app, 80, 24), screen);
    update(&mut app, Msg::key(KeyCode::PageUp));
    let paged = render(&app, 80, 24);
    assert!(
        paged.contains("row 41 sent") && !paged.contains("outcome=failed"),
        "{paged}"
    );
    update(&mut app, Msg::key(KeyCode::PageUp));
    let further = render(&app, 80, 24);
    assert!(
        further.contains("row 33: gave up") && !further.contains("row 49 sent"),
        "{further}"
    );
    update(&mut app, Msg::key(KeyCode::PageDown));
    assert_eq!(render(&app, 80, 24), paged, "back down");
    update(&mut app, Msg::key(KeyCode::End));
    assert_eq!(render(&app, 80, 24), screen);

    // Warnings and errors: the failed delivery is one of them, the deliveries are not.
    update(&mut app, Msg::char('l'));
    let warnings = render(&app, 80, 24);
    assert!(
        warnings.contains("outcome=failed")
            && warnings.contains("retrying")
            && !warnings.contains("sent to relay-b"),
        "{warnings}"
    );
    update(&mut app, Msg::char('l'));
    update(&mut app, Msg::char('l'));

    filter_log(&mut app, "GAVE UP");
    let filtered = render(&app, 80, 24);
    assert!(
        !filtered.contains("sent to relay-b")
            && filtered.contains(r"gave up\u{1b}[2J\nnext\u{202e}end"),
        "{filtered}"
    );
    assert!(!dated(&filtered), "{filtered}");
    insta::assert_snapshot!("log_filtered_80x24", times_hidden(&filtered));
}

/// The Log view's keys through `update`: the filtered list scrolls by lines and pages, End
/// resumes the tail, the filter box takes every key, the level filter, Esc clearing.
#[test]
fn log_keys_scroll_filter_and_follow() {
    let _one = live_log();
    let mut app = log_fixture(60);
    let rows = 24 - 7;
    let last_text = |app: &App| app.log.window(rows).last().unwrap().text.clone();
    // The list behind the `f` filter scrolls by lines; new lines do not move it.
    filter_log(&mut app, "row");
    assert_eq!(app.log.matching().len(), 60);
    assert!(app.log.following());
    update(&mut app, Msg::key(KeyCode::Up));
    assert_eq!(last_text(&app), "row 58 sent to relay-b");
    update(&mut app, Msg::key(KeyCode::Home));
    assert_eq!(app.log.window(rows)[0].text, "row 0 sent to relay-b");
    update(&mut app, Msg::key(KeyCode::PageDown));
    let top = "row 17: Digis answered 503, retrying";
    assert_eq!(app.log.window(rows)[0].text, top);
    logged(
        &mut app,
        || tracing::info!(target: "digis_relay::relay", "row 60 sent"),
    );
    assert_eq!(app.log.window(rows)[0].text, top);
    assert!(!app.log.following());
    update(&mut app, Msg::key(KeyCode::End));
    assert!(app.log.following());
    assert_eq!(last_text(&app), "row 60 sent", "the newest line");
    update(&mut app, Msg::key(KeyCode::Esc));
    assert!(app.log.filter.is_empty());

    // The filter box takes q and ? as text; Enter keeps the filter, Esc clears it.
    update(&mut app, Msg::char('f'));
    assert_eq!(app.context().mode, Mode::Input);
    for c in "q?".chars() {
        update(&mut app, Msg::char(c));
    }
    assert!(!app.should_quit && !app.help);
    assert_eq!(app.log.filter, "q?");
    assert!(app.log.matching().is_empty());
    assert!(render(&app, 80, 24).contains("no line matches"));
    update(&mut app, Msg::key(KeyCode::Backspace));
    update(&mut app, Msg::key(KeyCode::Backspace));
    for c in "503".chars() {
        update(&mut app, Msg::char(c));
    }
    update(&mut app, Msg::key(KeyCode::Enter));
    assert_eq!(app.context().mode, Mode::Browse);
    assert_eq!(app.log.filter, "503");
    assert_eq!(app.log.matching().len(), 9, "rows 3, 10, … 59");
    // Levels: warnings and errors, errors only, all again; the text filter still applies.
    update(&mut app, Msg::char('l'));
    assert_eq!(app.log.matching().len(), 9);
    update(&mut app, Msg::char('l'));
    assert!(app.log.matching().is_empty());
    update(&mut app, Msg::key(KeyCode::Esc));
    assert!(app.log.filter.is_empty());
    assert_eq!(app.log.matching().len(), 8, "errors only: rows 5, 12, … 54");
    update(&mut app, Msg::char('l'));
    assert_eq!(app.log.matching().len(), 63);
    // Esc in the box clears it too and leaves the box; Tab leaves the view and the box.
    update(&mut app, Msg::char('f'));
    update(&mut app, Msg::char('x'));
    update(&mut app, Msg::key(KeyCode::Esc));
    assert!(!app.log.editing && app.log.filter.is_empty());
    update(&mut app, Msg::char('f'));
    update(&mut app, Msg::key(KeyCode::Tab));
    assert_eq!((app.view, app.log.editing), (View::Failures, false));
}

/// What the operator types into the filter is shown escaped; control characters are not
/// even typed.
#[test]
fn log_filter_is_shown_clean() {
    let _one = live_log();
    let mut app = log_fixture(3);
    update(&mut app, Msg::char('f'));
    for c in "a\u{1b}[2J\u{202e}b".chars() {
        update(&mut app, Msg::char(c));
    }
    assert_eq!(app.log.filter, "a[2Jb");
    let screen = render(&app, 80, 24);
    assert!(screen.contains("[a[2Jb▏]"), "{screen}");
    assert!(!screen.chars().any(|c| c.is_control() && c != '\n'));
}

// --- the value that broke the rule (issue 25 item 6) -------------------------------------------

/// A row failed on its mobile number: the pane names the value the membership system holds now,
/// labelled as today's, under the last response.
#[test]
fn snapshot_detail_shows_the_value_today() {
    use digis_relay::domain::ValueToday;
    let mut d = detail_fixture();
    let error = "person 7 (subscription 863): MobileNumber: not a valid number for region SE";
    d.row.last_http_status = None;
    d.row.last_error = Some(error.into());
    d.row.attempts = 1;
    d.attempts.truncate(1);
    d.attempts[0].outcome = RecordedOutcome::Applied(AttemptOutcome::Failed);
    d.attempts[0].error = Some(error.into());
    d.payload = Err(error.into());
    d.value_today = Some(ValueToday {
        column: "mobile_number",
        value: Some("070-12".into()),
    });
    let mut app = fixture(24);
    app.detail = row_59_open(d, 0);
    let screen = render(&app, 80, 24);
    assert!(screen.contains("mobile_number today: 070-12"), "{screen}");
    insta::assert_snapshot!("detail_value_today_80x24", screen);
}

/// Issue 25 item 8, as it was seen: a real relay cycle (one row sent, one rejected by Digis)
/// logged through the dashboard's layer. The Log view showed each delivery with a second
/// timestamp, cut before `outcome=`, and the failed one at INFO, so the warnings filter did not
/// show it. No name, phone number, e-mail address or birth date reaches the live log.
#[test]
fn live_log_of_a_relay_cycle_on_each_database() {
    on_each_database(live_log_of_a_relay_cycle);
}

fn live_log_of_a_relay_cycle(kind: crate::common::Kind) {
    use crate::common::{all_rows, config_for, once, relay};

    let _one = live_log();
    let mut app = fixture(24);
    update(&mut app, Msg::char('4'));
    // One thread, so the layer (this thread's subscriber) sees every task's events.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let states = logged(&mut app, || {
        rt.block_on(async {
            let db = TestDb::new(kind).await;
            db.active_with(5, &[1, 2]).await;
            let server = crate::common::rejects_the_first_request().await;
            once(&relay(&db, config_for(&server.uri(), &db))).await;
            let mut states: Vec<OutboxState> =
                all_rows(&db).await.into_iter().map(|r| r.state).collect();
            states.sort_by_key(|s| s.as_str());
            states
        })
    });
    assert_eq!(states, [OutboxState::Failed, OutboxState::Sent]);

    // Both deliveries, each line whole and with one timestamp.
    let both_whole = |screen: &str, what: &str| {
        assert!(
            screen.contains("outcome=sent") && screen.contains("outcome=failed"),
            "{what}: each line whole:\n{screen}"
        );
        assert!(!dated(screen), "{what}: one timestamp per line:\n{screen}");
    };
    let mut screens = Vec::new();
    let all = render(&app, 120, 40);
    both_whole(&all, "all");
    screens.push(all);
    update(&mut app, Msg::char('l'));
    let warnings = render(&app, 80, 24);
    assert!(
        warnings.contains("outcome=failed") && !warnings.contains("outcome=sent"),
        "the warnings filter shows the failed delivery:\n{warnings}"
    );
    screens.push(warnings);
    update(&mut app, Msg::char('l'));
    update(&mut app, Msg::char('l'));
    filter_log(&mut app, "outbox=");
    let deliveries = render(&app, 80, 24);
    both_whole(&deliveries, "outbox= filter");
    screens.push(deliveries);

    let kept: Vec<String> = app.log.lines.iter().map(|l| l.text.clone()).collect();
    for personal in [
        "Förnamn",
        "Efternamn",
        "member1@",
        "member2@",
        "1990-05-17",
        "070-",
    ] {
        for text in screens.iter().chain(&kept) {
            assert!(
                !text.contains(personal),
                "{personal} on the live log:\n{text}"
            );
        }
    }
}
