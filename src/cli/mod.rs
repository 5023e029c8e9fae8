//! The command line (ARCHITECTURE.md, CLI). Argument parsing lives here; each command's work lives
//! in its own module so this file only routes.
mod args;
mod docs;
pub mod logging;
mod ops;
mod run;
mod setup;

use std::process::ExitCode;

use clap::Parser;

pub use args::{Cli, Command};

/// Runs the program; returns the exit code. Errors are one line on stderr.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
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
    // `search` answers 1 for "nothing matched" (like grep), so a search that could not run at
    // all (database unreachable, bad configuration) needs its own code.
    let failed = if matches!(cli.command, Command::Search(_)) {
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
        _ => {}
    }
    let ctx = setup::Context::new(&cli)?;
    ops::dispatch(ctx, cli.command).await
}
