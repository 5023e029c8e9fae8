//! The documents a person reads, kept true (issue 29): the generated references equal their
//! generators, the example configuration agrees with the keys the loader accepts, relative
//! links resolve, the README's two commands are the ones `.ci/run` runs, benchmark figures live
//! in BENCHMARKS.md and RELIABILITY.md only, and each decision is written once, in
//! docs/decisions. Files only: no database, no binary run, so this module takes well under a
//! second.
//!
//! `UPDATE_DOCS=1 cargo test --test it docs::` rewrites the generated pages
//! (docs/reference/cli.md, docs/reference/configuration.md) instead of comparing them.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use digis_relay::cli::reference::REGENERATE;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
}

/// The committed `rel` must be `generated`; with `UPDATE_DOCS` set it is written instead.
fn matches_generator(rel: &str, generated: &str) {
    let path = root().join(rel);
    if std::env::var_os("UPDATE_DOCS").is_some_and(|v| !v.is_empty()) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed == generated {
        return;
    }
    let (line, (was, is)) = committed
        .lines()
        .map(Some)
        .chain(std::iter::repeat(None))
        .zip(generated.lines().map(Some).chain(std::iter::repeat(None)))
        .enumerate()
        .find(|(_, (a, b))| a != b)
        .map(|(i, pair)| (i + 1, pair))
        .unwrap_or((0, (None, None)));
    panic!(
        "{rel} is not what its generator writes (first difference at line {line}):\n  \
         committed: {}\n  generated: {}\nRegenerate it with:\n  {REGENERATE}",
        was.unwrap_or("(end of file)"),
        is.unwrap_or("(end of file)"),
    );
}

// ---------------------------------------------------------------------------------------------
// (a) The CLI reference.

/// docs/reference/cli.md is `cli::reference::markdown()`: clap's definitions, as the man pages
/// and `--help` are.
#[test]
fn the_cli_reference_is_generated_from_clap() {
    let page = digis_relay::cli::reference::markdown();
    // The generator walks every visible command and its options (a walker that lost them would
    // still equal its own output).
    let mut cmd = digis_relay::cli::command();
    cmd.build();
    for sc in cmd.get_subcommands().filter(|c| !c.is_hide_set()) {
        if sc.get_name() == "help" {
            continue;
        }
        assert!(
            page.contains(&format!("## `digis-relay {}`", sc.get_name())),
            "the reference lacks {}",
            sc.get_name()
        );
        for a in sc.get_arguments().filter(|a| !a.is_hide_set()) {
            if let Some(long) = a.get_long() {
                assert!(
                    page.contains(&format!("`--{long}")),
                    "the reference lacks {} --{long}",
                    sc.get_name()
                );
            }
        }
    }
    for text in [
        "## `digis-relay report failures`",
        "Default: `json`. Values: `json`, `csv`.",
        "Environment: `DIGIS_RELAY_CONFIG`.",
        "(also `--include-unconfirmed`)",
    ] {
        assert!(page.contains(text), "the reference lacks {text:?}");
    }
    matches_generator("docs/reference/cli.md", &page);
}

// ---------------------------------------------------------------------------------------------
// (b) The configuration reference and the example file.

/// docs/reference/configuration.md is `config::reference::markdown()`: every key the loader
/// accepts (the serde fields of the settings types, the secrets' `_file` keys), its type and
/// default from `Config::default()`, its environment variable, and a meaning from
/// `config::reference::MEANINGS`, which must name exactly the accepted keys.
#[test]
fn the_configuration_reference_is_generated_from_the_code() {
    let keys = digis_relay::config::reference::keys().unwrap_or_else(|problems| {
        panic!("src/config/reference.rs MEANINGS disagrees with the loader:\n{problems}")
    });
    let names: Vec<&str> = keys.iter().map(|k| k.key.as_str()).collect();
    // The probe reads the real field lists: a few keys the loader is known to accept.
    for k in [
        "database_url",
        "digis_ca_file",
        "relay.batch_size",
        "export.allow_from",
        "export.token_file",
        "sync.reconcile_confirm_above",
        "host.adapter",
    ] {
        assert!(names.contains(&k), "{k} missing from {names:?}");
    }
    let batch = keys.iter().find(|k| k.key == "relay.batch_size").unwrap();
    assert_eq!(batch.env, ["DIGIS_RELAY_RELAY__BATCH_SIZE"]);
    assert_eq!(batch.default.as_deref(), Some("100"));
    let page = digis_relay::config::reference::markdown().unwrap();
    matches_generator("docs/reference/configuration.md", &page);
}

/// The keys a TOML text names, dotted: the ones it sets, and the ones shown commented out
/// (`# key = value`: a lower-case name right after the `#`, then ` = `), each under the table
/// it stands in. Prose in comments (`# Empty = no listener`, `LoadCredential=`) is not a key.
fn example_keys(text: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let table: toml::Table = toml::from_str(text).expect("the example is TOML");
    let mut set = BTreeSet::new();
    for (k, v) in &table {
        match v.as_table() {
            Some(t) => set.extend(t.keys().map(|inner| format!("{k}.{inner}"))),
            None => {
                set.insert(k.clone());
            }
        }
    }
    let commented_key = regex::Regex::new(r"^#\s?([a-z][A-Za-z0-9_]*) = ").unwrap();
    let section = regex::Regex::new(r"^\[([A-Za-z_][A-Za-z0-9_]*)\]\s*$").unwrap();
    let mut current: Option<String> = None;
    let mut commented = BTreeSet::new();
    for line in text.lines() {
        if let Some(c) = section.captures(line) {
            current = Some(c[1].to_string());
        } else if let Some(c) = commented_key.captures(line) {
            commented.insert(match &current {
                Some(t) => format!("{t}.{}", &c[1]),
                None => c[1].to_string(),
            });
        }
    }
    (set, commented)
}

/// The rule between `assets/digis-relay.example.toml` and the code: every key the example sets
/// or shows commented out (`# key = ...`) is one the loader accepts, in one of its spellings
/// (snake case or the integration note's camelCase); and every key the loader accepts is in
/// the example, set or commented out, in one of its spellings, so the example stays the place
/// to read each key with its default in context. (That the values it sets load and equal the
/// defaults is `config::tests::the_example_file_documents_every_default`.)
#[test]
fn the_example_configuration_names_exactly_the_accepted_keys() {
    use digis_relay::config::reference::{accepted_keys, file_spellings, keys};
    let text = read("assets/digis-relay.example.toml");
    let (set, commented) = example_keys(&text);
    assert!(set.contains("relay.batch_size") && commented.contains("digis_ca_file"));
    let spellings: BTreeSet<String> = file_spellings().into_iter().collect();
    let unknown: Vec<&String> = set
        .iter()
        .chain(&commented)
        .filter(|k| !spellings.contains(*k))
        .collect();
    assert!(
        unknown.is_empty(),
        "assets/digis-relay.example.toml names keys the loader refuses: {unknown:?}"
    );
    let shown = |k: &str| set.contains(k) || commented.contains(k);
    let keys = keys().expect("MEANINGS agrees with the loader");
    let missing: Vec<String> = accepted_keys()
        .into_iter()
        .filter(|k| {
            let note = keys.iter().find(|d| &d.key == k).and_then(|d| d.note_name);
            !shown(k) && !note.is_some_and(shown)
        })
        .collect();
    assert!(
        missing.is_empty(),
        "assets/digis-relay.example.toml does not show these keys (set or as `# key = ...`): {missing:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Markdown, read just enough: fenced blocks, code spans, links and headings.

/// The Markdown files of the repository: git's tracked ones and new ones it does not ignore;
/// without git, every `*.md` outside `target/` and hidden folders.
fn markdown_files() -> Vec<String> {
    let git = std::process::Command::new("git")
        .current_dir(root())
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
            "--",
            "*.md",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success());
    let mut files: Vec<String> = match git {
        Some(out) => String::from_utf8_lossy(&out.stdout)
            .split('\0')
            .filter(|f| !f.is_empty())
            .map(str::to_string)
            .collect(),
        None => {
            fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
                for entry in std::fs::read_dir(dir).unwrap().flatten() {
                    let path = entry.path();
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if path.is_dir() {
                        if !name.starts_with('.') && name != "target" {
                            walk(&path, base, out);
                        }
                    } else if name.ends_with(".md") {
                        let rel = path.strip_prefix(base).unwrap();
                        out.push(rel.to_string_lossy().into_owned());
                    }
                }
            }
            let mut out = Vec::new();
            walk(&root(), &root(), &mut out);
            out
        }
    };
    files.retain(|f| root().join(f).is_file());
    files.sort();
    files.dedup();
    files
}

/// Each line of `text` outside fenced code blocks, with its number, code spans blanked out.
fn prose_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut fence: Option<String> = None;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        let marker: String = t
            .chars()
            .take_while(|c| *c == '`' || *c == '~')
            .collect::<String>();
        if marker.len() >= 3 && marker.chars().all(|c| c == marker.chars().next().unwrap()) {
            match &fence {
                Some(open) if marker.starts_with(open.as_str()) => fence = None,
                Some(_) => {}
                None => fence = Some(marker),
            }
            continue;
        }
        if fence.is_none() {
            out.push((i + 1, blank_code_spans(line)));
        }
    }
    out
}

/// `a `b` c` → `a     c`: a code span's text is not prose (nor a link, nor a figure).
fn blank_code_spans(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '`' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let run = chars[i..].iter().take_while(|c| **c == '`').count();
        // The closing run of the same length, if any.
        let mut j = i + run;
        let mut close = None;
        while j < chars.len() {
            if chars[j] == '`' {
                let r = chars[j..].iter().take_while(|c| **c == '`').count();
                if r == run {
                    close = Some(j);
                    break;
                }
                j += r;
            } else {
                j += 1;
            }
        }
        match close {
            Some(j) => {
                out.extend(std::iter::repeat_n(' ', j + run - i));
                i = j + run;
            }
            None => {
                out.extend(&chars[i..i + run]);
                i += run;
            }
        }
    }
    out
}

/// GitHub's anchors for the headings of `text` (and `<a id>`/`<a name>` anchors): the heading's
/// text without its markup, lower case, letters, digits, `-` and `_` kept, spaces turned into
/// `-`, everything else dropped; a repeated anchor gets `-1`, `-2`, ...
fn anchors(text: &str) -> BTreeSet<String> {
    let heading = regex::Regex::new(r"^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$").unwrap();
    let link = regex::Regex::new(r"!?\[([^\]]*)\]\([^)]*\)").unwrap();
    let tag = regex::Regex::new(r"<[^>]+>").unwrap();
    let html_anchor = regex::Regex::new(r#"<a\s+(?:id|name)="([^"]+)""#).unwrap();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    let mut fence = false;
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("```") || t.starts_with("~~~") {
            fence = !fence;
            continue;
        }
        if fence {
            continue;
        }
        for c in html_anchor.captures_iter(line) {
            out.insert(c[1].to_string());
        }
        let Some(c) = heading.captures(line) else {
            continue;
        };
        let plain = link.replace_all(&c[1], "$1");
        let plain = tag.replace_all(&plain, "");
        let slug: String = plain
            .to_lowercase()
            .chars()
            .filter_map(|ch| match ch {
                ' ' => Some('-'),
                ch if ch.is_alphanumeric() || ch == '-' || ch == '_' => Some(ch),
                _ => None,
            })
            .collect();
        let n = seen.entry(slug.clone()).or_insert(0);
        out.insert(if *n == 0 {
            slug.clone()
        } else {
            format!("{slug}-{n}")
        });
        *n += 1;
    }
    out
}

/// The link targets of a prose line: inline links and images, reference definitions, and
/// `href`/`src` attributes.
fn link_targets(line: &str) -> Vec<String> {
    thread_local! {
        static PATTERNS: [regex::Regex; 3] = [
            regex::Regex::new(r#"\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)"#).unwrap(),
            regex::Regex::new(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)").unwrap(),
            regex::Regex::new(r#"(?:href|src)="([^"]+)""#).unwrap(),
        ];
    }
    PATTERNS.with(|ps| {
        ps.iter()
            .flat_map(|p| p.captures_iter(line).map(|c| c[1].to_string()))
            .collect()
    })
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

// ---------------------------------------------------------------------------------------------
// (c) Relative links.

/// Every relative link in every Markdown file of the repository (README, ARCHITECTURE,
/// BENCHMARKS, RELIABILITY, docs/**, assets/**, ...) names a file or folder that exists, and
/// a `#anchor` on a Markdown file (or alone, for the same file) names one of its headings by
/// GitHub's rules. Links with a scheme (`https:`, `mailto:`) are not followed; links inside
/// code spans and fenced blocks are not links.
#[test]
fn every_relative_link_resolves() {
    let files = markdown_files();
    assert!(
        files.iter().any(|f| f == "README.md") && files.iter().any(|f| f.starts_with("docs/")),
        "{files:?}"
    );
    let scheme = regex::Regex::new(r"^[A-Za-z][A-Za-z0-9+.-]*:").unwrap();
    let mut anchor_cache: BTreeMap<PathBuf, BTreeSet<String>> = BTreeMap::new();
    let mut broken = Vec::new();
    for file in &files {
        let text = read(file);
        let dir = Path::new(file).parent().unwrap_or(Path::new(""));
        for (n, line) in prose_lines(&text) {
            for target in link_targets(&line) {
                if scheme.is_match(&target) || target.starts_with("//") {
                    continue;
                }
                let (path, anchor) = match target.split_once('#') {
                    Some((p, a)) => (p.to_string(), Some(a.to_string())),
                    None => (target.clone(), None),
                };
                let path = percent_decode(&path);
                let resolved = if path.is_empty() {
                    root().join(file)
                } else if let Some(abs) = path.strip_prefix('/') {
                    root().join(abs)
                } else {
                    root().join(dir).join(&path)
                };
                if !resolved.exists() {
                    broken.push(format!("{file}:{n}: {target}: no such file"));
                    continue;
                }
                let Some(anchor) = anchor.filter(|a| !a.is_empty()) else {
                    continue;
                };
                if resolved.extension().is_none_or(|e| e != "md") {
                    continue;
                }
                let key = resolved.canonicalize().unwrap_or(resolved.clone());
                let known = anchor_cache.entry(key).or_insert_with(|| {
                    anchors(&std::fs::read_to_string(&resolved).unwrap_or_default())
                });
                let anchor = percent_decode(&anchor).to_lowercase();
                if !known.contains(&anchor) {
                    broken.push(format!("{file}:{n}: {target}: no heading #{anchor}"));
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "{} broken relative links:\n{}",
        broken.len(),
        broken.join("\n")
    );
}

#[test]
fn anchors_follow_githubs_rules() {
    let a = anchors(
        "# digis-relay\n## HTTPS, allow_from and the metrics token\n\
         ## `report failures`: the fix list\n## Support search: \"did this member get the SMS?\"\n\
         ```\n# not a heading\n```\n## [Linked](x.md) title\n## Twice\n## Twice\n",
    );
    for s in [
        "digis-relay",
        "https-allow_from-and-the-metrics-token",
        "report-failures-the-fix-list",
        "support-search-did-this-member-get-the-sms",
        "linked-title",
        "twice",
        "twice-1",
    ] {
        assert!(a.contains(s), "{s} not in {a:?}");
    }
    assert!(!a.contains("not-a-heading"));
    assert_eq!(
        link_targets("see [a](docs/x.md#y \"t\") and ![i](p.png), [c](https://e.org)"),
        ["docs/x.md#y", "p.png", "https://e.org"]
    );
    assert_eq!(blank_code_spans("a `[x](y)` b"), "a          b");
}

// ---------------------------------------------------------------------------------------------
// (d) The two commands.

/// The commands of the first fenced block after README.md's `## The two commands`, comments
/// (` # ...`) dropped.
fn readme_two_commands() -> Vec<String> {
    let readme = read("README.md");
    let mut lines = readme
        .lines()
        .skip_while(|l| l.trim() != "## The two commands");
    assert!(
        lines.next().is_some(),
        "README.md has no `## The two commands` section"
    );
    let mut block = lines
        .take_while(|l| !l.starts_with("## "))
        .skip_while(|l| !l.trim_start().starts_with("```"));
    assert!(
        block.next().is_some(),
        "README.md's `## The two commands` has no fenced block"
    );
    block
        .take_while(|l| !l.trim_start().starts_with("```"))
        .map(|l| match l.find(" #") {
            Some(i) => l[..i].trim().to_string(),
            None => l.trim().to_string(),
        })
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// The commands `.ci/run` runs (comment lines dropped), as written.
fn ci_lines() -> Vec<String> {
    read(".ci/run")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// A `cargo run ... -- ARGS` command's ARGS, parsed by the binary's own clap definitions.
fn parse_cargo_run(command: &str) -> digis_relay::cli::Command {
    use clap::FromArgMatches as _;
    let (cargo, args) = command
        .split_once(" -- ")
        .unwrap_or_else(|| panic!("`{command}` is not `cargo run ... -- ARGS`"));
    assert!(cargo.trim().starts_with("cargo run"), "{command}");
    let words = std::iter::once("digis-relay".to_string()).chain(
        args.split_whitespace()
            .map(|w| w.trim_matches('"').trim_matches('\'').to_string()),
    );
    let matches = digis_relay::cli::command()
        .try_get_matches_from(words)
        .unwrap_or_else(|e| panic!("`{command}`: {e}"));
    digis_relay::cli::Cli::from_arg_matches(&matches)
        .unwrap()
        .command
}

/// README.md's two commands are what CI runs: the test command is exactly `.ci/run`'s only
/// `cargo test` line, and the first command is `cargo run ... -- demo`, which `.ci/run` runs
/// as its headless twin (`cargo run ... -- demo --headless ...`); both parse as `demo` with the
/// binary's own clap definitions.
#[test]
fn the_readme_two_commands_are_what_ci_runs() {
    let readme = readme_two_commands();
    assert_eq!(
        readme.len(),
        2,
        "README.md's `## The two commands` block should hold two commands: {readme:?}"
    );
    let (demo, test) = (&readme[0], &readme[1]);
    let ci = ci_lines();
    let ci_tests: Vec<&String> = ci.iter().filter(|l| l.starts_with("cargo test")).collect();
    assert_eq!(
        ci_tests,
        [test],
        "README.md's test command must be exactly the one .ci/run runs"
    );
    match parse_cargo_run(demo) {
        digis_relay::cli::Command::Demo { headless, .. } => {
            assert!(
                !headless,
                "README's first command opens the dashboard: {demo}"
            )
        }
        other => panic!("README's first command is not `demo`: {other:?}"),
    }
    let ci_demo: Vec<String> = ci
        .iter()
        .filter_map(|l| {
            let start = l.find("cargo run")?;
            let rest = &l[start..];
            let end = rest.rfind(')').unwrap_or(rest.len());
            Some(rest[..end].to_string())
        })
        .filter(|c| c.contains(" -- demo"))
        .collect();
    assert_eq!(ci_demo.len(), 1, ".ci/run runs the demo once: {ci_demo:?}");
    match parse_cargo_run(&ci_demo[0]) {
        digis_relay::cli::Command::Demo { headless, .. } => assert!(headless, "{}", ci_demo[0]),
        other => panic!(".ci/run's demo is not `demo`: {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// (e) Figures.

/// The figures of a prose line (code spans and fenced blocks are formats and sample output, not
/// measurements). A figure is a number with a unit of time under a second (ns, µs, us, ms), of
/// size (KB, MB, GB, KiB, MiB, GiB) or of throughput (`rows/s`, `requests/s`, ...), that reads
/// as a measurement: a throughput always; a time or size when the number has a decimal
/// fraction (`36.1 MiB`), when it stands alone in a table cell (`| 289 ms |`), when it directly
/// follows `~`, `≈`, `about`, `around`, `took` or `takes`, or when the line speaks of `p50`,
/// `p90`, `p95`, `p99` or a `median`. Also `N×`/`N x` followed by `faster`, `slower`, `zgrep` or
/// `grep`. Not figures: limits and settings (`at most 64 KiB`, `debounced to one look per
/// 5 ms`), which are contracts the code keeps, not numbers a run measured.
fn figures(line: &str) -> Vec<String> {
    thread_local! {
        static RX: [regex::Regex; 4] = [
            // A number with a unit; group 1 what stands before it, 2 the number, 3 the unit.
            regex::Regex::new(
                r"(?i)(~|≈|\babout |\baround |\btook |\btakes |\|\s*)?(?-i)\b(\d[\d,]*(?:\.\d+)?)[\s\u{a0}\u{2009}\u{202f}]?(ns|µs|us|ms|KB|MB|GB|KiB|MiB|GiB|kB|(?:rows|requests|req|members|lines|MB|MiB|GB)/s)\b",
            )
            .unwrap(),
            regex::Regex::new(r"\b(p50|p90|p95|p99|median)\b").unwrap(),
            regex::Regex::new(r"\b\d[\d.]*\s?(?:×|x)\s+(?:faster|slower|zgrep|grep)\b").unwrap(),
            // The cell after a number with a unit: `| 289 ms |` or `| 289 ms`.
            regex::Regex::new(r"^\s*(?:\||$)").unwrap(),
        ];
    }
    RX.with(|[unit, pct, ratio, cell_end]| {
        let mut out = Vec::new();
        let mut all = Vec::new();
        let percentile_line = pct.is_match(line);
        for c in unit.captures_iter(line) {
            let before = c.get(1).map(|m| m.as_str()).unwrap_or("");
            let number = &c[2];
            let unit_text = &c[3];
            let whole = c.get(0).unwrap();
            let in_cell = before.starts_with('|') && cell_end.is_match(&line[whole.end()..]);
            let measured = unit_text.ends_with("/s")
                || number.contains('.')
                || in_cell
                || (!before.is_empty() && !before.starts_with('|'))
                || percentile_line;
            let f = format!("{number} {unit_text}");
            if measured {
                out.push(f.clone());
            }
            all.push(f);
        }
        // A line that holds one figure is a measurement's sentence: its other numbers with a
        // unit (`51–201 µs of CPU per row` beside `9,097 rows/s`) are figures too.
        if !out.is_empty() {
            out = all;
        }
        out.extend(ratio.find_iter(line).map(|m| m.as_str().to_string()));
        out
    })
}

#[test]
fn figures_are_told_from_limits() {
    for (line, expected) in [
        (
            "a drain runs at 9,097 rows/s on PostgreSQL",
            vec!["9,097 rows/s"],
        ),
        ("uses 36.1–49.8 MiB at its peak", vec!["49.8 MiB"]),
        (
            "runs at 8,581 rows/s; the relay uses 51–201 µs of CPU per row",
            vec!["8,581 rows/s", "201 µs"],
        ),
        ("| Failures groups | 289 ms |", vec!["289 ms"]),
        (
            "| `--name anna` | 55 ms | 201 ms |",
            vec!["55 ms", "201 ms"],
        ),
        ("save → send p50 / p99 is 2 ms / 4 ms", vec!["2 ms", "4 ms"]),
        ("it is about 23 MB, as packaged", vec!["23 MB"]),
        ("search is 12× faster than zgrep", vec!["12× faster"]),
        ("at most the first 64 KiB of a body is read", vec![]),
        ("debounced to one look per 5 ms", vec![]),
        ("retried with backoff: 100 ms", vec![]),
        ("stalls a client on 50 MB", vec![]),
        ("3 × its own recorded heartbeat", vec![]),
    ] {
        assert_eq!(figures(line), expected, "{line}");
    }
}

/// Benchmark and reliability figures live in BENCHMARKS.md and RELIABILITY.md only (issue
/// 29): README.md, ARCHITECTURE.md and docs/** hold none ([`figures`] says what one is).
/// docs/decisions is allowed: a decision records what was measured when it was taken, and
/// those figures are history, not claims about today's code.
#[test]
fn figures_live_in_benchmarks_and_reliability_only() {
    let files: Vec<String> = markdown_files()
        .into_iter()
        .filter(|f| {
            f == "README.md"
                || f == "ARCHITECTURE.md"
                || (f.starts_with("docs/") && !f.starts_with("docs/decisions/"))
        })
        .collect();
    assert!(files.iter().any(|f| f == "ARCHITECTURE.md"), "{files:?}");
    let mut found = Vec::new();
    for file in &files {
        for (n, line) in prose_lines(&read(file)) {
            for f in figures(&line) {
                found.push(format!("{file}:{n}: {f}"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "{} figures outside BENCHMARKS.md and RELIABILITY.md (move them there, or link there):\n{}",
        found.len(),
        found.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// (f) Decisions.

/// Each decision is written once: every `docs/decisions/NNNN-title.md` has a number and a title
/// (its `# NNNN. Title` heading) no other has, and docs/decisions/README.md links it; README.md
/// and ARCHITECTURE.md hold no design-decision section of their own (a heading naming design
/// decisions may stand only over a short paragraph linking docs/decisions).
#[test]
fn each_decision_is_written_once() {
    let dir = root().join("docs/decisions");
    let name_rx = regex::Regex::new(r"^(\d{4})-[a-z0-9-]+\.md$").unwrap();
    let title_rx = regex::Regex::new(r"^# (\d{4})\. (.+)$").unwrap();
    let index = read("docs/decisions/README.md");
    let mut numbers: BTreeMap<String, String> = BTreeMap::new();
    let mut titles: BTreeMap<String, String> = BTreeMap::new();
    let mut problems = Vec::new();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "README.md")
        .collect();
    names.sort();
    assert!(names.len() >= 41, "{names:?}");
    for name in &names {
        let Some(c) = name_rx.captures(name) else {
            problems.push(format!("{name}: not NNNN-title.md"));
            continue;
        };
        let number = c[1].to_string();
        let text = read(&format!("docs/decisions/{name}"));
        let first = text.lines().next().unwrap_or("");
        match title_rx.captures(first) {
            Some(t) if t[1] == number => {
                let title = t[2].trim().to_string();
                if let Some(other) = titles.insert(title.clone(), name.clone()) {
                    problems.push(format!("{name}: title {title:?} is also {other}'s"));
                }
            }
            _ => problems.push(format!(
                "{name}: first line is not `# {number}. Title`: {first:?}"
            )),
        }
        if let Some(other) = numbers.insert(number.clone(), name.clone()) {
            problems.push(format!("{name}: number {number} is also {other}'s"));
        }
        if !index.contains(&format!("]({name})")) {
            problems.push(format!("{name}: not linked from docs/decisions/README.md"));
        }
    }
    let heading = regex::Regex::new(r"(?i)^#{1,6}\s+.*design decisions").unwrap();
    for file in ["README.md", "ARCHITECTURE.md"] {
        let text = read(file);
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if !heading.is_match(line) {
                continue;
            }
            let body: Vec<&str> = lines[i + 1..]
                .iter()
                .take_while(|l| !l.starts_with('#'))
                .filter(|l| !l.trim().is_empty())
                .copied()
                .collect();
            let words: usize = body.iter().map(|l| l.split_whitespace().count()).sum();
            if words > 80 || !body.iter().any(|l| l.contains("docs/decisions")) {
                problems.push(format!(
                    "{file}:{}: `{line}` has a body of its own ({words} words): decisions live in docs/decisions; leave a link",
                    i + 1
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// (g) Lengths, words, alerts and screenshots.

/// The README is read in the first hour and ARCHITECTURE.md in one sitting: ~2,000 and ~3,000
/// words (counted as `wc -w` counts).
#[test]
fn the_readme_and_the_architecture_stay_short() {
    for (file, limit) in [("README.md", 2_000), ("ARCHITECTURE.md", 3_000)] {
        let words = read(file).split_whitespace().count();
        assert!(
            words <= limit,
            "{file} has {words} words, more than {limit}: move the detail to docs/"
        );
    }
}

/// Every `.rs` file under `dir` (relative to the repository), as (its path, its text).
fn rust_sources(dir: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![root().join(dir)];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(root()).unwrap().display().to_string();
                out.push((rel, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    out
}

/// "The seed" is what the membership system's integration note was called while the relay was
/// designed; a reader does not know the word. Nothing a reader sees uses it: the documents
/// (decisions aside, where "seed" is benchmark data) and the binary's own text, its string
/// literals.
#[test]
fn no_reader_meets_the_word_seed() {
    let word = regex::Regex::new(r"(?i)\bseed('s)?\b").unwrap();
    let mut problems = Vec::new();
    for file in markdown_files() {
        if file.starts_with("docs/decisions/")
            || file == "BENCHMARKS.md"
            || file == "RELIABILITY.md"
            || file.starts_with("tests/")
        {
            continue;
        }
        for (n, line) in prose_lines(&read(&file)) {
            if word.is_match(&line) {
                problems.push(format!("{file}:{n}: {}", line.trim()));
            }
        }
    }
    let literal = regex::Regex::new(r#""([^"\\]|\\.)*""#).unwrap();
    for (rel, text) in rust_sources("src") {
        // Over the whole file, comment lines blanked, so a string continued over lines is
        // read whole.
        let code: String = text
            .lines()
            .map(|l| {
                if l.trim_start().starts_with("//") {
                    ""
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        for m in literal.find_iter(&code) {
            if word.is_match(m.as_str()) {
                let line = code[..m.start()].matches('\n').count() + 1;
                problems.push(format!("{rel}:{line}: {}", m.as_str()));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "say \"the membership system's integration note\" instead:\n{}",
        problems.join("\n")
    );
}

/// Every alert that ships in assets/prometheus-rules.yml has its section in the runbook, with
/// what it means and what to do, and the runbook names no alert that does not ship.
#[test]
fn every_alert_has_its_runbook_section() {
    let rules = read("assets/prometheus-rules.yml");
    let runbook = read("docs/runbook.md");
    let alert = regex::Regex::new(r"(?m)^\s*-\s*alert:\s*(\S+)\s*$").unwrap();
    let shipped: BTreeSet<String> = alert
        .captures_iter(&rules)
        .map(|c| c[1].to_string())
        .collect();
    assert!(
        shipped.len() >= 10,
        "alerts read from the rules: {shipped:?}"
    );
    let heading = regex::Regex::new(r"(?m)^### (Digis\S+)\s*$").unwrap();
    // Each section's name and where its body starts.
    let sections: BTreeMap<String, usize> = heading
        .captures_iter(&runbook)
        .map(|c| (c[1].to_string(), c.get(0).unwrap().end()))
        .collect();
    assert_eq!(
        shipped,
        sections.keys().cloned().collect::<BTreeSet<_>>(),
        "each alert in assets/prometheus-rules.yml is a `### Name` section of docs/runbook.md"
    );
    for (name, &start) in &sections {
        let body = &runbook[start..];
        let body = &body[..body.find("\n#").unwrap_or(body.len())];
        for part in ["**It means**", "**Do:**"] {
            assert!(
                body.contains(part),
                "docs/runbook.md, {name}: no {part} part:\n{body}"
            );
        }
    }
}

/// The screenshots come from `scripts/screenshots`: the views it shoots, the pictures and texts
/// in docs/screens/ and the pictures docs/screens.md shows are one set, and each key the help
/// capture lists is still described so by the keymap, so a view added, renamed or re-keyed
/// without shooting again fails here.
#[test]
fn the_screenshots_are_the_scripts_and_current() {
    let script = read("scripts/screenshots");
    let shot = regex::Regex::new(r"\bshot ([a-z-]+)").unwrap();
    let shot_names: BTreeSet<String> = script
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim_start().starts_with("shot()"))
        .flat_map(|l| {
            shot.captures_iter(l)
                .map(|c| c[1].to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    let view = regex::Regex::new(r#"(?m)^\s*"([a-z-]+)\|"#).unwrap();
    let listed: BTreeSet<String> = view
        .captures_iter(&script)
        .map(|c| c[1].to_string())
        .collect();
    let mut pngs = BTreeSet::new();
    let mut txts = BTreeSet::new();
    for entry in std::fs::read_dir(root().join("docs/screens"))
        .unwrap()
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".png") {
            pngs.insert(stem.to_string());
        } else if let Some(stem) = name.strip_suffix(".txt") {
            txts.insert(stem.to_string());
        } else {
            panic!("docs/screens/{name}: neither a picture nor its text");
        }
    }
    let image = regex::Regex::new(r"!\[[^\]]*\]\(screens/([a-z-]+)\.png\)").unwrap();
    let shown: BTreeSet<String> = image
        .captures_iter(&read("docs/screens.md"))
        .map(|c| c[1].to_string())
        .collect();
    assert!(
        shot_names.len() >= 9,
        "shots read from the script: {shot_names:?}"
    );
    assert_eq!(
        shot_names, listed,
        "the script shoots and lists the same views"
    );
    assert_eq!(
        shot_names, pngs,
        "docs/screens/*.png are the script's shots"
    );
    assert_eq!(
        shot_names, txts,
        "docs/screens/*.txt are the script's shots"
    );
    assert_eq!(
        shot_names, shown,
        "docs/screens.md shows the script's shots"
    );

    // The help capture: each `│ keys   description │` line inside its box.
    let keymap: String = rust_sources("src/tui")
        .into_iter()
        .map(|(_, text)| text)
        .collect();
    let help = read("docs/screens/help.txt");
    // The box's left edge is where its title starts; each line inside it is
    // `│ keys  description │` from that column on.
    let column = help
        .lines()
        .find_map(|l| l.find("┌ Keys").map(|at| l[..at].chars().count()))
        .expect("help.txt shows the Keys box");
    let mut described = 0;
    let mut stale = Vec::new();
    for line in help.lines() {
        let inside: String = line.chars().skip(column).collect();
        let Some(row) = inside.strip_prefix("│ ") else {
            continue;
        };
        let row = row.split('│').next().unwrap_or("").trim_end();
        if row.starts_with(' ') {
            continue;
        }
        let Some((keys, description)) = row.split_once("  ") else {
            continue;
        };
        let description = description.trim_start();
        described += 1;
        if !keymap.contains(&format!("\"{description}\"")) {
            stale.push(format!("{keys} → {description}"));
        }
    }
    assert!(described >= 20, "bindings read from help.txt: {described}");
    assert!(
        stale.is_empty(),
        "docs/screens/help.txt lists keys the keymap no longer describes so; run scripts/screenshots:\n{}",
        stale.join("\n")
    );
}

/// The tests ARCHITECTURE.md names as the guards of its invariants exist: each `file::test`
/// (a module of tests/it, or a path in src/ for a unit test) has that function or module.
#[test]
fn the_invariants_name_tests_that_exist() {
    let text = read("ARCHITECTURE.md");
    let start = text.find("## Invariants").expect("an Invariants section");
    let section = &text[start..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |e| e + 3)];
    let path = regex::Regex::new(r"`([a-z_]+(?:::[a-z0-9_]+)+)`").unwrap();
    let mut checked = 0;
    let mut missing = Vec::new();
    for c in path.captures_iter(section) {
        if &c[1] == "file::test" {
            continue; // the section's own notation
        }
        let parts: Vec<&str> = c[1].split("::").collect();
        let (item, module) = parts.split_last().unwrap();
        let candidates = [
            format!("tests/it/{}.rs", module.join("/")),
            format!("src/{}.rs", module.join("/")),
            format!("src/{}/mod.rs", module.join("/")),
        ];
        let Some(file) = candidates.iter().find(|f| root().join(f).is_file()) else {
            missing.push(format!("{}: no file for its module", &c[1]));
            continue;
        };
        let code = read(file);
        checked += 1;
        if !code.contains(&format!("fn {item}(")) && !code.contains(&format!("mod {item} ")) {
            missing.push(format!(
                "{}: no `fn {item}` or `mod {item}` in {file}",
                &c[1]
            ));
        }
    }
    assert!(
        checked >= 20,
        "test names read from the Invariants: {checked}"
    );
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}
