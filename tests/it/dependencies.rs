//! Dependencies whose known defects this project has met. Each test reads the versions in
//! Cargo.lock, so a downgrade (or a lockfile regenerated with an older pin) fails here, naming
//! the defect, instead of as a rare hang.

/// The version of `name` that Cargo.lock pins (the first, if several).
fn locked(name: &str) -> Option<Vec<u64>> {
    let lock = include_str!("../../Cargo.lock");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == format!("name = \"{name}\"") {
            let version = lines
                .next()?
                .strip_prefix("version = \"")?
                .strip_suffix('"')?;
            return version.split('.').map(|p| p.parse().ok()).collect();
        }
    }
    None
}

/// sqlx-core before 0.9.1 made a returned connection acquirable before counting it idle, so a
/// concurrent acquire could take the idle count below zero: it wrapped to `usize::MAX` and the
/// pool's maintenance task (`for _ in 0..num_idle()`, never awaiting once the idle queue is
/// empty) spun a core for ever and kept the runtime from shutting down (sqlx issue 3645, fixed
/// by pull request 4289 in 0.9.1). Seen here on 2026-12-07: a fresh-clone `.ci/run` hung in
/// `host_rows::sqlite_outbox_row_with_a_text_person_id_is_listed_and_fails_alone` after the
/// test's last assertion, its runtime's drop waiting on a worker that gdb showed in that loop
/// with the range `4274967180..18446744073709551615`. A relay would have spun the same way and
/// hung on stop.
#[test]
fn sqlx_core_counts_a_returned_connection_idle_before_it_can_be_taken() {
    let version = locked("sqlx-core").expect("sqlx-core in Cargo.lock");
    assert!(
        version >= vec![0, 9, 1],
        "sqlx-core {version:?} is older than 0.9.1, whose pool can spin for ever (sqlx issue 3645)"
    );
}
