//! The layering ARCHITECTURE.md's code map promises, read off the source: which module names
//! which (`crate::…` and `super::…` paths outside test code), with no circle between the
//! top-level modules or between the dashboard's parts, and nothing below the relay naming it.
//! A circle is where a change starts to need every file at once; this test says which edge
//! closed it.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

/// Each source file's module path (`src/tui/view/outbox.rs` → `["tui", "view", "outbox"]`).
fn sources() -> Vec<(Vec<String>, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("reading src") {
            let path = entry.expect("reading src").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&root, &mut files);
    files
        .into_iter()
        .filter_map(|path| {
            let rel = path.strip_prefix(&root).ok()?.with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(
                parts.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                parts.pop();
            }
            if parts.first().is_some_and(|p| p == "bin") {
                return None;
            }
            let text = std::fs::read_to_string(&path).ok()?;
            Some((parts, code_of(&text)))
        })
        .collect()
}

/// The file without its tests (they may reach anywhere) and without comments (a doc link is
/// not a dependency).
fn code_of(text: &str) -> String {
    // Only the item under each `#[cfg(test)]` is left out: a `mod x;` (or any item ending on
    // its first line), or a block up to the line that closes it, `}` at the attribute's own
    // indentation (rustfmt's layout; braces inside strings are not counted). A test module
    // declared near the top must not hide the code after it.
    let mut kept = String::with_capacity(text.len());
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "#[cfg(test)]" {
            kept.push_str(line);
            kept.push('\n');
            continue;
        }
        let indent = &line[..line.len() - line.trim_start().len()];
        // The item's first line, past any further attributes.
        let Some(item) = lines.by_ref().find(|l| !l.trim_start().starts_with("#[")) else {
            break;
        };
        let item = item.trim_end();
        if item.ends_with(';') || (item.contains('{') && item.ends_with('}')) {
            continue;
        }
        let close = format!("{indent}}}");
        for rest in lines.by_ref() {
            if rest.trim_end() == close {
                break;
            }
        }
    }
    kept.lines()
        .map(|line| match line.find("//") {
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths a piece of code names from `start` on: `a::b::C`, or each member of a
/// `{a::b, c::{d, e}}` group, as lists of segments.
fn paths_at(code: &str, start: usize) -> Vec<Vec<String>> {
    let bytes = code.as_bytes();
    let mut i = start;
    let mut prefix = Vec::new();
    loop {
        if code[i..].starts_with('{') {
            return group_at(code, i, &prefix);
        }
        let word_start = i;
        while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
            i += 1;
        }
        if i == word_start {
            return vec![prefix];
        }
        prefix.push(code[word_start..i].to_string());
        if !code[i..].starts_with("::") {
            return vec![prefix];
        }
        i += 2;
    }
}

/// The members of the `{…}` group at `open`, each behind `prefix`.
fn group_at(code: &str, open: usize, prefix: &[String]) -> Vec<Vec<String>> {
    let mut depth = 0;
    let mut item_start = open + 1;
    let mut out = Vec::new();
    for (offset, c) in code[open..].char_indices() {
        let at = open + offset;
        match c {
            '{' => depth += 1,
            '}' | ',' if depth == 1 => {
                let item = code[item_start..at].trim();
                for rest in paths_at(item, 0) {
                    out.push(prefix.iter().cloned().chain(rest).collect());
                }
                item_start = at + 1;
                if c == '}' {
                    break;
                }
            }
            '}' => depth -= 1,
            _ => {}
        }
    }
    out
}

/// Which modules each file names, cut to `depth` segments below `within`.
fn graph(within: &[&str], depth: usize) -> Graph {
    let mut edges = Graph::new();
    for (module, code) in sources() {
        if module.len() < within.len() + depth || module[..within.len()] != *within {
            continue;
        }
        let me = module[..within.len() + depth].join("::");
        for (at, _) in code.match_indices("crate::") {
            if at > 0 && code.as_bytes()[at - 1] == b'$' {
                continue;
            }
            for path in paths_at(&code, at + "crate::".len()) {
                add(&mut edges, &me, &path, within, depth);
            }
        }
        for (at, _) in code.match_indices("super::") {
            let preceded_by_super = at >= 7 && &code[at - 7..at] == "super::";
            if preceded_by_super || at > 0 && code.as_bytes()[at - 1] == b'_' {
                continue;
            }
            // `super` is the module one up whether the file is `x.rs` or `x/mod.rs`.
            let mut base = module.clone();
            let mut rest = &code[at..];
            while let Some(r) = rest.strip_prefix("super::") {
                base.pop();
                rest = r;
            }
            let offset = code.len() - rest.len();
            for path in paths_at(&code, offset) {
                let full: Vec<String> = base.iter().cloned().chain(path).collect();
                add(&mut edges, &me, &full, within, depth);
            }
        }
    }
    edges
}

fn add(edges: &mut Graph, me: &str, path: &[String], within: &[&str], depth: usize) {
    if path.len() < within.len() + depth || path[..within.len()] != *within {
        return;
    }
    let target = path[..within.len() + depth].join("::");
    if target != me {
        edges.entry(me.to_string()).or_default().insert(target);
    }
}

/// The circles: strongly connected components of more than one module (Tarjan).
fn circles(edges: &Graph) -> Vec<Vec<String>> {
    struct Walk<'a> {
        edges: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(w: &mut Walk<'a>, v: &'a str) {
        let n = w.index.len();
        w.index.insert(v, n);
        w.low.insert(v, n);
        w.stack.push(v);
        for t in w.edges.get(v).into_iter().flatten() {
            let t = t.as_str();
            if !w.index.contains_key(t) {
                visit(w, t);
                let l = w.low[v].min(w.low[t]);
                w.low.insert(v, l);
            } else if w.stack.contains(&t) {
                let l = w.low[v].min(w.index[t]);
                w.low.insert(v, l);
            }
        }
        if w.low[v] == w.index[v] {
            let mut component = Vec::new();
            while let Some(t) = w.stack.pop() {
                component.push(t.to_string());
                if t == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                w.found.push(component);
            }
        }
    }
    let mut w = Walk {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !w.index.contains_key(v.as_str()) {
            visit(&mut w, v);
        }
    }
    w.found
}

/// One shortest way round a circle, from its first module back to it: the edge to cut is on it.
fn describe(edges: &Graph, circle: &[String]) -> String {
    let start = &circle[0];
    let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start.as_str()]);
    while let Some(v) = queue.pop_front() {
        for t in edges.get(v).into_iter().flatten() {
            if !circle.contains(t) {
                continue;
            }
            if t == start {
                let mut path = vec![start.as_str(), v];
                let mut at = v;
                while at != start {
                    at = came_from[at];
                    path.push(at);
                }
                path.reverse();
                return format!(
                    "{} (of {} modules in the circle)",
                    path.join(" -> "),
                    circle.len()
                );
            }
            if !came_from.contains_key(t.as_str()) {
                came_from.insert(t, v);
                queue.push_back(t);
            }
        }
    }
    circle.join(", ")
}

fn assert_no_circle(within: &[&str], depth: usize) {
    let edges = graph(within, depth);
    let found = circles(&edges);
    let text: Vec<String> = found.iter().map(|c| describe(&edges, c)).collect();
    assert!(
        found.is_empty(),
        "modules under `crate::{}` name each other in a circle: {}",
        within.join("::"),
        text.join(" | ")
    );
}

#[test]
fn the_top_level_modules_name_each_other_without_a_circle() {
    assert_no_circle(&[], 1);
}

/// Inside every folder (the storage, the relay, the dashboard and its screens, …) the same
/// holds one level down: a module's parts form no circle either.
#[test]
fn the_parts_of_each_module_name_each_other_without_a_circle() {
    let folders: BTreeSet<Vec<String>> = sources()
        .into_iter()
        .flat_map(|(module, _)| (0..module.len()).map(move |n| module[..n].to_vec()))
        .filter(|folder| !folder.is_empty())
        .collect();
    let mut found = Vec::new();
    for folder in &folders {
        let within: Vec<&str> = folder.iter().map(String::as_str).collect();
        let edges = graph(&within, 1);
        for circle in circles(&edges) {
            found.push(describe(&edges, &circle));
        }
    }
    assert!(
        found.is_empty(),
        "parts of a module name each other in a circle: {}",
        found.join(" | ")
    );
}

#[test]
fn storage_and_health_do_not_name_the_relay() {
    let edges = graph(&[], 1);
    for low in ["storage", "health", "domain", "clock"] {
        let up: Vec<&String> = edges
            .get(low)
            .into_iter()
            .flatten()
            .filter(|t| t.as_str() == "relay")
            .collect();
        assert!(
            up.is_empty(),
            "`crate::{low}` names `crate::relay`, a layer above it"
        );
    }
}

#[test]
fn the_reader_sees_groups_and_nested_paths() {
    let code =
        "use crate::{storage::Storage, relay::{decide, Pulse}};\nlet x = crate::health::read();";
    let mut found: Vec<Vec<String>> = code
        .match_indices("crate::")
        .flat_map(|(at, _)| paths_at(code, at + 7))
        .collect();
    found.sort();
    let heads: BTreeSet<&str> = found.iter().map(|p| p[0].as_str()).collect();
    assert_eq!(heads, BTreeSet::from(["health", "relay", "storage"]));
    assert!(found.contains(&vec!["relay".to_string(), "Pulse".to_string()]));
}

/// A test module declared near the top of a file hides only itself from the check.
#[test]
fn only_the_test_items_are_left_out_of_the_code_read() {
    let code = code_of(
        "use crate::a::X;\n#[cfg(test)]\n#[path = \"p.rs\"]\nmod props;\n#[cfg(test)]\nfn one() {}\nuse crate::b::Y;\n#[cfg(test)]\nmod tests {\n    use crate::c::Z;\n    fn f() { let _ = \"{ unbalanced\"; }\n    #[cfg(test)]\n    fn g() {\n    }\n}\nuse crate::d::W;\n",
    );
    for kept in ["crate::a", "crate::b", "crate::d"] {
        assert!(code.contains(kept), "{kept} lost from:\n{code}");
    }
    assert!(
        !code.contains("crate::c"),
        "a test module's import was read:\n{code}"
    );
}

/// ARCHITECTURE.md's code map is the rule, not a picture of it: every top-level module of
/// `src/` has its row, and names only what its row's "may import" column allows (the modules
/// it lists, or every module of the rows above it where it says so; "anything" is not checked).
#[test]
fn the_code_map_says_what_each_module_may_import() {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("ARCHITECTURE.md"))
            .expect("reading ARCHITECTURE.md");
    let tick = regex::Regex::new(r"`([^`]+)`").unwrap();
    let module_of = |path: &str| -> Option<String> {
        let rest = path.strip_prefix("src/")?;
        let name = rest.split('/').next()?;
        let name = name.trim_end_matches('*').trim_end_matches(".rs");
        (!name.is_empty()).then(|| name.to_string())
    };
    let mut rows: Vec<(BTreeSet<String>, String)> = Vec::new();
    let mut in_map = false;
    for line in text.lines() {
        if line.starts_with("| folder |") {
            in_map = true;
            continue;
        }
        if !in_map || line.starts_with("|---") {
            continue;
        }
        if !line.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").collect();
        assert_eq!(cells.len(), 3, "a code-map row of three cells: {line}");
        let modules: BTreeSet<String> = tick
            .captures_iter(cells[0])
            .filter_map(|c| module_of(&c[1]))
            .collect();
        rows.push((modules, cells[2].to_string()));
    }
    assert!(rows.len() >= 10, "code-map rows read: {}", rows.len());
    let edges = graph(&[], 1);
    let known: BTreeSet<String> = sources()
        .into_iter()
        .filter_map(|(module, _)| module.first().cloned())
        .collect();
    let mapped: BTreeSet<String> = rows.iter().flat_map(|(m, _)| m.iter().cloned()).collect();
    let unmapped: Vec<&String> = known.difference(&mapped).collect();
    assert!(
        unmapped.is_empty(),
        "modules without a code-map row: {unmapped:?}"
    );

    let mut above: BTreeSet<String> = BTreeSet::new();
    let mut problems = Vec::new();
    for (modules, may) in &rows {
        if modules.is_empty() || may.contains("anything") {
            above.extend(modules.iter().cloned());
            continue;
        }
        let mut allowed: BTreeSet<String> =
            tick.captures_iter(may).map(|c| c[1].to_string()).collect();
        if may.contains("above") {
            allowed.extend(above.iter().cloned());
        }
        allowed.extend(modules.iter().cloned());
        for module in modules {
            for target in edges.get(module).into_iter().flatten() {
                if known.contains(target) && !allowed.contains(target) {
                    problems.push(format!("`{module}` names `{target}`; its row allows {may}"));
                }
            }
        }
        above.extend(modules.iter().cloned());
    }
    assert!(
        problems.is_empty(),
        "ARCHITECTURE.md's code map and the code disagree:\n{}",
        problems.join("\n")
    );
}
