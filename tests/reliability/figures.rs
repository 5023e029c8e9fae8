//! Collects the figures the long runs wrote (`$RELIABILITY_OUT/*.json`) into one JSON file and
//! the figures section of RELIABILITY.md. Run by `scripts/reliability` after the runs.
use std::path::PathBuf;

use serde_json::Value;

const BEGIN: &str = "<!-- figures:begin (written by scripts/reliability) -->";
const END: &str = "<!-- figures:end -->";

#[test]
#[ignore = "run by scripts/reliability after the long runs"]
fn render_figures() {
    let dir = PathBuf::from(std::env::var_os("RELIABILITY_OUT").expect("RELIABILITY_OUT"));
    let mut runs: Vec<Value> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            let name = p.file_name()?.to_str()?.to_string();
            (name.ends_with(".json") && name != "figures.json")
                .then(|| serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap())
        })
        .collect();
    runs.sort_by_key(|r| format!("{}-{}", r["test"], r["database"]));
    let when = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
    std::fs::write(
        dir.join("figures.json"),
        serde_json::to_string_pretty(&serde_json::json!({"measured": when, "runs": runs})).unwrap(),
    )
    .unwrap();
    let md = markdown(&runs, &when);
    println!("{md}");
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("RELIABILITY.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let (Some(b), Some(e)) = (text.find(BEGIN), text.find(END)) else {
        panic!("RELIABILITY.md lacks the figures markers");
    };
    let new = format!("{}{BEGIN}\n{md}{}", &text[..b], &text[e..]);
    std::fs::write(&path, new).unwrap();
}

fn n(v: &Value) -> String {
    match v {
        Value::Null => "–".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn markdown(runs: &[Value], when: &str) -> String {
    let mut md =
        format!("Measured {when} on the release binary (`target/release/digis-relay`).\n\n");
    let of = |t: &'static str| runs.iter().filter(move |r| r["test"] == t);
    md.push_str("| SIGKILL drain | rows | kills | lost | stuck `sending` | duplicates | answers not committed | answered before a kill: max ms | answered after the kill: count (max ms) | duplicates outside the answer→commit window | requests | leaks | s |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for r in of("kills") {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} ({}) | {} | {} | {} | {} |\n",
            n(&r["database"]),
            n(&r["rows"]),
            n(&r["kills"]),
            n(&r["lost"]),
            n(&r["stuck_sending"]),
            n(&r["duplicates"]),
            n(&r["uncommitted_answers"]),
            n(&r["max_answer_to_kill_ms"]),
            n(&r["answered_after_kill"]),
            n(&r["max_kill_to_answer_ms"]),
            n(&r["duplicates_outside_window"]),
            n(&r["requests"]),
            n(&r["leaks"]),
            n(&r["seconds"])
        ));
    }
    md.push_str("\n| Fault-mix soak | rows | requests | faults injected | Retry-After checked | requests before Retry-After | min slack ms | attempts max / mean | duplicates | peak RSS MiB | leaks | s |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for r in of("soak") {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} / {} | {} | {} | {} | {} |\n",
            n(&r["database"]),
            n(&r["rows"]),
            n(&r["requests"]),
            n(&r["faults_total"]),
            n(&r["retry_afters"]),
            n(&r["requests_before_retry_after"]),
            n(&r["min_retry_after_slack_ms"]),
            n(&r["attempts_max"]),
            n(&r["attempts_mean"]),
            n(&r["duplicates"]),
            n(&r["peak_rss_mib"]),
            n(&r["leaks"]),
            n(&r["seconds"])
        ));
    }
    if let Some(r) = of("soak").next() {
        md.push_str("\nFaults injected per rule (first soak run):\n\n");
        if let Some(f) = r["faults"].as_object() {
            for (rule, used) in f {
                md.push_str(&format!("- `{rule}`: {}\n", n(used)));
            }
        }
    }
    md.push_str("\n| PostgreSQL restarts | rows | restarts | restart ms | lost | stuck `sending` | duplicates | leaks | s |\n|---|---|---|---|---|---|---|---|---|\n");
    for r in of("pg_restart") {
        md.push_str(&format!(
            "| postgres | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            n(&r["rows"]),
            n(&r["restarts"]),
            n(&r["restart_ms"]),
            n(&r["lost"]),
            n(&r["stuck_sending"]),
            n(&r["duplicates"]),
            n(&r["leaks"]),
            n(&r["seconds"])
        ));
    }
    md.push_str("\n| Several relays (PostgreSQL) | rows | relays, clocks | kills | outage ms (lease ms) | host deletes | lost | stuck `sending` | stale completions | duplicates | answers not committed | duplicates outside the answer→commit window | requests | leaks | s |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for r in of("multi_relay") {
        md.push_str(&format!(
            "| postgres | {} | {}: {} | {} | {} ({}) | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            n(&r["rows"]),
            n(&r["relays"]),
            n(&r["clocks"]),
            n(&r["kills"]),
            n(&r["outage_ms"]),
            n(&r["lease_ms"]),
            n(&r["host_deletes"]),
            n(&r["lost"]),
            n(&r["stuck_sending"]),
            n(&r["stale_completions"]),
            n(&r["duplicates"]),
            n(&r["uncommitted_answers"]),
            n(&r["duplicates_outside_window"]),
            n(&r["requests"]),
            n(&r["leaks"]),
            n(&r["seconds"])
        ));
    }
    let leaks: u64 = runs.iter().filter_map(|r| r["leaks"].as_u64()).sum();
    let bytes: u64 = runs.iter().filter_map(|r| r["leak_bytes"].as_u64()).sum();
    md.push_str(&format!(
        "\nLeak scan: {leaks} finding(s) in {bytes} bytes of output, logs and database text written by these runs.\n"
    ));
    md
}
