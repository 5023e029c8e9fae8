//! How long does support wait for `search --phone/--email/--name` on a large membership table?
//! Prints the median of whole searches (`search::search`: persons, their subscriptions, the
//! verdicts; no log folder) against PERSONS persons (default 100,000).
//!
//! `cargo bench --bench member_search`. The SQLite database is built once (one INSERT ... SELECT
//! over a recursive CTE) and kept in target/ for the next run. `MEMBER_BENCH_PG=postgres://...`
//! (an empty database, dropped and refilled) runs the same against PostgreSQL.
//!
//! The data: half the names hold a non-ASCII letter (Åsa, Björn, Jörgen; Lindström, Åberg),
//! which every name search must fold in Rust; numbers are stored in three typed forms.
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::Utc;
use digis_relay::search::{self, MemberQuery, SearchOptions, SearchTerm};
use digis_relay::storage::{self, DynStorage};

fn main() {
    let persons: i64 = std::env::var("PERSONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let sqlite = sqlite_db(persons).await;
        bench("SQLite", &sqlite, persons).await;
        if let Ok(url) = std::env::var("MEMBER_BENCH_PG") {
            let pg = pg_db(&url, persons).await;
            bench("PostgreSQL", &pg, persons).await;
        }
    });
}

fn db_path(persons: i64) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join(format!("bench-member-search-{persons}.db"))
}

/// The typed forms: `070-XXX XX XX`, `+4670XXXXXXX`, `0046 70 XXXXXXX` for person i.
const FILL_SQLITE: &str = "
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {N}),
d(i, p) AS (SELECT i, substr('0000000' || i, -7) FROM n)
INSERT INTO person (id, unit_id, first_name, last_name, email, mobile_country_code,
                    mobile_number, card_number)
SELECT i, 1,
       CASE i % 6 WHEN 0 THEN 'Åsa' WHEN 1 THEN 'Anna' WHEN 2 THEN 'Björn'
                  WHEN 3 THEN 'Erik' WHEN 4 THEN 'Jörgen' ELSE 'Lars' END,
       CASE i % 4 WHEN 0 THEN 'Lindström' WHEN 1 THEN 'Svensson' WHEN 2 THEN 'Åberg'
                  ELSE 'Nilsson' END || i,
       'Member' || i || '@Example.se', '46',
       CASE i % 3 WHEN 0 THEN '070-' || substr(p, 1, 3) || ' ' || substr(p, 4, 2) || ' ' || substr(p, 6, 2)
                  WHEN 1 THEN '+4670' || p
                  ELSE '0046 70 ' || p END,
       '34' || p
FROM d";

const FILL_PG: &str = "
INSERT INTO person (id, unit_id, first_name, last_name, email, mobile_country_code,
                    mobile_number, card_number)
SELECT i, 1,
       CASE i % 6 WHEN 0 THEN 'Åsa' WHEN 1 THEN 'Anna' WHEN 2 THEN 'Björn'
                  WHEN 3 THEN 'Erik' WHEN 4 THEN 'Jörgen' ELSE 'Lars' END,
       CASE i % 4 WHEN 0 THEN 'Lindström' WHEN 1 THEN 'Svensson' WHEN 2 THEN 'Åberg'
                  ELSE 'Nilsson' END || i,
       'Member' || i || '@Example.se', '46',
       CASE i % 3 WHEN 0 THEN '070-' || substr(p, 1, 3) || ' ' || substr(p, 4, 2) || ' ' || substr(p, 6, 2)
                  WHEN 1 THEN '+4670' || p
                  ELSE '0046 70 ' || p END,
       '34' || p
FROM (SELECT i, lpad(i::text, 7, '0') AS p FROM generate_series(1, {N}) i) d";

/// Subscription 1..=100 for the first hundred persons, so found members have verdicts.
const SUBSCRIPTIONS: &str = "
INSERT INTO subscription (id, status, start_date) SELECT id, 'ACTIVE', '2026-01-01' FROM person WHERE id <= 100;
INSERT INTO subscription_user (subscription_id, person_id) SELECT id, id FROM person WHERE id <= 100;";

async fn fill(s: &DynStorage, template: &str, persons: i64) {
    let t = Instant::now();
    s.host_exec("INSERT INTO business_unit (id, name) VALUES (1, 'Stamina')")
        .await
        .expect("unit");
    s.host_exec(&template.replace("{N}", &persons.to_string()))
        .await
        .expect("persons");
    s.host_exec(SUBSCRIPTIONS).await.expect("subscriptions");
    println!(
        "built {persons} persons in {:.1} s",
        t.elapsed().as_secs_f64()
    );
}

async fn sqlite_db(persons: i64) -> DynStorage {
    let path = db_path(persons);
    let url = format!("sqlite://{}", path.display());
    let s = storage::connect(&url).await.expect("open");
    if s.migrate(true).await.is_ok() && complete(&s, persons).await {
        return s;
    }
    drop(s);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let s = storage::connect(&url).await.expect("create");
    s.migrate(true).await.expect("migrate");
    fill(&s, FILL_SQLITE, persons).await;
    s
}

async fn pg_db(url: &str, persons: i64) -> DynStorage {
    let s = storage::connect(url).await.expect("open PostgreSQL");
    s.host_exec("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        .await
        .expect("empty the bench database");
    s.migrate(true).await.expect("migrate");
    fill(&s, FILL_PG, persons).await;
    s.host_exec("ANALYZE").await.expect("analyze");
    s
}

/// Whether the database holds all `persons` (the last one is there).
async fn complete(s: &DynStorage, persons: i64) -> bool {
    let last = digis_relay::storage::PersonFilter::Email(format!("member{persons}@example.se"));
    s.persons_matching(&last, None, 10)
        .await
        .is_ok_and(|found| found.iter().any(|p| p.id.0 == persons))
}

async fn bench(db: &str, s: &DynStorage, persons: i64) {
    let logs = std::env::temp_dir().join("digis-relay-bench-no-logs");
    let member = |q: MemberQuery| SearchTerm::Member(q);
    let p = format!("{persons:07}");
    // Person ids whose last name is Svensson (i % 4 = 1) and Lindström (i % 4 = 0).
    let svensson = persons - (persons - 1) % 4;
    let lindstrom = persons - persons % 4;
    let cases: Vec<(String, SearchTerm, usize)> = vec![
        (
            format!("phone +4670{p} (person {persons})"),
            member(MemberQuery::Phone(
                search::PhoneQuery::parse(&format!("+4670{p}"), "SE").unwrap(),
            )),
            1,
        ),
        (
            format!("e-mail MEMBER{persons}@example.SE"),
            member(MemberQuery::Email(
                search::EmailQuery::parse(&format!("MEMBER{persons}@example.SE")).unwrap(),
            )),
            1,
        ),
        (
            format!("name svensson{svensson} (an ASCII name)"),
            member(MemberQuery::Name(
                search::NameQuery::parse(&format!("svensson{svensson}")).unwrap(),
            )),
            1,
        ),
        (
            format!("name lindstrom{lindstrom} (finds Lindström)"),
            member(MemberQuery::Name(
                search::NameQuery::parse(&format!("lindstrom{lindstrom}")).unwrap(),
            )),
            1,
        ),
        (
            "name anna (common: cut at 50)".into(),
            member(MemberQuery::Name(search::NameQuery::parse("anna").unwrap())),
            50,
        ),
    ];
    println!("\n{db}, {persons} persons, median of 5 whole searches:");
    println!("| search | median | persons found |");
    println!("|---|---|---|");
    for (label, term, want) in cases {
        let mut times = Vec::new();
        let mut found = 0;
        for _ in 0..5 {
            let opts = SearchOptions::new(true, Utc::now());
            let t = Instant::now();
            let r = search::search(s.as_ref(), &logs, &term, &opts)
                .await
                .expect("search");
            times.push(t.elapsed());
            found = r.matched_persons.map_or(0, |p| p.len());
        }
        assert_eq!(found, want, "{label}");
        times.sort();
        println!("| {label} | {} | {found} |", ms(times[times.len() / 2]));
    }
    if let SearchTerm::Member(q) = &search_term_for_candidates(persons) {
        let (n, t) = candidates(s, &q.filter()).await;
        println!(
            "(the SQL narrowing alone for the svensson search: {n} candidates in {})",
            ms(t)
        );
    }
}

fn search_term_for_candidates(persons: i64) -> SearchTerm {
    let svensson = persons - (persons - 1) % 4;
    SearchTerm::Member(MemberQuery::Name(
        search::NameQuery::parse(&format!("svensson{svensson}")).unwrap(),
    ))
}

/// The database's part alone: every candidate page of a filter, nothing compared.
async fn candidates(
    s: &DynStorage,
    filter: &digis_relay::storage::PersonFilter,
) -> (usize, Duration) {
    let t = Instant::now();
    let (mut after, mut n) = (None, 0);
    loop {
        let page = s
            .persons_matching(filter, after, 1_000)
            .await
            .expect("page");
        n += page.len();
        match page.last() {
            Some(p) if page.len() == 1_000 => after = Some(p.id),
            _ => return (n, t.elapsed()),
        }
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}
