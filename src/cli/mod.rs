//! The command line (docs/contracts.md, CLI). Argument parsing lives here; each command's work lives
//! in its own module so this file only routes.
mod args;
mod docs;
mod ops;
pub mod reference;
mod run;
mod setup;

use std::process::ExitCode;

pub use args::{command, Cli, Command};

/// Runs the program; returns the exit code. Errors are one line on stderr.
pub fn main() -> ExitCode {
    use clap::FromArgMatches as _;
    let matches = args::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let ignored = args::ignored_globals(&matches);
    if !ignored.is_empty() {
        eprintln!(
            "error: {} {} not used by `{}`, which reads no configuration or database{}",
            ignored.join(", "),
            if ignored.len() == 1 { "is" } else { "are" },
            matches.subcommand_name().unwrap_or_default(),
            if matches.subcommand_name() == Some("demo") {
                " (the demo makes its own in --dir)"
            } else {
                ""
            }
        );
        return ExitCode::from(2);
    }
    fewer_malloc_arenas();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // `search` answers 1 for "nothing matched" (like grep) and `status` 1 for "not healthy", so
    // a search or status that could not run at all (database unreachable, bad configuration,
    // standard output unwritable) needs its own code.
    let failed = if matches!(cli.command, Command::Search(_) | Command::Status { .. }) {
        ExitCode::from(3)
    } else {
        ExitCode::FAILURE
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            failed
        }
    }
}

/// glibc's malloc gives threads that allocate at the same time arenas of their own, up to eight
/// per core, and keeps what each arena freed for its thread to reuse. The relay's threads (the
/// runtime's workers, one per SQLite connection, blocking tasks) each took one, and the peak RSS
/// of a drain was mostly those arenas' kept memory (decision 0044). Two arenas serve the relay's
/// few busy threads without contention. Set before the runtime starts any thread; an operator's
/// own `MALLOC_ARENA_MAX` wins.
fn fewer_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only changes malloc's tuning; no other thread exists yet.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

/// `a: b: c` from an error chain, on one line.
pub fn one_line(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let s = cause.to_string().replace('\n', " ");
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
    }
    parts.join(": ")
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // The fake stands in for Digis and reads no configuration: a broken digis-relay.toml in
    // the working directory must not stop it.
    match cli.command {
        Command::FakeDigis(a) => {
            return crate::fake_digis::cli::run(&a.listen, a.record, &a.faults, a.token).await
        }
        // Generated from the clap definitions: always the commands this binary has.
        Command::Completions { shell } => return docs::completions(shell),
        Command::Man { dir } => return docs::man(dir),
        // The demo makes its own database, logs and fake Digis in --dir: a broken
        // digis-relay.toml where it is started must not stop it either.
        Command::Demo {
            headless,
            duration,
            dir,
            members,
        } => return crate::demo::cli::demo(headless, duration, dir, members).await,
        _ => {}
    }
    let ctx = setup::Context::new(&cli)?;
    ops::dispatch(ctx, cli.command).await
}
