//! The sync log (docs/contracts.md, Sync log): `{log_dir}/scheduler_digis_sync.txt`, one line per
//! attempt, so support can keep grepping for `ExtInfo1:863, ExtInfo20:34231451` as the integration note tells
//! them to.
//!
//! Written synchronously by the relay rather than through tracing: the lines are the audit
//! trail, so none may be dropped under load (tracing-appender's non-blocking writer drops), and
//! the type of [`SyncLine`] is the privacy guarantee — it has no field that could carry a name,
//! phone number, e-mail address, birth date or token.
//!
//! Rotation by date keeps the contract's file name for today: when the first line of a new day
//! arrives, yesterday's file is renamed to `scheduler_digis_sync.txt.YYYY-MM-DD`, under a lock
//! every writer of the folder shares (`rotate`); days older than `log_compress_after_days` are
//! gzip-compressed in the background (`compress`). File names: `names`.
use std::fs::OpenOptions;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, Utc};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};

use crate::domain::{AttemptOutcome, GiveBack};

pub mod compress;
pub mod names;
mod rotate;

#[doc(hidden)]
pub use rotate::pause_rotation_for_tests;
use rotate::Appender;

pub const FILE_NAME: &str = "scheduler_digis_sync.txt";

/// One attempt, as it goes into the log.
#[derive(Debug, Clone)]
pub struct SyncLine<'a> {
    pub at: DateTime<Utc>,
    pub relay_id: &'a str,
    pub subscription_id: i64,
    pub card_number: Option<&'a str>,
    pub outbox_id: i64,
    pub person_id: i64,
    pub attempt: i32,
    pub outcome: AttemptOutcome,
    pub http_status: Option<u16>,
    pub external_id: Option<&'a str>,
    pub ms: i64,
    /// Why the row was given back, on `outcome=paused` lines only: written as `given_back=`
    /// so support can tell a shutdown from a pause.
    pub given_back: Option<GiveBack>,
    /// Our own words only (never a response body from Digis): see `crate::relay`.
    pub error: Option<&'a str>,
}

impl SyncLine<'_> {
    pub fn render(&self) -> String {
        let mut s = String::with_capacity(200);
        self.render_into(&mut s);
        s
    }

    /// [`SyncLine::render`] appended to `s`.
    pub fn render_into(&self, s: &mut String) {
        crate::time_text::push_storage(s, self.at);
        s.push(' ');
        self.render_fields_into(s);
    }

    /// The line without its leading time: what the live log (stderr, journald, the dashboard's
    /// Log view) shows, since each of those stamps its lines itself.
    pub fn render_fields(&self) -> String {
        let mut s = String::with_capacity(200);
        self.render_fields_into(&mut s);
        s
    }

    /// The live log's level for this line: only a row that needs a person is a warning. A
    /// retry is the relay's own business (repeated ones open the circuit, which warns), and
    /// discarded rows are the rules working; `failed` (also when the retries ran out) is what
    /// support must act on, so the dashboard's warnings filter shows it.
    pub fn level(&self) -> tracing::Level {
        match self.outcome {
            AttemptOutcome::Failed => tracing::Level::WARN,
            AttemptOutcome::Sent
            | AttemptOutcome::Retry
            | AttemptOutcome::Discarded
            | AttemptOutcome::GivenBack => tracing::Level::INFO,
        }
    }

    fn render_fields_into(&self, s: &mut String) {
        use std::fmt::Write as _;
        let _ = write!(
            s,
            "relay={} ExtInfo1:{}, ExtInfo20:{} outbox={} person={} attempt={} outcome={} status={} external_id={} ms={}",
            escape_or_dash(Some(self.relay_id)),
            self.subscription_id,
            escape_value(self.card_number.unwrap_or("")),
            self.outbox_id,
            self.person_id,
            self.attempt,
            self.outcome,
            self.http_status.map(|s| s.to_string()).unwrap_or_else(|| "-".into()),
            escape_or_dash(self.external_id),
            self.ms,
        );
        if let Some(g) = self.given_back {
            s.push_str(" given_back=");
            s.push_str(g.as_str());
        }
        if let Some(e) = self.error {
            s.push_str(" error=\"");
            s.extend(utf8_percent_encode(e, ERROR_ESCAPED));
            s.push('"');
        }
    }
}

/// Puts one attempt on the live log (target `digis_relay::sync`) at [`SyncLine::level`]; the
/// text is rendered only when someone listens at that level.
pub fn log_live(line: &SyncLine<'_>) {
    const TARGET: &str = "digis_relay::sync";
    match line.level() {
        tracing::Level::WARN => {
            if tracing::enabled!(target: TARGET, tracing::Level::WARN) {
                tracing::warn!(target: TARGET, "{}", line.render_fields());
            }
        }
        _ => {
            if tracing::enabled!(target: TARGET, tracing::Level::INFO) {
                tracing::info!(target: TARGET, "{}", line.render_fields());
            }
        }
    }
}

// The escaping (docs/contracts.md, Sync log): every value is one token, so no host data can forge a
// line or a field. A value is percent-encoded (RFC 3986 style, `%XX` per UTF-8 byte), but only for
// the bytes that could end a token or a line, start a field, or be mistaken for an escape: control
// characters (newlines included), space, `"`, `%`, `,`, `:`, `=`, `\` and every non-ASCII byte
// (Unicode has line and paragraph separators of its own). Ordinary cards, ids and relay names
// contain none of these, so their lines stay byte-identical and `grep 'ExtInfo1:863,
// ExtInfo20:34231451'` keeps working; `:` is escaped so that `ExtInfo20:` can never appear inside a
// value. A lone `-` means "none", so a value that is exactly `-` is written `%2D`. The error text
// is quoted and may hold spaces and punctuation; only controls, non-ASCII, `"`, `%` and `\` are
// encoded there.
const VALUE_ESCAPED: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'%')
    .add(b',')
    .add(b':')
    .add(b'=')
    .add(b'\\');
const ERROR_ESCAPED: &AsciiSet = &CONTROLS.add(b'"').add(b'%').add(b'\\');

/// One value as one token (see the escaping rules above). Public so the search can look for a
/// card exactly as it is written.
pub fn escape_value(v: &str) -> String {
    if v == "-" {
        return "%2D".into();
    }
    utf8_percent_encode(v, VALUE_ESCAPED).to_string()
}

fn escape_or_dash(v: Option<&str>) -> String {
    v.map(escape_value).unwrap_or_else(|| "-".into())
}

/// The inverse of [`escape_value`], strictly: a token holding a byte that the writer would
/// have escaped, or a malformed escape, was not written by us and is refused.
fn unescape(token: &str, allowed: impl Fn(u8) -> bool) -> Option<String> {
    let b = token.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            i += 3;
        } else if allowed(b[i]) {
            i += 1;
        } else {
            return None;
        }
    }
    percent_decode_str(token)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

fn unescape_value(token: &str) -> Option<String> {
    unescape(token, |c| {
        c.is_ascii_graphic() && !matches!(c, b'"' | b'%' | b',' | b':' | b'=' | b'\\')
    })
}

fn unescape_or_dash(token: &str) -> Option<Option<String>> {
    if token == "-" {
        Some(None)
    } else {
        unescape_value(token).map(Some)
    }
}

/// A sync-log line read back: what [`SyncLine`] held, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRecord {
    pub at: DateTime<Utc>,
    pub relay_id: String,
    pub subscription_id: i64,
    /// `None` when the line has an empty card (a member without one).
    pub card_number: Option<String>,
    pub outbox_id: i64,
    pub person_id: i64,
    pub attempt: i32,
    pub outcome: String,
    pub http_status: Option<u16>,
    pub external_id: Option<String>,
    pub ms: i64,
    /// The `given_back=` reason, as written (a word of [`GiveBack`], or a newer one).
    pub given_back: Option<String>,
    pub error: Option<String>,
}

/// Reads a line exactly as [`SyncLine::render`] writes it, or not at all: a line that does not
/// parse whole (another program's, hand-edited, or cut short) is `None`, so nothing in it can
/// be taken for a delivery.
pub fn parse_line(line: &str) -> Option<SyncRecord> {
    let line = line.strip_suffix('\n').unwrap_or(line);
    let line = line.strip_suffix('\r').unwrap_or(line);
    // No value can hold a space or a `"`, so the first ` error="` is the error field's.
    let (head, error) = match line.split_once(" error=\"") {
        Some((head, rest)) => {
            let quoted = rest.strip_suffix('"')?;
            let e = unescape(quoted, |c| {
                (c == b' ' || c.is_ascii_graphic()) && !matches!(c, b'"' | b'%' | b'\\')
            })?;
            (head, Some(e))
        }
        None => (line, None),
    };
    let t: Vec<&str> = head.split(' ').collect();
    let (fixed, given_back) = match t.as_slice() {
        [fixed @ .., last] if t.len() == 12 => (fixed, Some(*last)),
        fixed => (fixed, None),
    };
    let [at, relay, sub, card, outbox, person, attempt, outcome, status, external_id, ms] = fixed
    else {
        return None;
    };
    let field = |tok: &'_ str, key: &str| -> Option<String> {
        tok.strip_prefix(key)?.strip_prefix('=').map(str::to_string)
    };
    let word = |w: &str| !w.is_empty() && w.bytes().all(|c| c.is_ascii_lowercase() || c == b'_');
    let given_back = match given_back {
        Some(tok) => Some(field(tok, "given_back").filter(|w| word(w))?),
        None => None,
    };
    let number = |tok: &str, key: &str| -> Option<i64> { strict_int(&field(tok, key)?) };
    let outcome = field(outcome, "outcome")?;
    if !word(&outcome) {
        return None;
    }
    let status = match field(status, "status")?.as_str() {
        "-" => None,
        s => Some(u16::try_from(strict_int(s)?).ok()?),
    };
    let card = card.strip_prefix("ExtInfo20:")?;
    Some(SyncRecord {
        at: DateTime::parse_from_rfc3339(at).ok()?.with_timezone(&Utc),
        relay_id: unescape_or_dash(&field(relay, "relay")?)??,
        subscription_id: strict_int(sub.strip_prefix("ExtInfo1:")?.strip_suffix(',')?)?,
        card_number: if card.is_empty() {
            None
        } else {
            Some(unescape_value(card)?)
        },
        outbox_id: number(outbox, "outbox")?,
        person_id: number(person, "person")?,
        attempt: i32::try_from(number(attempt, "attempt")?).ok()?,
        outcome,
        http_status: status,
        external_id: unescape_or_dash(&field(external_id, "external_id")?)?,
        ms: number(ms, "ms")?,
        given_back,
        error,
    })
}

/// An integer as `format!("{}")` writes it (no `+`, no leading zeros, no spaces).
fn strict_int(s: &str) -> Option<i64> {
    let n: i64 = s.parse().ok()?;
    (n.to_string() == s).then_some(n)
}

/// Counts lines that could not be written, for health: a relay that delivers without an audit
/// trail must not say it is fine.
#[derive(Debug, Default)]
struct Failures(AtomicU64);

pub struct SyncLog {
    dir: PathBuf,
    state: Mutex<Appender>,
    failures: Failures,
    /// Rotated days older than this many days are gzip-compressed in the background; 0: never.
    compress_after_days: u32,
    /// A compression pass of this log runs now, or this log has written no line yet.
    compressing: Arc<AtomicBool>,
    first_line_written: AtomicBool,
}

impl SyncLog {
    /// Creates the folder if needed; the file is opened at the first line.
    pub fn open(dir: &Path) -> io::Result<SyncLog> {
        std::fs::create_dir_all(dir).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot create log folder {}: {e}", dir.display()),
            )
        })?;
        Ok(SyncLog {
            dir: dir.to_path_buf(),
            state: Mutex::new(Appender::new(dir)),
            failures: Failures::default(),
            compress_after_days: 0,
            compressing: Arc::new(AtomicBool::new(false)),
            first_line_written: AtomicBool::new(false),
        })
    }

    /// Compresses rotated days older than `days` days (`log_compress_after_days`; 0: never),
    /// in a background thread after this log's first line and after each rotation.
    pub fn with_compression(mut self, days: u32) -> SyncLog {
        self.compress_after_days = days;
        self
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    /// Opens today's file for appending once, so that `run` refuses to start when it could
    /// deliver without leaving the audit trail (a read-only folder or file).
    pub fn check_writable(&self) -> io::Result<()> {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path())
            .map(drop)
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot write the sync log {}: {e}", self.path().display()),
                )
            })
    }

    /// Writes one line. A failure is returned and also counted (see [`SyncLog::write_failures`]).
    pub fn write(&self, line: &SyncLine<'_>) -> io::Result<()> {
        let r = self.write_line(line);
        if r.is_err() {
            self.failures.0.fetch_add(1, Ordering::Relaxed);
        }
        r
    }

    /// Writes a group of lines (the relay's lines of one committed group) with one write call
    /// per day they fall on. A failure is returned and counted once per line not written.
    pub fn write_all(&self, lines: &[SyncLine<'_>]) -> io::Result<()> {
        let mut start = 0;
        while start < lines.len() {
            let day = lines[start].at.date_naive();
            let end = lines[start..]
                .iter()
                .position(|l| l.at.date_naive() != day)
                .map_or(lines.len(), |n| start + n);
            let chunk = &lines[start..end];
            let mut text = String::with_capacity(chunk.len() * 200);
            for l in chunk {
                l.render_into(&mut text);
                text.push('\n');
            }
            if let Err(e) = self.append(day, &text) {
                let lost = (lines.len() - start) as u64;
                self.failures.0.fetch_add(lost, Ordering::Relaxed);
                return Err(e);
            }
            start = end;
        }
        Ok(())
    }

    /// Lines that could not be written since this log was opened: the relay's health reads it
    /// (a delivery without its audit line makes the relay degraded).
    pub fn write_failures(&self) -> u64 {
        self.failures.0.load(Ordering::Relaxed)
    }

    fn write_line(&self, line: &SyncLine<'_>) -> io::Result<()> {
        let mut text = line.render();
        text.push('\n');
        self.append(line.at.date_naive(), &text)
    }

    /// Appends whole lines of `day` (the lines' own time is the clock: rotation and compression
    /// follow the days of the lines written, which is also what makes them testable without
    /// waiting for midnight), rotating first when the day changed.
    fn append(&self, day: NaiveDate, text: &str) -> io::Result<()> {
        let rotated = self
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .append(day, text.as_bytes())?;
        let first = !self.first_line_written.swap(true, Ordering::Relaxed);
        if rotated || first {
            self.compress_in_background(day);
        }
        Ok(())
    }

    /// Starts a compression pass for `today` unless one of this log's runs already or
    /// compression is off. Errors are logged (file names only), never returned: the line was
    /// written, and the next rotation tries again.
    fn compress_in_background(&self, today: NaiveDate) {
        let days = self.compress_after_days;
        if days == 0 || self.compressing.swap(true, Ordering::AcqRel) {
            return;
        }
        let (dir, running) = (self.dir.clone(), self.compressing.clone());
        let spawned = std::thread::Builder::new()
            .name("synclog-compress".into())
            .spawn(move || {
                match compress::compress_old(&dir, today, days) {
                    Ok(r) => {
                        for name in &r.compressed {
                            tracing::info!("sync log: compressed {name} to {name}.gz");
                        }
                    }
                    Err(e) => tracing::warn!(
                        "sync log: cannot compress old days in {}: {e}",
                        dir.display()
                    ),
                }
                running.store(false, Ordering::Release);
            });
        if spawned.is_err() {
            self.compressing.store(false, Ordering::Release);
        }
    }

    /// Whether a background compression pass of this log is running (tests wait on it).
    pub fn compressing(&self) -> bool {
        self.compressing.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn line(at: DateTime<Utc>) -> SyncLine<'static> {
        SyncLine {
            at,
            relay_id: "r1",
            subscription_id: 863,
            card_number: Some("0034231451"),
            outbox_id: 5,
            person_id: 1042,
            attempt: 1,
            outcome: AttemptOutcome::Sent,
            http_status: Some(200),
            external_id: Some("ext-1"),
            ms: 12,
            given_back: None,
            error: None,
        }
    }

    #[test]
    fn renders_the_contract_form() {
        let at = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap();
        assert_eq!(
            line(at).render(),
            "2026-11-28T12:00:00.000Z relay=r1 ExtInfo1:863, ExtInfo20:0034231451 outbox=5 person=1042 attempt=1 outcome=sent status=200 external_id=ext-1 ms=12"
        );
    }

    #[test]
    fn renders_and_reads_back_the_contract_form() {
        let at = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap();
        let mut l = line(at);
        l.error = Some("Digis answered 503: \"busy\", token=***");
        l.external_id = None;
        let text = l.render();
        assert!(
            text.ends_with(
                " external_id=- ms=12 error=\"Digis answered 503: %22busy%22, token=***\""
            ),
            "{text}"
        );
        let r = parse_line(&text).unwrap();
        assert_eq!(r.error.as_deref(), l.error);
        assert_eq!(r.external_id, None);
        assert_eq!(r.card_number.as_deref(), Some("0034231451"));
    }

    /// A row given back keeps the contract word `paused` and says why in one extra token.
    #[test]
    fn a_given_back_line_says_why_and_reads_back() {
        let at = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap();
        let mut l = line(at);
        l.outcome = AttemptOutcome::GivenBack;
        l.http_status = Some(401);
        l.external_id = None;
        l.given_back = Some(GiveBack::ConfigError);
        l.error = Some("Digis answered 401");
        let text = l.render();
        assert!(
            text.ends_with(
                " outcome=paused status=401 external_id=- ms=12 given_back=config_error error=\"Digis answered 401\""
            ),
            "{text}"
        );
        let r = parse_line(&text).unwrap();
        assert_eq!(r.outcome, "paused");
        assert_eq!(r.given_back.as_deref(), Some("config_error"));
        assert_eq!(r.error.as_deref(), l.error);
        l.error = None;
        let r = parse_line(&l.render()).unwrap();
        assert_eq!(r.given_back.as_deref(), Some("config_error"));
        assert_eq!(parse_line(&line(at).render()).unwrap().given_back, None);
    }

    #[test]
    fn a_forged_card_stays_on_its_own_line_and_field() {
        let at = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap();
        let forged = "1\n2026-11-28T12:00:00.000Z relay=x ExtInfo1:424242, ExtInfo20:31337 outbox=1 person=1 attempt=1 outcome=sent status=200 external_id=- ms=1";
        let mut l = line(at);
        l.card_number = Some(forged);
        let text = l.render();
        assert!(
            !text.contains('\n') && !text.contains("ExtInfo20:31337"),
            "{text}"
        );
        assert!(!text.contains("ExtInfo1:424242"), "{text}");
        assert_eq!(
            parse_line(&text).unwrap().card_number.as_deref(),
            Some(forged)
        );
        l.card_number = Some("1234 5678");
        let text = l.render();
        assert!(text.contains("ExtInfo20:1234%205678 outbox=5"), "{text}");
        assert_eq!(parse_line(&text).unwrap().person_id, 1042);
    }

    #[test]
    fn lines_that_do_not_parse_whole_are_refused() {
        let at = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap();
        let good = line(at).render();
        assert!(parse_line(&good).is_some());
        for bad in [
            "2026-01-02T10:00:00.000Z legacy ExtInfo1:863, ExtInfo20:1 saved".to_string(),
            good.replace("outbox=5", "outbox=5 outbox=6"),
            good.replace("person=1042", "person=01042"),
            good.replace("ExtInfo20:0034231451", "ExtInfo20:00 34"),
            good.replace("ExtInfo20:0034231451", "ExtInfo20:a=b"),
            good.replace("ExtInfo20:0034231451", "ExtInfo20:%4"),
            good.replace("ExtInfo20:0034231451", "ExtInfo20:%FF"),
            good.replace("ms=12", "ms=12 error=\"a\"b\""),
            good.replace("ms=12", "ms=12 error=\"open"),
            good.replace("outcome=sent", "outcome=SENT"),
            good.replace("status=200", "status=70000"),
            good.replace("ms=12", "ms=12 given_back=Shutdown"),
            good.replace("ms=12", "ms=12 given_back="),
            good.replace("ms=12", "ms=12 given_back=a b"),
            good.replace("ms=12", "ms=12 why=shutdown"),
            format!("x{good}"),
            good[..good.len() - 3].to_string(),
        ] {
            assert!(parse_line(&bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn a_write_failure_is_counted() {
        let dir = tempfile::tempdir().unwrap();
        let log = SyncLog::open(dir.path()).unwrap();
        log.write(&line(Utc::now())).unwrap();
        assert_eq!(log.write_failures(), 0);
        // The file's place is taken by a folder: every write fails from now on.
        drop(log);
        let log = SyncLog::open(dir.path()).unwrap();
        std::fs::remove_file(log.path()).unwrap();
        std::fs::create_dir(log.path()).unwrap();
        assert!(log.check_writable().is_err());
        assert!(log.write(&line(Utc::now())).is_err());
        assert!(log.write(&line(Utc::now())).is_err());
        assert_eq!(log.write_failures(), 2);
    }

    mod round_trip {
        use super::super::*;
        use chrono::TimeZone;
        use proptest::prelude::*;

        fn text() -> impl Strategy<Value = String> {
            prop_oneof![
                any::<String>(),
                "[0-9A-Za-z -]{0,12}",
                // Characters that matter to the format, densely.
                proptest::collection::vec(
                    prop_oneof![
                        Just('\n'),
                        Just('\r'),
                        Just(' '),
                        Just('"'),
                        Just('%'),
                        Just(','),
                        Just(':'),
                        Just('='),
                        Just('\\'),
                        Just('-'),
                        Just('\u{2028}'),
                        Just('\u{85}'),
                        Just('\u{1b}'),
                        Just('0'),
                        Just('E'),
                    ],
                    0..16
                )
                .prop_map(|v| v.into_iter().collect()),
            ]
        }

        proptest! {
            #[test]
            fn any_value_survives_and_stays_on_one_line(
                millis in 0i64..4_102_444_800_000,
                relay in text(),
                sub in any::<i64>(),
                card in proptest::option::of(text()),
                outbox in any::<i64>(),
                person in any::<i64>(),
                attempt in any::<i32>(),
                outcome in prop::sample::select(AttemptOutcome::ALL.to_vec()),
                given_back in proptest::option::of(prop::sample::select(GiveBack::ALL.to_vec())),
                status in proptest::option::of(any::<u16>()),
                external_id in proptest::option::of(text()),
                ms in any::<i64>(),
                error in proptest::option::of(text()),
            ) {
                let at = Utc.timestamp_millis_opt(millis).unwrap();
                let l = SyncLine {
                    at,
                    relay_id: &relay,
                    subscription_id: sub,
                    card_number: card.as_deref(),
                    outbox_id: outbox,
                    person_id: person,
                    attempt,
                    outcome,
                    http_status: status,
                    external_id: external_id.as_deref(),
                    ms,
                    given_back,
                    error: error.as_deref(),
                };
                let text = l.render();
                prop_assert!(!text.contains(['\n', '\r']), "{}", text);
                prop_assert!(text.is_ascii(), "{}", text);
                prop_assert_eq!(text.matches("ExtInfo1:").count(), 1);
                prop_assert_eq!(text.matches("ExtInfo20:").count(), 1);
                let r = parse_line(&text);
                prop_assert!(r.is_some(), "did not parse: {}", text);
                let r = r.unwrap();
                prop_assert_eq!(r.at, at);
                prop_assert_eq!(&r.relay_id, &relay);
                prop_assert_eq!(r.subscription_id, sub);
                // An empty card is written as none (docs/contracts.md, Payload: empty values are
                // missing).
                prop_assert_eq!(r.card_number, card.filter(|c| !c.is_empty()));
                prop_assert_eq!(r.outbox_id, outbox);
                prop_assert_eq!(r.person_id, person);
                prop_assert_eq!(r.attempt, attempt);
                prop_assert_eq!(r.outcome.as_str(), outcome.as_str());
                prop_assert_eq!(r.http_status, status);
                prop_assert_eq!(r.external_id, external_id);
                prop_assert_eq!(r.ms, ms);
                prop_assert_eq!(r.given_back.as_deref(), given_back.map(GiveBack::as_str));
                prop_assert_eq!(r.error, error);
            }

            #[test]
            fn ordinary_cards_and_ids_are_written_as_they_are(card in "[0-9A-Za-z_.-]{1,20}") {
                prop_assume!(card != "-");
                prop_assert_eq!(escape_value(&card), card);
            }
        }
    }

    /// Several writers of one folder cross day changes together, each with a `SyncLog` of its
    /// own (so its own handle on the lock file: `flock` locks belong to the open file, so these
    /// exclude each other exactly as two processes do; `tests/it/synclog_processes.rs` runs two
    /// real processes). Every line lands once, in the file named for its day, and no write
    /// fails.
    #[test]
    fn writers_sharing_a_folder_rotate_without_losing_or_duplicating_lines() {
        const WRITERS: i64 = 4;
        const DAYS: i64 = 20;
        const PER_DAY: i64 = 40;
        let dir = tempfile::tempdir().unwrap();
        let start = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(WRITERS as usize));
        pause_rotation_for_tests(3);
        let failures: i64 = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..WRITERS)
                .map(|w| {
                    let barrier = barrier.clone();
                    let path = dir.path().to_path_buf();
                    scope.spawn(move || {
                        let log = SyncLog::open(&path).unwrap();
                        let mut failed = 0;
                        for d in 0..DAYS {
                            // Everyone starts the new day together: the race is at its widest.
                            barrier.wait();
                            for i in 0..PER_DAY {
                                let mut l = line(
                                    start
                                        + chrono::Duration::days(d)
                                        + chrono::Duration::seconds(i),
                                );
                                l.outbox_id = w * 1_000_000 + d * 1_000 + i;
                                if log.write(&l).is_err() {
                                    failed += 1;
                                }
                            }
                        }
                        failed
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(failures, 0, "writes failed");
        let mut seen = std::collections::HashMap::new();
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            let Some(n) = names::parse(&name) else {
                continue;
            };
            files.push(name.clone());
            let text = std::fs::read_to_string(dir.path().join(&name)).unwrap();
            for l in text.lines() {
                let r = parse_line(l).unwrap_or_else(|| panic!("a broken line in {name}: {l}"));
                let file_day = n
                    .date
                    .unwrap_or((start + chrono::Duration::days(DAYS - 1)).date_naive());
                assert_eq!(r.at.date_naive(), file_day, "{name}: {l}");
                *seen.entry(r.outbox_id).or_insert(0) += 1;
            }
        }
        files.sort();
        assert_eq!(files.len() as i64, DAYS, "one file per day: {files:?}");
        assert_eq!(seen.len() as i64, WRITERS * DAYS * PER_DAY, "lines lost");
        assert!(seen.values().all(|n| *n == 1), "lines duplicated");
    }

    #[test]
    fn compresses_old_days_in_the_background_after_a_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let log = SyncLog::open(dir.path()).unwrap().with_compression(2);
        for d in 1..=5 {
            log.write(&line(Utc.with_ymd_and_hms(2026, 11, d, 12, 0, 0).unwrap()))
                .unwrap();
            // One pass at a time: each rotation's pass is waited for, as a quiet relay would.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while log.compressing() {
                assert!(
                    std::time::Instant::now() < deadline,
                    "compression never ended"
                );
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.ends_with(".lock"))
            .collect();
        names.sort();
        // Today is the 5th: the 1st and 2nd are more than 2 days old.
        assert_eq!(
            names,
            [
                FILE_NAME.to_string(),
                format!("{FILE_NAME}.2026-11-01.gz"),
                format!("{FILE_NAME}.2026-11-02.gz"),
                format!("{FILE_NAME}.2026-11-03"),
                format!("{FILE_NAME}.2026-11-04"),
            ]
        );
        // A new rotation of an already compressed day takes a free name.
        std::fs::write(
            dir.path().join(FILE_NAME),
            line(Utc.with_ymd_and_hms(2026, 11, 1, 23, 0, 0).unwrap()).render() + "\n",
        )
        .unwrap();
        drop(log);
        let log = SyncLog::open(dir.path()).unwrap();
        log.write(&line(Utc.with_ymd_and_hms(2026, 11, 6, 0, 0, 0).unwrap()))
            .unwrap();
        assert!(dir
            .path()
            .join(format!("{FILE_NAME}.2026-11-01.1"))
            .exists());
        assert!(dir
            .path()
            .join(format!("{FILE_NAME}.2026-11-01.gz"))
            .exists());
    }

    #[test]
    fn rotates_when_the_day_changes() {
        let dir = tempfile::tempdir().unwrap();
        let log = SyncLog::open(dir.path()).unwrap();
        let d1 = Utc.with_ymd_and_hms(2026, 11, 27, 23, 59, 0).unwrap();
        let d2 = Utc.with_ymd_and_hms(2026, 11, 28, 0, 1, 0).unwrap();
        log.write(&line(d1)).unwrap();
        log.write(&line(d2)).unwrap();
        let old = std::fs::read_to_string(dir.path().join("scheduler_digis_sync.txt.2026-11-27"))
            .unwrap();
        let new = std::fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        assert!(old.starts_with("2026-11-27T23:59"), "{old}");
        assert_eq!(new.lines().count(), 1);
        assert!(new.starts_with("2026-11-28T00:01"));
    }
}
