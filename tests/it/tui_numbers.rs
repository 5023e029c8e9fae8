//! Issue 25 items 7 and 9 on the dashboard: numbers are never cut (ids, counts and cards shown
//! whole at 80 columns, free text cut with `…`), and the support-day defects of the views
//! (attempt numbers after a retry, the status line's age, the search advice's words, the
//! Failures groups' order, wide characters in the payload preview).

use chrono::{DateTime, Duration, Utc};
use digis_relay::config::Config;
use digis_relay::domain::{FailureCause, OutboxId, OutboxState, PersonId, SubscriptionId};
use digis_relay::storage::{
    AttemptRow, Counts, FailedMember, FailureGroup, FailureGroupKey, OutboxRow, RelayInfo,
};
use digis_relay::tui::app::App;
use digis_relay::tui::effects::{settle, Executor};
use digis_relay::tui::message::{Anchor, Detail, Msg, View};
use digis_relay::tui::screens::detail::DetailPane;
use digis_relay::tui::screens::failures::MembersPane;
use digis_relay::tui::screens::search::SearchResult;
use digis_relay::tui::update::update;
use digis_relay::tui::view;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::KeyCode;
use ratatui::Terminal;

use crate::both_databases;
use crate::common::{app_at_t0, dashboard_with, fresh_row, member_with_card, render, t0, TestDb};

fn relay() -> RelayInfo {
    RelayInfo {
        relay_id: "relay-a".into(),
        hostname: "gym-server".into(),
        pid: 4242,
        version: "0.1.0".into(),
        started_at: t0() - Duration::hours(3),
        heartbeat_at: t0() - Duration::seconds(2),
        state: "running".into(),
        detail: None,
        request_share: None,
        heartbeat_ms: Some(5_000),
        request_rate: Some(9.5),
        clock_offset_ms: Some(-120),
    }
}

/// A card of 20 characters (the longest the dashboard promises to show whole).
const CARD20: &str = "00000000012345678901";

/// Rows as a big installation has them: 8-digit outbox and person ids, 6-digit subscription
/// ids, 20-character cards, and the relay's own error texts, which start with the person and
/// subscription.
fn big_row(i: i64, state: OutboxState) -> OutboxRow {
    let id = 23_456_789 - i;
    let person = 87_654_321 - i;
    let sub = 863_001 + i;
    let mut r = OutboxRow {
        attempts: 1,
        created_at: t0() - Duration::minutes(30),
        card_number: Some(if i % 2 == 0 {
            CARD20.to_string()
        } else {
            format!("{}", 34_231_400 + i)
        }),
        ..fresh_row(id, sub, person, state)
    };
    if state == OutboxState::Failed {
        r.last_error = Some(format!(
            "person {person} (subscription {sub}): MobileNumber: {}",
            if i % 2 == 0 {
                "not a mobile number for region SE"
            } else {
                "not a valid number for region SE"
            }
        ));
    }
    if state == OutboxState::Sent {
        r.external_id = Some(format!("DG-{id}"));
        r.sent_at = Some(t0() - Duration::minutes(5));
    }
    r
}

fn big_app(height: u16) -> App {
    let mut app = app_at_t0(
        height,
        Counts {
            pending: 123_456,
            sending: 12,
            sent: 12_345_678,
            failed: 100_000,
            discarded: 654_321,
        },
    );
    app.relays = Some(vec![relay()]);
    use OutboxState::*;
    app.page.rows = [Failed, Failed, Sent, Failed, Pending, Discarded]
        .iter()
        .enumerate()
        .map(|(i, s)| big_row(i as i64, *s))
        .collect();
    app.page.rows[5].reason = Some("subscription is ENDED".into());
    app.page.anchor = Some(Anchor::Newest);
    app.page.loaded = true;
    app.selected = 1;
    app
}

/// `number` appears whole, or not at all: never a cut piece of it.
fn whole_or_absent(screen: &str, number: &str) {
    let piece = &number[..number.len() - 1];
    assert!(
        screen.contains(number) || !screen.contains(piece),
        "{number} is cut:\n{screen}"
    );
}

#[test]
fn outbox_shows_ids_cards_and_counts_whole_at_80_columns() {
    let app = big_app(24);
    let screen = render(&app, 80, 24);
    for r in &app.page.rows {
        assert!(screen.contains(&r.id.to_string()), "{}:\n{screen}", r.id);
        assert!(
            screen.contains(r.card_number.as_deref().unwrap()),
            "card {:?}:\n{screen}",
            r.card_number
        );
        whole_or_absent(&screen, &r.person_id.to_string());
        whole_or_absent(&screen, &r.subscription_id.to_string());
    }
    // The header's counts, six and eight digits, whole.
    for n in ["123,456", "12,345,678", "100,000", "654,321"] {
        assert!(screen.contains(n), "{n}:\n{screen}");
    }
    // The cause is readable: no repeated person and subscription, similar causes told apart.
    assert!(!screen.contains("(subscription "), "{screen}");
    assert!(screen.contains("not mobile"), "{screen}");
    assert!(screen.contains("invalid"), "{screen}");
    insta::assert_snapshot!("numbers_outbox_80x24", screen);
    insta::assert_snapshot!("numbers_outbox_120x24", render(&app, 120, 24));
}

fn group(unit: i64, name: &str, rule: &str, rows: u64) -> FailureGroup {
    FailureGroup {
        key: FailureGroupKey {
            unit_id: Some(unit),
            cause: FailureCause {
                field: Some("MobileNumber".into()),
                rule: rule.into(),
            },
        },
        unit_name: Some(name.into()),
        rows,
        oldest: t0() - Duration::hours(30),
        newest: t0() - Duration::minutes(3),
    }
}

#[test]
fn a_failure_group_of_100000_rows_reads_100000() {
    let mut app = big_app(24);
    app.view = View::Failures;
    app.failures.groups = Some(vec![
        group(
            1,
            "Stamina Centrum",
            "not a mobile number for region SE",
            100_000,
        ),
        group(
            1,
            "Stamina Centrum",
            "not a valid number for region SE",
            99_999,
        ),
        group(2, "Stamina Lund", "contains a letter", 7),
    ]);
    let screen = render(&app, 80, 24);
    // On the group's own row (the header counts 100,000 failed rows too).
    let row = |cause: &str| {
        screen
            .lines()
            .find(|l| l.contains("Stamina Centrum") && l.contains(cause))
            .unwrap_or_else(|| panic!("no {cause} row:\n{screen}"))
            .to_string()
    };
    assert!(row("mobile").contains(" 100,000 "), "{screen}");
    assert!(row("invalid").contains(" 99,999 "), "{screen}");
    assert!(screen.contains("200,006 row(s)"), "{screen}");
    insta::assert_snapshot!("numbers_failures_80x24", screen);
}

#[test]
fn a_failure_groups_members_show_ids_and_cards_whole() {
    let mut app = big_app(24);
    app.view = View::Failures;
    let g = group(
        1,
        "Stamina Centrum",
        "not a mobile number for region SE",
        100_000,
    );
    let members = (0..4)
        .map(|i| FailedMember {
            id: OutboxId(23_456_789 - i),
            subscription_id: SubscriptionId(863_001 + i),
            person_id: PersonId(876_543 + i),
            card_number: Some(if i == 0 {
                CARD20.into()
            } else {
                format!("{}", 34_231_400 + i)
            }),
            name: Some(format!("Annakarin Johansson-Lindqvist {i}")),
            unit_id: Some(1),
            unit_name: Some("Stamina Centrum".into()),
            cause: g.key.cause.clone(),
            detail: "not a mobile number for region SE".into(),
            failed_at: t0() - Duration::minutes(40 + i),
            member_problem: None,
            value_today: None,
        })
        .collect::<Vec<_>>();
    app.failures.groups = Some(vec![g.clone()]);
    app.failures.members = Some(MembersPane {
        group: g,
        data: Some(Ok(members.clone())),
        scroll: 0,
    });
    let screen = render(&app, 80, 24);
    for m in &members {
        assert!(screen.contains(&m.id.to_string()), "{}:\n{screen}", m.id);
        assert!(screen.contains(&m.person_id.to_string()), "{screen}");
        assert!(
            screen.contains(m.card_number.as_deref().unwrap()),
            "{screen}"
        );
    }
    assert!(screen.contains("100,000 failed"), "{screen}");
    // A name too long for its column ends with an ellipsis.
    assert!(screen.contains('…'), "{screen}");
    insta::assert_snapshot!("numbers_failure_members_80x24", screen);
}

#[test]
fn relays_show_ids_whole() {
    let mut app = big_app(24);
    app.view = View::Relays;
    let id = "gym-server-01-4194304-8f3a2c";
    app.relays = Some(vec![RelayInfo {
        relay_id: id.into(),
        pid: 4_194_304,
        detail: Some("Digis failing (5 x HTTP 503); retry at 12:01:00Z".into()),
        ..relay()
    }]);
    let screen = render(&app, 80, 24);
    assert!(screen.contains(id), "{screen}");
    assert!(screen.contains("4194304"), "{screen}");
    insta::assert_snapshot!("numbers_relays_80x24", screen);
}

/// The detail pane and the search view with the same big numbers (their text wraps: nothing is
/// cut, and the snapshots show it).
#[test]
fn detail_and_search_show_big_numbers_whole() {
    let mut app = big_app(24);
    let mut row = big_row(0, OutboxState::Failed);
    row.attempts = 2;
    app.detail = Some(DetailPane {
        id: row.id,
        data: Some(Ok(Detail {
            row,
            attempts: Vec::new(),
            events: Vec::new(),
            synced: None,
            payload: Err("MobileNumber: not a mobile number for region SE".into()),
            value_today: None,
        })),
        scroll: 0,
    });
    let screen = render(&app, 80, 24);
    for n in ["23456789", "87654321", "863001", CARD20] {
        assert!(screen.contains(n), "{n}:\n{screen}");
    }
    insta::assert_snapshot!("numbers_detail_80x24", screen);
    app.detail = None;
    app.view = View::Search;
    app.search.input = format!("ExtInfo20:{CARD20}");
    app.search.result = SearchResult::Done {
        term: app.search.input.clone(),
        lines: vec![
            format!("ExtInfo20:{CARD20}: 1 member"),
            format!("  FAILED subscription 863001, person 87654321, card {CARD20}"),
        ],
    };
    let screen = render(&app, 80, 24);
    assert!(
        screen.contains("87654321") && screen.contains(CARD20),
        "{screen}"
    );
    insta::assert_snapshot!("numbers_search_80x24", screen);
}

/// Item 9: the status line's message goes after a few seconds of being shown, driven by the
/// tick's time (no sleeping).
#[test]
fn the_status_line_forgets_an_old_message() {
    let mut app = big_app(24);
    update(
        &mut app,
        Msg::Acted {
            ok: true,
            text: "row 23456789 queued again".into(),
        },
    );
    assert!(render(&app, 80, 24).contains("queued again"));
    update(&mut app, Msg::Tick(t0() + Duration::seconds(2)));
    assert!(render(&app, 80, 24).contains("queued again"), "still fresh");
    update(&mut app, Msg::Tick(t0() + Duration::seconds(60)));
    let screen = render(&app, 80, 24);
    assert!(!screen.contains("queued again"), "{screen}");
    // The key hints are back.
    assert!(screen.contains("retry"), "{screen}");
}

/// Item 9: refreshing the Failures view keeps its groups in the same order when a group grows
/// past another (a relay failing rows while support reads the list).
#[test]
fn failures_groups_keep_their_order_on_refresh() {
    let mut app = big_app(24);
    app.view = View::Failures;
    let a = |n| group(1, "Stamina Centrum", "contains a letter", n);
    let b = |n| group(2, "Stamina Lund", "not a valid number for region SE", n);
    let c = |n| group(2, "Stamina Lund", "not a mobile number for region SE", n);
    let order = |app: &App| -> Vec<FailureGroupKey> {
        app.failures
            .groups
            .as_ref()
            .unwrap()
            .iter()
            .map(|g| g.key.clone())
            .collect()
    };
    update(&mut app, Msg::Failures(Ok(vec![a(5), b(4), c(3)])));
    let first = order(&app);
    update(&mut app, Msg::Failures(Ok(vec![b(9), a(5), c(10)])));
    assert_eq!(order(&app), first, "the groups moved on refresh");
}

/// Item 9: the payload preview aligns its second column when values hold wide characters.
#[test]
fn payload_preview_aligns_wide_characters() {
    let mut app = big_app(40);
    let pairs: Vec<(String, String)> = [
        ("IsSendSMS", "true"),
        ("TemplateId", "311"),
        ("FirstName", "\"李小龍\""),
        ("LastName", "\"東京都\""),
        ("Address", "\"Storgatan 1\""),
        ("City", "\"北京\""),
        ("DOB", "\"1990-05-17\""),
        ("Email", "\"anna@example.se\""),
        ("Gender", "\"Female\""),
        ("MobileCountryCode", "\"46\""),
        ("MobileNumber", "\"701234567\""),
        ("ExtInfo1", "863"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let right_keys: Vec<String> = pairs[6..].iter().map(|(k, _)| k.clone()).collect();
    app.detail = Some(DetailPane {
        id: OutboxId(59),
        data: Some(Ok(Detail {
            row: big_row(0, OutboxState::Pending),
            attempts: Vec::new(),
            events: Vec::new(),
            synced: None,
            payload: Ok(pairs),
            value_today: None,
        })),
        scroll: 0,
    });
    let (w, h) = (120u16, 40u16);
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| view::draw(f, &app)).unwrap();
    let buf = t.backend().buffer();
    // The screen column where each right-hand key starts.
    let mut columns = Vec::new();
    for y in 0..h {
        let cells: Vec<String> = (0..w).map(|x| buf[(x, y)].symbol().to_string()).collect();
        for key in &right_keys {
            let first = key.chars().next().unwrap().to_string();
            let found = (w / 3..w).find(|&x| {
                cells[usize::from(x)] == first
                    && (0..key.len()).all(|i| {
                        cells.get(usize::from(x) + i).map(String::as_str) == key.get(i..i + 1)
                    })
                    && cells[usize::from(x) - 1] == " "
            });
            if let Some(x) = found {
                columns.push((key.clone(), x));
            }
        }
    }
    assert_eq!(columns.len(), right_keys.len(), "{columns:?}");
    let x0 = columns[0].1;
    assert!(
        columns.iter().all(|(_, x)| *x == x0),
        "the second column moves: {columns:?}"
    );
}

// --- against real databases -----------------------------------------------------------------

both_databases!(
    a_retried_row_numbers_its_attempts_in_order,
    dashboard_search_advice_names_keys,
    dashboard_search_suggests_the_card_with_its_zeros,
);

const RELAY: &str = "relay-t";

async fn dashboard(db: &TestDb) -> (App, Executor) {
    let config = Config {
        log_dir: db.dir.path().join("logs"),
        ..Config::default()
    };
    dashboard_with(db, 24, config).await
}

/// One relay pass over the due rows: every claimed row fails as Digis rejecting it.
async fn fail_due_rows(db: &TestDb, now: DateTime<Utc>) -> Vec<OutboxId> {
    let error = "Digis rejected the member (HTTP 400): MobileNumber invalid";
    let cause = FailureCause::digis_rejection(400, "MobileNumber invalid");
    crate::common::fail_due_rows_as(db, RELAY, now, Some(400), error, cause).await
}

/// Item 9: after a retry the row's second attempt is `#2`, and the header counts the
/// attempts the list shows.
async fn a_retried_row_numbers_its_attempts_in_order(db: TestDb) {
    db.active_with(863, &[7]).await;
    let now = Utc::now();
    let ids = fail_due_rows(&db, now).await;
    assert_eq!(ids.len(), 1);
    let id = ids[0];
    digis_relay::operator::retry(
        db.storage().as_ref(),
        &digis_relay::operator::Actor::named("ann@desk"),
        &[id],
        now,
        digis_relay::storage::Unconfirmed::Skip,
    )
    .await
    .unwrap();
    assert_eq!(fail_due_rows(&db, now + Duration::seconds(1)).await, [id]);
    let attempts: Vec<i32> = db
        .storage()
        .attempts(id)
        .await
        .unwrap()
        .iter()
        .map(|a: &AttemptRow| a.attempt)
        .collect();
    assert_eq!(attempts, [1, 2], "attempt numbers after a retry");

    let (mut app, exec) = dashboard(&db).await;
    settle(&mut app, &exec, Msg::key(KeyCode::Enter)).await;
    let screen = render(&app, 100, 40);
    assert!(screen.contains("Attempts (2)"), "{screen}");
    assert!(screen.contains("attempts 2"), "{screen}");
    assert!(screen.contains("#1 ") && screen.contains("#2 "), "{screen}");
}

async fn search_lines(app: &mut App, exec: &Executor, typed: &str) -> String {
    settle(app, exec, Msg::char('/')).await;
    for c in typed.chars() {
        settle(app, exec, Msg::char(c)).await;
    }
    settle(app, exec, Msg::key(KeyCode::Enter)).await;
    match &app.search.result {
        SearchResult::Done { lines, .. } => lines.join("\n"),
        other => panic!("search did not finish: {other:?}"),
    }
}

/// Item 9: inside the dashboard the advice names the key to press, not a command to type.
async fn dashboard_search_advice_names_keys(db: TestDb) {
    db.active_with(863, &[7]).await;
    let id = fail_due_rows(&db, Utc::now()).await[0];
    let (mut app, exec) = dashboard(&db).await;
    let text = search_lines(&mut app, &exec, "ExtInfo1:863").await;
    assert!(text.contains("FAILED"), "{text}");
    assert!(!text.contains("digis-relay retry"), "{text}");
    assert!(text.contains(&format!("row {id}")), "{text}");
    assert!(text.contains("press r"), "{text}");
}

/// Item 7: a card typed without its leading zeros is not a match, but the dashboard's search
/// says which card was probably meant.
async fn dashboard_search_suggests_the_card_with_its_zeros(db: TestDb) {
    member_with_card(&db, 863, 7, "0034231452").await;
    let (mut app, exec) = dashboard(&db).await;
    let text = search_lines(&mut app, &exec, "ExtInfo20:34231452").await;
    assert!(text.contains("did you mean 0034231452?"), "{text}");
    assert!(
        !text.contains("FAILED") && !text.contains("WAITING"),
        "{text}"
    );
}
