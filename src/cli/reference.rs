//! The command-line reference (docs/reference/cli.md) as Markdown, read off the same clap
//! definitions as `--help`, the man pages and the completions ([`super::args::command`]), so it
//! cannot describe another version's commands. `tests/it/docs.rs` compares the committed file
//! with this text; nothing in the binary calls it.
//!
//! Walked by hand rather than with a crate: a few dozen lines give the layout the other
//! reference pages use, and the release binary gains nothing.
use std::fmt::Write as _;

/// The command that rewrites the committed file from this generator (defined beside the
/// configuration's generator: `config` may not name `cli`).
pub use crate::config::reference::REGENERATE;

/// The whole page.
pub fn markdown() -> String {
    let mut root = super::args::command();
    // Built as clap builds it to parse: global options propagated, each command's usage line
    // with its full name (`digis-relay report failures`).
    root.build();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Command-line reference\n\n\
         Generated from the clap definitions, the same source as `digis-relay --help`, the man \
         pages (`digis-relay man`) and the shell completions (`digis-relay completions SHELL`). \
         Do not edit it by hand: `{REGENERATE}` rewrites it, and that test fails while it \
         differs.\n\n\
         Every command also takes `-h`/`--help` (the same text) and `-V`/`--version`.\n"
    );
    let mut commands = Vec::new();
    collect(&root, &mut commands);
    out.push_str("## Commands\n\n");
    for c in &commands[1..] {
        let name = c.get_bin_name().unwrap_or(c.get_name());
        let _ = writeln!(
            out,
            "- [`{name}`](#{}): {}",
            slug(name),
            sentence(&c.get_about().map(|s| s.to_string()).unwrap_or_default())
        );
    }
    out.push('\n');
    for (i, c) in commands.into_iter().enumerate() {
        section(&mut out, c, i == 0);
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

/// `cmd` and its visible subcommands, depth first, in the help's order.
fn collect<'a>(cmd: &'a clap::Command, out: &mut Vec<&'a clap::Command>) {
    out.push(cmd);
    for sc in cmd.get_subcommands() {
        if !sc.is_hide_set() && sc.get_name() != "help" {
            collect(sc, out);
        }
    }
}

fn about(cmd: &clap::Command) -> String {
    cmd.get_long_about()
        .or(cmd.get_about())
        .map(|s| s.to_string())
        .unwrap_or_default()
}

/// `text` on one line, ending as a sentence does: clap drops the full stop of a one-sentence
/// help, and the reference appends more sentences after it.
fn sentence(text: &str) -> String {
    let mut s = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if !s.is_empty() && !s.ends_with(['.', '?', '!', ':']) {
        s.push('.');
    }
    s
}

/// GitHub's anchor for a heading of inline code (`digis-relay report failures`).
fn slug(heading: &str) -> String {
    heading
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn section(out: &mut String, cmd: &clap::Command, is_root: bool) {
    let name = cmd.get_bin_name().unwrap_or(cmd.get_name());
    let _ = writeln!(out, "## `{name}`\n");
    for para in about(cmd).split("\n\n") {
        let para = sentence(para);
        if !para.is_empty() {
            let _ = writeln!(out, "{para}\n");
        }
    }
    let usage = cmd
        .clone()
        .render_usage()
        .to_string()
        .trim_start_matches("Usage:")
        .trim()
        .to_string();
    let _ = writeln!(out, "```\n{usage}\n```\n");
    let args: Vec<&clap::Arg> = cmd
        .get_arguments()
        .filter(|a| !a.is_hide_set() && (is_root || !a.is_global_set()))
        .filter(|a| {
            !matches!(
                a.get_action(),
                clap::ArgAction::Help
                    | clap::ArgAction::HelpShort
                    | clap::ArgAction::HelpLong
                    | clap::ArgAction::Version
            )
        })
        .collect();
    let (positional, options): (Vec<_>, Vec<_>) = args.into_iter().partition(|a| a.is_positional());
    for (title, list) in [("Arguments", positional), ("Options", options)] {
        if list.is_empty() {
            continue;
        }
        let title = if is_root && title == "Options" {
            "Global options (taken by every command that reads the configuration, before or after its name)"
        } else {
            title
        };
        let _ = writeln!(out, "{title}:\n");
        for a in list {
            let _ = writeln!(out, "- {}", arg_line(a));
        }
        out.push('\n');
    }
}

/// `` `--format <FORMAT>`: help text. Default: `json`. Values: `json`, `csv`. ``
fn arg_line(a: &clap::Arg) -> String {
    let names = a
        .get_value_names()
        .map(|v| v.iter().map(|n| format!("<{n}>")).collect::<Vec<_>>())
        .unwrap_or_else(|| vec![format!("<{}>", a.get_id().as_str().to_uppercase())]);
    let many = matches!(a.get_action(), clap::ArgAction::Append)
        || a.get_num_args().is_some_and(|n| n.max_values() > 1);
    let takes_value = a.get_action().takes_values();
    let mut spell = match (a.get_short(), a.get_long()) {
        (Some(s), Some(l)) => format!("-{s}, --{l}"),
        (None, Some(l)) => format!("--{l}"),
        (Some(s), None) => format!("-{s}"),
        (None, None) => String::new(),
    };
    if takes_value {
        if !spell.is_empty() {
            spell.push(' ');
        }
        spell.push_str(&names.join(" "));
        if many {
            spell.push_str("...");
        }
    }
    let mut line = format!("`{spell}`");
    if let Some(aliases) = a.get_visible_aliases().filter(|v| !v.is_empty()) {
        let list: Vec<String> = aliases.iter().map(|s| format!("`--{s}`")).collect();
        let _ = write!(line, " (also {})", list.join(", "));
    }
    let help = a
        .get_long_help()
        .or(a.get_help())
        .map(|h| sentence(&h.to_string()))
        .unwrap_or_default();
    if !help.is_empty() {
        let _ = write!(line, ": {help}");
    }
    if a.is_required_set() {
        line.push_str(" Required.");
    }
    let defaults: Vec<String> = a
        .get_default_values()
        .iter()
        .map(|v| format!("`{}`", v.to_string_lossy()))
        .collect();
    if !defaults.is_empty() && takes_value {
        let _ = write!(line, " Default: {}.", defaults.join(", "));
    }
    if let Some(env) = a.get_env() {
        let _ = write!(line, " Environment: `{}`.", env.to_string_lossy());
    }
    let values: Vec<String> = a
        .get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| format!("`{}`", v.get_name()))
        .collect();
    if !values.is_empty() && takes_value {
        let _ = write!(line, " Values: {}.", values.join(", "));
    }
    line
}
