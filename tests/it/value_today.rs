//! The value that broke the rule (issue 25 item 6): the dashboard's detail pane and
//! `report failures --csv` show what the failing field holds in `digis_member` now, labelled
//! as today's value (`mobile_number today: 070-12`). Personal data: read live at display time,
//! never stored with the outbox row, never in a log. Both databases; the report through the
//! real binary.
use std::sync::Arc;

use chrono::Utc;
use digis_relay::config::Config;
use digis_relay::tui::app::{App, Environment};
use digis_relay::tui::effects::{settle, Executor};
use digis_relay::tui::message::Msg;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::KeyCode;
use ratatui::Terminal;

use crate::both_databases;
use crate::common::{fake, relay_config, with_config, Person, TestDb};

/// What the gym typed: too short to be any Swedish number.
const TYPED: &str = "070-12";

/// Person 7 of unit 1 with a broken mobile number, subscription 863, and person 8 fine.
async fn broken_number(db: &TestDb) {
    let mut p = Person::ordinary(7);
    p.mobile_number = Some(TYPED.into());
    db.person_with(&p).await;
    db.person(8).await;
    db.active_with(863, &[7, 8]).await;
}

fn bin(config: &std::path::Path, args: &[&str]) -> std::process::Output {
    with_config(config)
        .args(args)
        .env("DIGIS_RELAY_LOG", "trace")
        .output()
        .unwrap()
}

both_databases!(
    the_detail_pane_shows_the_failing_value_as_it_is_today,
    the_report_has_a_column_with_the_value_today_and_no_log_has_it,
);

async fn the_detail_pane_shows_the_failing_value_as_it_is_today(db: TestDb) {
    use crate::common::{config_for, once, relay};
    broken_number(&db).await;
    let fake = fake(&[]).await;
    once(&relay(&db, config_for(&fake.base_url(), &db))).await;
    let failed = db
        .scalar("SELECT id FROM digis_outbox WHERE person_id = 7 AND state = 'failed'")
        .await;

    let config = Arc::new(Config::default());
    let mut app = App::new(
        Environment::from_config(&config, false, true),
        Utc::now(),
        40,
    );
    let exec = Executor::new(db.storage(), config);
    settle(&mut app, &exec, Msg::Tick(Utc::now())).await;
    app.selected = app
        .page
        .rows
        .iter()
        .position(|r| r.id.0 == failed)
        .expect("the failed row is on the page");
    settle(&mut app, &exec, Msg::key(KeyCode::Enter)).await;
    let screen = render(&app);
    assert!(
        screen.contains(&format!("mobile_number today: {TYPED}")),
        "the value that broke the rule, labelled as today's:\n{screen}"
    );

    // Read live: the gym corrects the number and the pane says so, without a new attempt.
    db.exec("UPDATE person SET mobile_number = '070-987 65 43' WHERE id = 7")
        .await;
    settle(&mut app, &exec, Msg::key(KeyCode::Esc)).await;
    settle(&mut app, &exec, Msg::key(KeyCode::Enter)).await;
    let screen = render(&app);
    assert!(
        screen.contains("mobile_number today: 070-987 65 43"),
        "{screen}"
    );
    assert!(!screen.contains(TYPED), "{screen}");
}

fn render(app: &App) -> String {
    let mut t = Terminal::new(TestBackend::new(100, 40)).unwrap();
    t.draw(|f| digis_relay::tui::view::draw(f, app)).unwrap();
    t.backend().to_string()
}

async fn the_report_has_a_column_with_the_value_today_and_no_log_has_it(db: TestDb) {
    broken_number(&db).await;
    let fake = fake(&[]).await;
    let config = relay_config(&db, "relay", &fake.base_url(), "");
    let run = bin(&config, &["run", "--once"]);
    let mut written = vec![
        (
            "run stdout",
            String::from_utf8_lossy(&run.stdout).into_owned(),
        ),
        (
            "run stderr",
            String::from_utf8_lossy(&run.stderr).into_owned(),
        ),
    ];
    assert!(run.status.success(), "{written:?}");
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM digis_outbox WHERE state = 'failed'")
            .await,
        1
    );

    let csv = db.dir.path().join("failures.csv");
    let report = bin(
        &config,
        &["report", "failures", "--csv", csv.to_str().unwrap()],
    );
    written.push((
        "report stdout",
        String::from_utf8_lossy(&report.stdout).into_owned(),
    ));
    written.push((
        "report stderr",
        String::from_utf8_lossy(&report.stderr).into_owned(),
    ));
    assert!(report.status.success(), "{written:?}");
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(&csv)
        .unwrap();
    let rows: Vec<Vec<String>> = r
        .records()
        .map(|rec| rec.unwrap().iter().map(str::to_string).collect())
        .collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let column = rows[0]
        .iter()
        .position(|h| h == "value today")
        .unwrap_or_else(|| panic!("no `value today` column: {:?}", rows[0]));
    assert_eq!(rows[1][0], "7", "{rows:?}");
    assert_eq!(rows[1][column], format!("mobile_number today: {TYPED}"));

    // Only there: not in any log, not on any terminal, not stored with the row.
    let logs = db.dir.path().join("logs");
    let mut attempts_logged = false;
    for entry in std::fs::read_dir(&logs).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        attempts_logged |= text.contains("ExtInfo1:863");
        assert!(
            !text.contains(TYPED),
            "{} holds {TYPED}:\n{text}",
            path.display()
        );
    }
    assert!(attempts_logged, "the sync log has the attempts");
    for (name, text) in &written {
        assert!(!text.contains(TYPED), "{name} holds {TYPED}:\n{text}");
    }
    let stored = db
        .scalar(&format!(
            "SELECT COUNT(*) FROM digis_outbox WHERE last_error LIKE '%{TYPED}%' \
             OR reason LIKE '%{TYPED}%' OR fail_rule LIKE '%{TYPED}%' OR fail_field LIKE '%{TYPED}%'"
        ))
        .await
        + db
            .scalar(&format!(
                "SELECT COUNT(*) FROM digis_attempt WHERE error LIKE '%{TYPED}%'"
            ))
            .await;
    assert_eq!(stored, 0, "the value is never stored with the row");
}
