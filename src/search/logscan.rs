//! Finds the lines of the sync log (docs/contracts.md, Sync log) that mention the ExtInfo1 or
//! ExtInfo20 values searched for ([`LogKeys`]: one value for an ExtInfo search, a person's
//! subscriptions and cards for a member search), in `scheduler_digis_sync.txt` and its rotated
//! siblings `scheduler_digis_sync.txt.YYYY-MM-DD[.N]`, gzip-compressed ones (`.gz`) included.
//!
//! The search is ripgrep's own engine (`grep-searcher` with a `grep-regex` matcher): files are
//! streamed through a fixed buffer, never read whole, and the matcher's literal prefilter
//! (memchr/Teddy) skips non-candidate text, so months of logs cost seconds, not minutes. A `.gz`
//! file is decompressed as a stream (`flate2`) into the same searcher: memory stays bounded.
//!
//! Matching is by whole token: `ExtInfo1:863` matches `ExtInfo1:863,` but neither
//! `ExtInfo1:8630,` nor `ExtInfo1:1863,`; `ExtInfo20:0034` matches only that card, leading
//! zeros included, never `ExtInfo20:00345` or `ExtInfo20:034`.
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Condvar, Mutex, PoisonError};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use grep_regex::{RegexMatcher, RegexMatcherBuilder};
use grep_searcher::{BinaryDetection, Searcher, SearcherBuilder, Sink, SinkMatch};
use serde::Serialize;

use super::linecap::{self, LineCap};
use super::SearchTerm;
use crate::domain::CardNumber;
use crate::synclog::names;

/// More matching lines than this for one term is not a support question any more; the scan
/// stops and says so rather than filling memory.
pub const MAX_HITS: usize = 20_000;

/// What is read from a compressed file at a time (the decoder's input): fewer, larger reads.
const READ_BUFFER: usize = 128 * 1024;

/// Files read at once by [`scan`], one per core: a year of logs is mostly `.gz` days, and
/// inflating one is one core's work (docs/decisions/0045-log-search-reads-files-in-parallel.md).
const MAX_THREADS: usize = 8;

/// One sync-log file of the folder, as its name describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFile {
    pub path: PathBuf,
    pub name: String,
    /// The day in a rotated file's name; `None` for the current file.
    pub date: Option<NaiveDate>,
    /// The `.N` suffix of a second file of the same day (0 when there is none).
    pub seq: u32,
    /// gzip-compressed (`.gz`), read through a decoder.
    pub compressed: bool,
}

/// A file that was searched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScannedFile {
    /// File name inside the log folder.
    pub name: String,
    /// The file's size on disk (compressed, for a `.gz` file).
    pub bytes: u64,
    pub matching_lines: u64,
    /// Lines longer than [`linecap::MAX_LINE`] bytes: skipped, not searched (memory stays
    /// bounded whatever a file holds).
    pub overlong_lines: u64,
    /// Why the file could not be read to its end (a `.gz` cut short, a read error), when so:
    /// the lines before that point were searched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cut_short: Option<String>,
}

/// What one line of the sync log says, when it is a whole line in the contract's form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LineFields {
    /// The line parsed whole as the relay writes it; when false every other field is `None`.
    pub parsed: bool,
    pub relay_id: Option<String>,
    pub subscription_id: Option<i64>,
    pub card_number: Option<String>,
    pub outbox_id: Option<i64>,
    pub person_id: Option<i64>,
    pub attempt: Option<i32>,
    pub outcome: Option<String>,
    pub http_status: Option<i32>,
    pub external_id: Option<String>,
    pub ms: Option<i64>,
    pub error: Option<String>,
}

/// One matching line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogHit {
    pub file: String,
    /// 1-based line number in its file.
    pub line: u64,
    /// The line without its terminator (invalid UTF-8 replaced).
    pub text: String,
    /// The time at the start of the line, when it has one.
    pub at: Option<DateTime<Utc>>,
    pub fields: LineFields,
}

/// Everything a scan of the folder found.
#[derive(Debug, Clone, Default)]
pub struct LogScan {
    pub dir_exists: bool,
    pub files: Vec<ScannedFile>,
    /// Rotated files left out because they are older than `since`.
    pub skipped: Vec<String>,
    pub hits: Vec<LogHit>,
    /// Files that could not be read, and the hit cap; the scan carries on past them.
    pub warnings: Vec<String>,
}

impl LogFile {
    /// Recognises `scheduler_digis_sync.txt`, `scheduler_digis_sync.txt.YYYY-MM-DD[.N]` and
    /// the same compressed (`.gz`), as `synclog::names` names them; anything else in the folder
    /// (locks, a `.gz.partial` being written) is not ours.
    pub fn from_name(dir: &Path, name: &str) -> Option<LogFile> {
        let n = names::parse(name)?;
        Some(LogFile {
            path: dir.join(name),
            name: name.to_string(),
            date: n.date,
            seq: n.seq,
            compressed: n.compressed,
        })
    }
}

/// The sync-log files in `dir`, oldest first (rotated by date and sequence, the current file
/// last). A missing folder is `Ok(None)`.
pub fn log_files(dir: &Path) -> io::Result<Option<Vec<LogFile>>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(io::Error::new(
                e.kind(),
                format!("cannot list the log folder {}: {e}", dir.display()),
            ))
        }
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if let Some(f) = LogFile::from_name(dir, &name) {
            if entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
                files.push(f);
            }
        }
    }
    // A day both plain and compressed is a compression cut short between its rename and its
    // delete (`synclog::compress`): both are complete, the plain one is read.
    let plain: std::collections::HashSet<String> = files
        .iter()
        .filter(|f| !f.compressed)
        .map(|f| f.name.clone())
        .collect();
    files.retain(|f| {
        !(f.compressed
            && f.name
                .strip_suffix(names::GZ)
                .is_some_and(|p| plain.contains(p)))
    });
    files.sort_by_key(|f| (f.date.is_none(), f.date, f.seq));
    Ok(Some(files))
}

/// What a scan looks for: lines naming any of these ExtInfo1 or ExtInfo20 values, optionally
/// only those of some persons.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogKeys {
    pub subscriptions: BTreeSet<i64>,
    pub cards: Vec<CardNumber>,
    /// A member search keeps only whole lines naming one of these persons (a subscription's
    /// other users are not the person asked about), and unparsed lines only when they carry one
    /// of the cards. `None`: every line naming a key.
    pub persons: Option<BTreeSet<i64>>,
}

impl LogKeys {
    /// The one value of an ExtInfo1 or ExtInfo20 term; nothing for a member key (its
    /// persons are found in the database first).
    pub fn of(term: &SearchTerm) -> LogKeys {
        let mut keys = LogKeys::default();
        match term {
            SearchTerm::Subscription(id) => {
                keys.subscriptions.insert(id.get());
            }
            SearchTerm::Card(card) => keys.cards.push(card.clone()),
            SearchTerm::Member(_) => keys.persons = Some(BTreeSet::new()),
        }
        keys
    }

    fn is_empty(&self) -> bool {
        self.subscriptions.is_empty() && self.cards.is_empty()
    }
}

/// The card as the writer escapes it: the same bytes for every card `CardNumber` accepts today,
/// and still right if it ever accepts more.
fn escaped_card(card: &CardNumber) -> String {
    crate::synclog::escape_value(card.as_str())
}

/// The regex that finds any key as a whole token; `None` when there is no key. Public for the
/// benchmark.
pub fn pattern(keys: &LogKeys) -> Option<String> {
    // `(?-u:\b)` before the key keeps `XExtInfo1:` out; the class after the value ends the
    // token: a digit (8630), a card character or the end of the line decide.
    let mut parts = Vec::new();
    if !keys.subscriptions.is_empty() {
        let ids: Vec<String> = keys.subscriptions.iter().map(i64::to_string).collect();
        parts.push(format!(
            r"(?-u:\b)ExtInfo1:(?:{})(?:[^0-9A-Za-z_]|$)",
            ids.join("|")
        ));
    }
    if !keys.cards.is_empty() {
        let cards: Vec<String> = keys
            .cards
            .iter()
            .map(|c| regex::escape(&escaped_card(c)))
            .collect();
        parts.push(format!(
            r"(?-u:\b)ExtInfo20:(?:{})(?:[^0-9A-Za-z_%-]|$)",
            cards.join("|")
        ));
    }
    (!parts.is_empty()).then(|| {
        parts
            .iter()
            .map(|p| format!("(?:{p})"))
            .collect::<Vec<_>>()
            .join("|")
    })
}

/// A matcher for the keys that never matches across a line end (so the searcher may run it
/// over whole buffers) and treats `\r\n` as a line end (logs copied from Windows). `None` when
/// there is no key.
pub fn matcher(keys: &LogKeys) -> Option<RegexMatcher> {
    let pattern = pattern(keys)?;
    Some(
        RegexMatcherBuilder::new()
            .line_terminator(Some(b'\n'))
            .multi_line(true)
            .crlf(true)
            .unicode(false)
            .build(&pattern)
            .expect("the pattern is built from validated ids and escaped card numbers"),
    )
}

fn searcher() -> Searcher {
    SearcherBuilder::new()
        .line_number(true)
        .line_terminator(grep_matcher::LineTerminator::crlf())
        // A crash can leave NUL bytes in a log: keep searching past them.
        .binary_detection(BinaryDetection::none())
        .build()
}

/// Searches one file, appending its matching lines from `since` on to `hits` (at most
/// [`MAX_HITS`] in all). Returns what was scanned.
pub fn scan_path(
    path: &Path,
    keys: &LogKeys,
    since: Option<NaiveDate>,
    hits: &mut Vec<LogHit>,
) -> io::Result<ScannedFile> {
    let matcher = matcher(keys);
    scan_file(path, matcher.as_ref(), keys, since, hits, None).map(|(s, _)| s)
}

/// [`scan_path`] with the matcher made once for every file. With a `budget` (the hits held by
/// a parallel scan in all) it stops when the budget is spent rather than when `hits` holds
/// [`MAX_HITS`], and says so (`true`): the file must then be read again in order.
fn scan_file(
    path: &Path,
    matcher: Option<&RegexMatcher>,
    keys: &LogKeys,
    since: Option<NaiveDate>,
    hits: &mut Vec<LogHit>,
    budget: Option<&AtomicUsize>,
) -> io::Result<(ScannedFile, bool)> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    let file = File::open(path)?;
    let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
    let Some(matcher) = matcher else {
        let scanned = ScannedFile {
            name,
            bytes,
            matching_lines: 0,
            overlong_lines: 0,
            cut_short: None,
        };
        return Ok((scanned, false));
    };
    let mut sink = HitSink {
        file: &name,
        keys,
        since: since.map(|d| d.and_hms_opt(0, 0, 0).expect("midnight").and_utc()),
        hits,
        matching: 0,
        budget,
        spent: false,
    };
    let compressed = names::parse(&name).is_some_and(|n| n.compressed);
    let (read, overlong_lines) = search_capped(matcher, file, compressed, &mut sink);
    let (matching_lines, spent) = (sink.matching, sink.spent);
    let scanned = ScannedFile {
        name,
        bytes,
        matching_lines,
        overlong_lines,
        cut_short: read.err().map(|e| e.to_string()),
    };
    Ok((scanned, spent))
}

/// Searches `file` (decompressed as a stream when `compressed`) through [`LineCap`], so no line
/// longer than [`linecap::MAX_LINE`] is held in memory. Returns how the read ended and how many
/// overlong lines were skipped (also when it ended early).
fn search_capped<S: Sink<Error = io::Error>>(
    matcher: &RegexMatcher,
    file: File,
    compressed: bool,
    sink: &mut S,
) -> (io::Result<()>, u64) {
    if compressed {
        // `MultiGzDecoder`: a file made of several gzip members (`cat a.gz b.gz`) reads whole.
        let mut reader = LineCap::new(flate2::bufread::MultiGzDecoder::new(
            BufReader::with_capacity(READ_BUFFER, file),
        ));
        let read = searcher().search_reader(matcher, &mut reader, sink);
        (read, reader.overlong())
    } else {
        let mut reader = LineCap::new(file);
        let read = searcher().search_reader(matcher, &mut reader, sink);
        (read, reader.overlong())
    }
}

/// The warnings a file's scan gives: overlong lines skipped, a read cut short.
fn file_warnings(name: &str, overlong: u64, cut_short: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    if overlong > 0 {
        out.push(format!(
            "log file {name}: {overlong} overlong line(s) skipped (longer than {} KiB, not written by the relay)",
            linecap::MAX_LINE / 1024
        ));
    }
    if let Some(why) = cut_short {
        out.push(format!(
            "log file {name} could not be read to its end ({why}): only the lines before that were searched"
        ));
    }
    out
}

/// The files of a pass over the folder, noting in `dir_exists` whether there is one; `None` when
/// the pass ends before it starts: no folder, or one that cannot be listed (said in `warnings`).
fn files_to_read(
    dir: &Path,
    dir_exists: &mut bool,
    warnings: &mut Vec<String>,
) -> Option<Vec<LogFile>> {
    let listed = log_files(dir);
    *dir_exists = !matches!(listed, Ok(None));
    listed.unwrap_or_else(|e| {
        warnings.push(e.to_string());
        None
    })
}

/// Reads `files` oldest first with `read`, which gives a file's warnings and says whether the
/// pass now holds all it may (that ends it, with the warning `full`). A file that cannot be
/// opened is a warning, and the pass goes on past it.
fn read_each(
    files: Vec<LogFile>,
    warnings: &mut Vec<String>,
    full: String,
    mut read: impl FnMut(LogFile, &mut Vec<String>) -> io::Result<bool>,
) {
    for f in files {
        let path = f.path.clone();
        match read(f, warnings) {
            Ok(false) => {}
            Ok(true) => {
                warnings.push(full);
                return;
            }
            Err(e) => warnings.push(cannot_read(&path, &e)),
        }
    }
}

/// Searches every sync-log file in `dir`, oldest first. Rotated files from before `since`
/// (with a day's slack for a line written just after midnight before rotation) are skipped.
/// Without any key (a person with no subscription and no card) no file is read.
///
/// Files are read on one thread per core, and what each found is taken in the files' order, so
/// the result is the one reading them one after the other gives: the same hits in the same
/// order, files, warnings and cap. The hits held by files read ahead count against
/// [`MAX_HITS`] too; a file that stopped for that, or whose hits reach the cap, is read again
/// in order, exactly as alone.
pub fn scan(dir: &Path, keys: &LogKeys, since: Option<NaiveDate>) -> LogScan {
    let mut out = LogScan::default();
    let Some(files) = files_to_read(dir, &mut out.dir_exists, &mut out.warnings) else {
        return out;
    };
    if keys.is_empty() {
        return out;
    }
    let matcher = matcher(keys);
    let full =
        format!("stopped after {MAX_HITS} matching log lines; narrow the search with --since");
    let skipped = |f: &LogFile| match (since, f.date) {
        (Some(since), Some(day)) => day.succ_opt().is_some_and(|next| next < since),
        _ => false,
    };
    let budget = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MAX_THREADS);
    let read = |f: &LogFile| {
        (!skipped(f)).then(|| {
            let mut hits = Vec::new();
            scan_file(
                &f.path,
                matcher.as_ref(),
                keys,
                since,
                &mut hits,
                Some(&budget),
            )
            .map(|(s, spent)| (s, hits, spent))
        })
    };
    in_order(&files, threads, read, |f, found| {
        let (s, hits, spent) = match found {
            None => {
                out.skipped.push(f.name.clone());
                return true;
            }
            Some(Err(e)) => {
                out.warnings.push(cannot_read(&f.path, &e));
                return true;
            }
            Some(Ok(found)) => found,
        };
        let s = if spent || out.hits.len() + hits.len() >= MAX_HITS {
            budget.fetch_sub(hits.len(), Ordering::Relaxed);
            drop(hits);
            let before = out.hits.len();
            match scan_file(&f.path, matcher.as_ref(), keys, since, &mut out.hits, None) {
                Ok((s, _)) => {
                    budget.fetch_add(out.hits.len() - before, Ordering::Relaxed);
                    s
                }
                Err(e) => {
                    out.warnings.push(cannot_read(&f.path, &e));
                    return true;
                }
            }
        } else {
            out.hits.extend(hits);
            s
        };
        out.warnings.extend(file_warnings(
            &s.name,
            s.overlong_lines,
            s.cut_short.as_deref(),
        ));
        out.files.push(s);
        if out.hits.len() >= MAX_HITS {
            out.warnings.push(full.clone());
            return false;
        }
        true
    });
    out
}

fn cannot_read(path: &Path, e: &io::Error) -> String {
    format!("cannot read log file {}: {e}", path.display())
}

/// Runs `work` on every item on up to `threads` threads and hands each result to `take` in the
/// items' order, as a loop over them would; `take` answers whether to go on. At most twice
/// `threads` items are started ahead of the last one taken, so a stop wastes little.
fn in_order<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    work: impl Fn(&T) -> R + Sync,
    mut take: impl FnMut(&T, R) -> bool,
) {
    let threads = threads.min(items.len());
    if threads <= 1 {
        for item in items {
            if !take(item, work(item)) {
                return;
            }
        }
        return;
    }
    struct Turns {
        next: usize,
        taken: usize,
        stop: bool,
    }
    /// A worker that panics stops the others, so none waits for a turn that never comes (the
    /// scope then passes the panic on).
    struct StopOnPanic<'a>(&'a Mutex<Turns>, &'a Condvar);
    impl Drop for StopOnPanic<'_> {
        fn drop(&mut self) {
            if std::thread::panicking() {
                self.0.lock().unwrap_or_else(PoisonError::into_inner).stop = true;
                self.1.notify_all();
            }
        }
    }
    let window = threads * 2;
    let turns = Mutex::new(Turns {
        next: 0,
        taken: 0,
        stop: false,
    });
    let room = Condvar::new();
    let (tx, rx) = mpsc::channel::<(usize, R)>();
    std::thread::scope(|s| {
        for _ in 0..threads {
            let tx = tx.clone();
            let (turns, room, work) = (&turns, &room, &work);
            s.spawn(move || {
                let _guard = StopOnPanic(turns, room);
                loop {
                    let i = {
                        let mut t = turns.lock().unwrap_or_else(PoisonError::into_inner);
                        loop {
                            if t.stop || t.next >= items.len() {
                                return;
                            }
                            if t.next < t.taken + window {
                                t.next += 1;
                                break t.next - 1;
                            }
                            t = room.wait(t).unwrap_or_else(PoisonError::into_inner);
                        }
                    };
                    if tx.send((i, work(&items[i]))).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        let mut ready = BTreeMap::new();
        let mut want = 0;
        'results: for (i, r) in rx.iter() {
            ready.insert(i, r);
            while let Some(r) = ready.remove(&want) {
                let go = take(&items[want], r);
                want += 1;
                let mut t = turns.lock().unwrap_or_else(PoisonError::into_inner);
                t.taken = want;
                t.stop = !go;
                drop(t);
                room.notify_all();
                if !go {
                    break 'results;
                }
            }
        }
        // Workers still reading see the channel closed when they are done, and stop.
        drop(rx);
    });
}

struct HitSink<'a> {
    file: &'a str,
    keys: &'a LogKeys,
    since: Option<DateTime<Utc>>,
    hits: &'a mut Vec<LogHit>,
    matching: u64,
    /// The hits a parallel scan holds in all, this file's included; `None`: `hits` is all.
    budget: Option<&'a AtomicUsize>,
    /// The budget ran out: the file was left before its end.
    spent: bool,
}

impl Sink for HitSink<'_> {
    type Error = io::Error;

    fn matched(&mut self, _: &Searcher, mat: &SinkMatch<'_>) -> Result<bool, io::Error> {
        let first = mat.line_number().unwrap_or(0);
        // Without multi-line mode a match is one line, but be exact if several are reported.
        for (n, raw) in (first..).zip(mat.lines()) {
            let raw = trim_eol(raw);
            let text = String::from_utf8_lossy(raw).into_owned();
            let at = line_time(&text);
            if let (Some(since), Some(at)) = (self.since, at) {
                if at < since {
                    continue;
                }
            }
            let fields = parse_fields(&text);
            if !names_keys(&fields, &text, self.keys) {
                continue;
            }
            self.matching += 1;
            self.hits.push(LogHit {
                file: self.file.to_string(),
                line: n,
                fields,
                text,
                at,
            });
            if let Some(budget) = self.budget {
                budget.fetch_add(1, Ordering::Relaxed);
            }
        }
        match self.budget {
            None => Ok(self.hits.len() < MAX_HITS),
            Some(budget) => {
                self.spent = budget.load(Ordering::Relaxed) >= MAX_HITS;
                Ok(!self.spent)
            }
        }
    }
}

fn trim_eol(mut b: &[u8]) -> &[u8] {
    while let [rest @ .., b'\n' | b'\r'] = b {
        b = rest;
    }
    b
}

/// The time at the start of a line: the contract's `2026-11-28T12:00:00.123Z`, or the forms
/// older loggers used (`2026-11-28 12:00:00,123`, taken as UTC).
pub fn line_time(line: &str) -> Option<DateTime<Utc>> {
    let first = line.split_ascii_whitespace().next()?;
    if let Ok(t) = DateTime::parse_from_rfc3339(first) {
        return Some(t.with_timezone(&Utc));
    }
    let head = line.get(..23).or_else(|| line.get(..19))?;
    let head = head.replace(',', ".");
    for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M:%S"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(&head, fmt) {
            return Some(t.and_utc());
        }
    }
    None
}

/// Reads the contract's fields out of a line that parses whole (`synclog::parse_line`); any
/// other line has every field `None` and `parsed` false, so it can be shown but never taken for
/// a delivery.
pub fn parse_fields(line: &str) -> LineFields {
    let Some(r) = crate::synclog::parse_line(line) else {
        return LineFields::default();
    };
    LineFields {
        parsed: true,
        relay_id: Some(r.relay_id),
        subscription_id: Some(r.subscription_id),
        card_number: r.card_number,
        outbox_id: Some(r.outbox_id),
        person_id: Some(r.person_id),
        attempt: Some(r.attempt),
        outcome: Some(r.outcome),
        http_status: r.http_status.map(i32::from),
        external_id: r.external_id,
        ms: Some(r.ms),
        error: r.error,
    }
}

/// False for a line that parses whole but names another value than the ones searched for: the
/// matcher found a key's text where the log has no such field (a line written before values
/// were escaped, whose card held `ExtInfo20:...`). Such a line is not about this search at all.
/// A member search also drops whole lines of other persons, and unparsed lines that carry none
/// of its cards (they may be any user of a shared subscription).
fn names_keys(fields: &LineFields, text: &str, keys: &LogKeys) -> bool {
    if !fields.parsed {
        return keys.persons.is_none() || keys.cards.iter().any(|c| has_card_token(text, c));
    }
    let named = fields
        .subscription_id
        .is_some_and(|s| keys.subscriptions.contains(&s))
        || fields
            .card_number
            .as_deref()
            .is_some_and(|c| keys.cards.iter().any(|k| k.as_str() == c));
    let person_ok = match (&keys.persons, fields.person_id) {
        (None, _) => true,
        (Some(ps), Some(p)) => ps.contains(&p),
        (Some(_), None) => false,
    };
    named && person_ok
}

/// `ExtInfo20:<card>` as a whole token somewhere in `text`, as [`pattern`] finds it.
fn has_card_token(text: &str, card: &CardNumber) -> bool {
    let needle = format!("ExtInfo20:{}", escaped_card(card));
    let bytes = text.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    text.match_indices(&needle).any(|(at, _)| {
        let before_ok = at == 0 || !word(bytes[at - 1]);
        let after = bytes.get(at + needle.len()).copied();
        let after_ok = after.is_none_or(|b| !(word(b) || b == b'%' || b == b'-'));
        before_ok && after_ok
    })
}

/// More distinct sent pairs than this are not read into memory (about 40 MB at the cap): the
/// scan stops and says so. A gym chain has far fewer members.
pub const MAX_SENT_PAIRS: usize = 1_000_000;

/// The (subscription, person) pairs the sync log says were sent (`outcome=sent` lines that
/// parse whole), read from every file of the folder, compressed ones included.
#[derive(Debug, Clone, Default)]
pub struct SentPairs {
    /// False when there is no log folder at all (a command run from another directory than
    /// the relay's): then the log can vouch for nothing.
    pub dir_exists: bool,
    pub pairs: std::collections::HashSet<(i64, i64)>,
    pub files: usize,
    /// Files that could not be read, and the pair cap; the scan carries on past a bad file.
    pub warnings: Vec<String>,
}

/// Streams every sync-log file in `dir` (through the same searcher as [`scan`]: a fixed
/// buffer, a literal prefilter for ` outcome=sent `, `.gz` decoded as a stream) and collects
/// the pairs of its sent lines. A missing folder is an empty answer.
pub fn sent_pairs(dir: &Path) -> SentPairs {
    let mut out = SentPairs::default();
    let Some(files) = files_to_read(dir, &mut out.dir_exists, &mut out.warnings) else {
        return out;
    };
    let matcher = RegexMatcherBuilder::new()
        .build(r" outcome=sent ")
        .expect("a literal pattern compiles");
    let full = format!("stopped after {MAX_SENT_PAIRS} sent pairs in the sync log");
    read_each(files, &mut out.warnings, full, |f, warnings| {
        let file = File::open(&f.path)?;
        let mut sink = SentSink {
            pairs: &mut out.pairs,
        };
        let (read, overlong) = search_capped(&matcher, file, f.compressed, &mut sink);
        // A file cut short was read up to the cut: it counts, with a warning.
        out.files += 1;
        warnings.extend(file_warnings(
            &f.name,
            overlong,
            read.err().map(|e| e.to_string()).as_deref(),
        ));
        Ok(out.pairs.len() >= MAX_SENT_PAIRS)
    });
    out
}

struct SentSink<'a> {
    pairs: &'a mut std::collections::HashSet<(i64, i64)>,
}

impl Sink for SentSink<'_> {
    type Error = io::Error;

    fn matched(&mut self, _: &Searcher, mat: &SinkMatch<'_>) -> Result<bool, io::Error> {
        for raw in mat.lines() {
            // Only a line that parses whole is taken for a delivery (`synclog::parse_line`).
            let Ok(text) = std::str::from_utf8(trim_eol(raw)) else {
                continue;
            };
            if let Some(r) = crate::synclog::parse_line(text) {
                if r.outcome == "sent" {
                    self.pairs.insert((r.subscription_id, r.person_id));
                }
            }
        }
        Ok(self.pairs.len() < MAX_SENT_PAIRS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CardNumber, SubscriptionId};
    use crate::synclog::FILE_NAME;
    use std::io::Write;

    fn gzip(path: &Path, text: &str) {
        let mut enc = flate2::write::GzEncoder::new(
            File::create(path).unwrap(),
            flate2::Compression::default(),
        );
        enc.write_all(text.as_bytes()).unwrap();
        enc.finish().unwrap();
    }

    #[test]
    fn compressed_days_are_searched_like_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let t = SearchTerm::Subscription(SubscriptionId(863));
        let line = |day: &str, n: u32| {
            format!("{day}T12:00:00.000Z relay=r ExtInfo1:863, ExtInfo20:1 outbox={n} person=1 attempt=1 outcome=sent status=200 external_id=- ms=1\n")
        };
        // Two gzip members in one file (as `cat a.gz b.gz` makes) read as one text.
        let mut two = Vec::new();
        for text in [line("2026-11-01", 1), line("2026-11-01", 2)] {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(text.as_bytes()).unwrap();
            two.extend(enc.finish().unwrap());
        }
        std::fs::write(d.join(format!("{FILE_NAME}.2026-11-01.gz")), two).unwrap();
        gzip(
            &d.join(format!("{FILE_NAME}.2026-11-02.1.gz")),
            &(line("2026-11-02", 4) + "ExtInfo1:8630, x\n"),
        );
        std::fs::write(
            d.join(format!("{FILE_NAME}.2026-11-02")),
            line("2026-11-02", 3),
        )
        .unwrap();
        std::fs::write(d.join(FILE_NAME), line("2026-11-03", 5)).unwrap();
        // Left by a compression in progress, and by one cut short after its rename: not read.
        std::fs::write(d.join(format!("{FILE_NAME}.2026-11-03.gz.partial")), "x").unwrap();
        gzip(
            &d.join(format!("{FILE_NAME}.2026-11-02.gz")),
            &line("2026-11-02", 3),
        );
        let scan = scan(d, &LogKeys::of(&t), None);
        let names: Vec<&str> = scan.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "scheduler_digis_sync.txt.2026-11-01.gz",
                "scheduler_digis_sync.txt.2026-11-02",
                "scheduler_digis_sync.txt.2026-11-02.1.gz",
                "scheduler_digis_sync.txt",
            ]
        );
        let outboxes: Vec<i64> = scan
            .hits
            .iter()
            .map(|h| h.fields.outbox_id.unwrap())
            .collect();
        assert_eq!(outboxes, [1, 2, 3, 4, 5], "{:?}", scan.warnings);
        assert_eq!(
            scan.hits[1].line, 2,
            "line numbers count inside the decompressed text"
        );
        assert!(scan.warnings.is_empty(), "{:?}", scan.warnings);
        // --since skips compressed days by name as it does plain ones.
        let since = scan_since(d, &t, "2026-11-03");
        assert_eq!(since.skipped, ["scheduler_digis_sync.txt.2026-11-01.gz"]);
    }

    /// Files are read in parallel, yet the hit cap falls where reading them one after the
    /// other puts it: in the third file, at its 4,000th line, the fourth never listed.
    #[test]
    fn the_hit_cap_falls_in_file_order_when_files_are_read_in_parallel() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let t = SearchTerm::Subscription(SubscriptionId(863));
        let mut names = Vec::new();
        for n in 1..=4 {
            let text: String = (1..=8_000)
                .map(|i| format!("2026-11-0{n}T00:00:00.000Z ExtInfo1:863, n{i}\n"))
                .collect();
            let name = format!(
                "{FILE_NAME}.2026-11-0{n}{}",
                if n % 2 == 0 { ".gz" } else { "" }
            );
            if n % 2 == 0 {
                gzip(&d.join(&name), &text);
            } else {
                std::fs::write(d.join(&name), text).unwrap();
            }
            names.push(name);
        }
        let scan = scan(d, &LogKeys::of(&t), None);
        let scanned: Vec<&str> = scan.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(scanned, names[..3]);
        assert_eq!(scan.hits.len(), MAX_HITS);
        let per_file: Vec<u64> = scan.files.iter().map(|f| f.matching_lines).collect();
        assert_eq!(per_file, [8_000, 8_000, 4_000]);
        let order: Vec<(usize, u64)> = scan
            .hits
            .iter()
            .map(|h| (names.iter().position(|n| *n == h.file).unwrap(), h.line))
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "hits in file order");
        assert_eq!(order.last(), Some(&(2, 4_000)));
        assert_eq!(
            scan.warnings,
            [format!(
                "stopped after {MAX_HITS} matching log lines; narrow the search with --since"
            )]
        );
    }

    fn scan_since(d: &Path, t: &SearchTerm, since: &str) -> LogScan {
        scan(d, &LogKeys::of(t), Some(since.parse().unwrap()))
    }

    /// Only whole `outcome=sent` lines count as deliveries, compressed days included; a
    /// retry, a line cut short and another program's line never do.
    #[test]
    fn sent_pairs_are_the_whole_sent_lines_of_every_file() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let line = |sub: i64, person: i64, outcome: &str| {
            format!("2026-11-01T12:00:00.000Z relay=r ExtInfo1:{sub}, ExtInfo20:1 outbox=1 person={person} attempt=1 outcome={outcome} status=200 external_id=TE-1 ms=1\n")
        };
        gzip(
            &d.join(format!("{FILE_NAME}.2026-11-01.gz")),
            &format!("{}{}", line(1, 1, "sent"), line(1, 2, "retry")),
        );
        let cut = line(2, 2, "sent");
        std::fs::write(
            d.join(FILE_NAME),
            format!(
                "{}{}{}x outcome=sent y\n",
                line(1, 1, "sent"),
                line(3, 4, "sent"),
                &cut[..cut.len() - 8]
            ),
        )
        .unwrap();
        let found = sent_pairs(d);
        assert!(found.warnings.is_empty(), "{:?}", found.warnings);
        assert_eq!(found.files, 2);
        let mut pairs: Vec<_> = found.pairs.into_iter().collect();
        pairs.sort();
        assert_eq!(pairs, vec![(1, 1), (3, 4)]);
        assert!(found.dir_exists);
        let none = sent_pairs(&d.join("missing"));
        assert!(none.pairs.is_empty() && !none.dir_exists);
    }

    #[test]
    fn a_broken_compressed_file_is_a_warning_and_the_rest_is_searched() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let t = SearchTerm::Subscription(SubscriptionId(863));
        std::fs::write(
            d.join(format!("{FILE_NAME}.2026-11-01.gz")),
            b"not gzip at all",
        )
        .unwrap();
        let mut truncated = Vec::new();
        {
            let mut enc =
                flate2::write::GzEncoder::new(&mut truncated, flate2::Compression::default());
            enc.write_all(
                "2026-11-02T00:00:00.000Z ExtInfo1:863, a\n"
                    .repeat(500)
                    .as_bytes(),
            )
            .unwrap();
            enc.finish().unwrap();
        }
        truncated.truncate(truncated.len() / 2);
        std::fs::write(d.join(format!("{FILE_NAME}.2026-11-02.gz")), truncated).unwrap();
        std::fs::write(
            d.join(FILE_NAME),
            "2026-11-03T00:00:00.000Z ExtInfo1:863, b\n",
        )
        .unwrap();
        let scan = scan(d, &LogKeys::of(&t), None);
        assert_eq!(scan.warnings.len(), 2, "{:?}", scan.warnings);
        assert!(
            scan.warnings.iter().all(|w| w.contains(".gz")),
            "{:?}",
            scan.warnings
        );
        assert!(
            scan.hits.iter().any(|h| h.text.ends_with(" b")),
            "today's file is still read"
        );
    }

    fn hits(term: &SearchTerm, text: &str) -> Vec<u64> {
        hits_of(&LogKeys::of(term), text)
    }

    fn hits_of(keys: &LogKeys, text: &str) -> Vec<u64> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(FILE_NAME);
        std::fs::write(&p, text).unwrap();
        let mut out = Vec::new();
        scan_path(&p, keys, None, &mut out).unwrap();
        out.into_iter().map(|h| h.line).collect()
    }

    fn whole(sub: i64, card: &str, person: i64) -> String {
        crate::synclog::SyncLine {
            at: chrono::Utc::now(),
            relay_id: "r1",
            subscription_id: sub,
            card_number: Some(card),
            outbox_id: 1,
            person_id: person,
            attempt: 1,
            outcome: crate::domain::AttemptOutcome::Sent,
            http_status: Some(200),
            external_id: None,
            ms: 1,
            given_back: None,
            error: None,
        }
        .render()
    }

    #[test]
    fn a_member_search_keeps_its_persons_lines_only() {
        let keys = LogKeys {
            subscriptions: BTreeSet::from([863, 900]),
            cards: vec!["0034".parse().unwrap()],
            persons: Some(BTreeSet::from([7])),
        };
        let text = [
            whole(863, "0034", 7),                 // 1: theirs
            whole(863, "0099", 8),                 // 2: a co-user of 863
            whole(900, "0011", 7),                 // 3: theirs, under an older card
            whole(901, "0034", 9),                 // 4: another person who held the card
            "legacy ExtInfo1:863, saved".into(),   // 5: unparsed, names no card of theirs
            "legacy ExtInfo20:0034 saved".into(),  // 6: unparsed, their card
            "legacy ExtInfo20:00345 saved".into(), // 7: another card
            whole(8630, "0034", 7),                // 8: theirs, found by the card
        ]
        .join("\n");
        assert_eq!(hits_of(&keys, &text), vec![1, 3, 6, 8]);
        // Without keys nothing is read at all.
        assert!(pattern(&LogKeys::default()).is_none());
        assert_eq!(hits_of(&LogKeys::default(), &text), Vec::<u64>::new());
    }

    #[test]
    fn subscription_tokens_match_whole() {
        let t = SearchTerm::Subscription(SubscriptionId(863));
        let text = "a ExtInfo1:863, ExtInfo20:1\n\
                    b ExtInfo1:8630, ExtInfo20:1\n\
                    c ExtInfo1:1863, ExtInfo20:1\n\
                    d ExtInfo1:863\n\
                    e XExtInfo1:863, x\n\
                    f ExtInfo1:863,\r\n";
        assert_eq!(hits(&t, text), vec![1, 4, 6]);
    }

    #[test]
    fn card_tokens_match_whole_with_leading_zeros() {
        let t = SearchTerm::Card("0034".parse::<CardNumber>().unwrap());
        let text = "ExtInfo20:0034 outbox=1\n\
                    ExtInfo20:034 outbox=2\n\
                    ExtInfo20:00345 outbox=3\n\
                    ExtInfo20:0034-1 outbox=4\n\
                    ExtInfo20:0034\n\
                    ExtInfo20:0034\r\n\
                    ExtInfo20:0034, x\n\
                    ExtInfo20:0034";
        assert_eq!(hits(&t, text), vec![1, 5, 6, 7, 8]);
    }

    #[test]
    fn names_of_rotated_files() {
        let d = Path::new("/l");
        assert_eq!(LogFile::from_name(d, FILE_NAME).unwrap().date, None);
        let f = LogFile::from_name(d, "scheduler_digis_sync.txt.2026-11-27.2").unwrap();
        assert_eq!(f.date, NaiveDate::from_ymd_opt(2026, 11, 27));
        assert_eq!(f.seq, 2);
        let f = LogFile::from_name(d, "scheduler_digis_sync.txt.2026-11-27.2.gz").unwrap();
        assert_eq!((f.seq, f.compressed), (2, true));
        for bad in [
            "scheduler_digis_sync.txt.gz",
            "scheduler_digis_sync.txt.2026-11-27.gz.partial",
            "scheduler_digis_sync.txt.lock",
            "scheduler_digis_sync.txt.2026-11-27.x",
            "scheduler_digis_sync.txtx",
            "other.txt",
        ] {
            assert!(LogFile::from_name(d, bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn reads_contract_fields() {
        let l = "2026-11-28T12:00:00.123Z relay=r1 ExtInfo1:863, ExtInfo20:0034 outbox=5 person=1042 attempt=2 outcome=retry status=503 external_id=- ms=35 error=\"Digis answered 503 Service Unavailable\"";
        let f = parse_fields(l);
        assert_eq!(f.subscription_id, Some(863));
        assert_eq!(f.card_number.as_deref(), Some("0034"));
        assert_eq!(f.outbox_id, Some(5));
        assert_eq!(f.person_id, Some(1042));
        assert_eq!(f.attempt, Some(2));
        assert_eq!(f.outcome.as_deref(), Some("retry"));
        assert_eq!(f.http_status, Some(503));
        assert_eq!(f.external_id, None);
        assert_eq!(
            f.error.as_deref(),
            Some("Digis answered 503 Service Unavailable")
        );
        assert_eq!(
            line_time(l).unwrap().to_rfc3339(),
            "2026-11-28T12:00:00.123+00:00"
        );
        assert!(line_time("2026-11-28 12:00:00,123 INFO x").is_some());
        assert!(line_time("garbage").is_none());
    }
}
