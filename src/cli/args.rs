use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::domain::{CardNumber, OutboxId, PersonId, SubscriptionId, UnitId};

/// Delivers Digis loyalty-app invitations from the membership database's outbox, and shows
/// support staff what happened to each member.
#[derive(Debug, Parser)]
#[command(name = "digis-relay", version = VERSION, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// TOML configuration file (default: ./digis-relay.toml if present). Relative paths written
    /// in it mean its folder; relative paths given as flags mean the working directory.
    #[arg(long, global = true, value_name = "FILE", env = "DIGIS_RELAY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Database URL: sqlite://FILE or postgres://USER@HOST/DB [default: sqlite://digis-relay.db].
    /// A URL with a password belongs in a file instead (others can read a command line):
    /// database_url_file, DIGIS_RELAY_DATABASE_URL_FILE or the database_url credential.
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
    /// Folder of the sync log (scheduler_digis_sync.txt) [default: logs].
    #[arg(long, global = true, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// `--version`: the release and the commit it was built from (build.rs; "unknown" for a
/// build outside a git checkout without `DIGIS_RELAY_COMMIT`).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("RELAY_GIT_COMMIT"),
    ")"
);

/// The commands that read no configuration and no database: the global options mean nothing
/// to them, so their help does not list them and a value given for one is refused
/// ([`ignored_globals`]).
pub const NO_CONFIG: [&str; 4] = ["demo", "fake-digis", "completions", "man"];

/// The global options: clap id, long name.
const GLOBALS: [(&str, &str); 3] = [
    ("config", "config"),
    ("database_url", "database-url"),
    ("log_dir", "log-dir"),
];

/// The command line as clap builds it, with the global options hidden from the help (and the
/// man page and completions) of the [`NO_CONFIG`] commands: `demo --help` once listed
/// `--database-url` and `--log-dir`, which the demo ignores (it makes its own in `--dir`).
/// Each of those commands gets hidden options of the same names, which clap then does not
/// propagate the global ones over; [`ignored_globals`] refuses a value given for them.
pub fn command() -> clap::Command {
    use clap::{Arg, CommandFactory as _};
    let mut cmd = Cli::command();
    // In place: `mut_subcommand` would move the commands to the end of the help's list.
    for sc in cmd.get_subcommands_mut() {
        if NO_CONFIG.contains(&sc.get_name()) {
            *sc = GLOBALS.iter().fold(std::mem::take(sc), |sc, (id, long)| {
                sc.arg(Arg::new(*id).long(*long).value_name("VALUE").hide(true))
            });
        }
    }
    cmd
}

/// The global options given on the command line to a [`NO_CONFIG`] command, as typed
/// (`--database-url`), before or after the command's name; the environment
/// (`DIGIS_RELAY_CONFIG`) is ambient and not counted.
pub fn ignored_globals(matches: &clap::ArgMatches) -> Vec<String> {
    let Some((name, sub)) = matches.subcommand() else {
        return Vec::new();
    };
    if !NO_CONFIG.contains(&name) {
        return Vec::new();
    }
    let typed = |m: &clap::ArgMatches, id: &str| {
        m.value_source(id) == Some(clap::parser::ValueSource::CommandLine)
    };
    GLOBALS
        .iter()
        .filter(|(id, _)| typed(matches, id) || typed(sub, id))
        .map(|(_, long)| format!("--{long}"))
        .collect()
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or update the relay's tables, then apply the host adapter ([host] adapter: the
    /// views and triggers over the membership tables) if it changed.
    Migrate {
        /// Also create the reference membership tables (demo, tests, staging only).
        #[arg(long)]
        host_schema: bool,
    },
    /// Run the relay as a service (headless).
    Run {
        /// Process everything due now, then exit.
        #[arg(long)]
        once: bool,
        /// Serve the export, /healthz and /metrics on this address (HTTPS with [export]
        /// tls_cert_file/tls_key_file, reloaded when they change or on SIGHUP; without TLS the
        /// export is served on a loopback address only, unless [export] allow_plain_http).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
    /// Open the support dashboard.
    Tui {
        /// Do not run a relay in this process (headless relays serve the database).
        #[arg(long)]
        no_relay: bool,
    },
    /// Show the product working: embedded SQLite, a built-in fake Digis, the dashboard.
    Demo {
        /// No terminal: print progress and a summary.
        #[arg(long)]
        headless: bool,
        /// Stop after this many seconds (headless default 30).
        #[arg(long, value_name = "SECS")]
        duration: Option<u64>,
        /// Folder for the demo's database and logs (emptied at start).
        #[arg(long, value_name = "DIR", default_value = "digis-relay-demo")]
        dir: std::path::PathBuf,
        /// How many members to create.
        #[arg(long, default_value_t = 300)]
        members: usize,
    },
    /// Relay state, counts by outbox state and health. Exit status: 0 healthy, 1 not (what
    /// /healthz answers 503 for), 2 bad arguments, 3 could not read (configuration, database).
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Print the payload that would be sent for each user of a subscription (sends nothing).
    Preview {
        #[arg(long, value_name = "ID")]
        subscription: SubscriptionId,
        #[arg(long, value_name = "ID")]
        person: Option<PersonId>,
    },
    /// What happened to a subscription (ExtInfo1), a card number (ExtInfo20), or the person
    /// with this phone number, e-mail address or name? Exit status: 0 matched, 1 nothing
    /// matched, 2 bad arguments, 3 could not search.
    Search(SearchArgs),
    /// Reports for the gyms: `failures`, the fix list by business unit and cause.
    Report {
        #[command(subcommand)]
        report: ReportCommand,
    },
    /// Put failed (or discarded) rows back in the queue, due now. A row whose answer from Digis
    /// confirmed nothing (cause unconfirmed) may have been sent: it is retried only when
    /// confirmed (y/N on a terminal, or --yes); else exit 2 and it is left alone.
    Retry {
        #[arg(value_name = "ID", required_unless_present = "all_failed")]
        ids: Vec<OutboxId>,
        /// Every failed row.
        #[arg(long, conflicts_with = "ids")]
        all_failed: bool,
        /// Retry rows whose answer was unconfirmed too, without asking: their members may get a
        /// second SMS.
        #[arg(long, visible_alias = "include-unconfirmed")]
        yes: bool,
    },
    /// Send the invitation again even though Digis already has the member (exit 2 if nothing
    /// was queued).
    Resend {
        #[arg(long, value_name = "ID")]
        subscription: SubscriptionId,
        #[arg(long, value_name = "ID")]
        person: Option<PersonId>,
    },
    /// Mark rows as not to be sent.
    Discard {
        #[arg(value_name = "ID", required = true)]
        ids: Vec<OutboxId>,
        #[arg(long, default_value = "discarded by operator")]
        reason: String,
    },
    /// Stop every relay from sending (they keep running and say why).
    Pause {
        #[arg(long, default_value = "paused by operator")]
        reason: String,
    },
    /// Let the relays send again.
    Resume,
    /// Make every pending row due now and wake the relays.
    Sync {
        /// Also queue every user of an ACTIVE subscription that Digis does not have (no
        /// `digis` row, no open or sent outbox row, no sent line in the sync log). Says how
        /// many first, and above `sync.reconcile_confirm_above` asks (or needs --yes).
        #[arg(long)]
        reconcile: bool,
        /// With --reconcile: first write `digis` rows back from sent outbox rows (Digis's
        /// id, synced at the time it was sent), e.g. after the host lost `digis`.
        #[arg(long, requires = "reconcile")]
        restore_digis: bool,
        /// With --reconcile: queue however many members it finds, without asking.
        #[arg(long, requires = "reconcile")]
        yes: bool,
    },
    /// Write the DigisAllActive export (every user of every ACTIVE subscription).
    Export {
        /// The export's name; only DigisAllActive exists.
        #[arg(value_enum)]
        name: ExportName,
        #[arg(long, value_enum, default_value_t = ExportFormat::Json)]
        format: ExportFormat,
        /// Write here instead of standard output.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Check configuration, database, migrations, host adapter, relays and Digis reachability.
    ///
    /// One line per check, ok / warning / error with what to do; exits non-zero when a check is
    /// an error. `migrations`: each applied relay migration has this binary's checksum (one
    /// applied from an edited file is an error naming it, as `migrate` refuses it), and an
    /// older release's `_sqlx_migrations` still to carry over. `host adapter`, `adapter views`,
    /// `adapter triggers`: the adapter `migrate` recorded matches the configured file (else
    /// "changed" or "missing": run `migrate`), the views digis_member, digis_person and
    /// digis_subscription have the columns the relay reads, and triggers on the membership
    /// tables hand saves to digis_enqueue.
    Doctor {
        /// Skip the request to Digis (offline machines).
        #[arg(long)]
        no_network: bool,
    },
    /// A local stand-in for the Digis import API, with fault injection.
    FakeDigis(FakeDigisArgs),
    /// Print a completion script for SHELL to standard output, e.g.
    /// `digis-relay completions bash > /etc/bash_completion.d/digis-relay`.
    Completions {
        #[arg(value_enum, value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to standard output, e.g. `digis-relay man | man -l -`; with
    /// `--dir`, write digis-relay.1 and one page per command there instead.
    Man {
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("term").required(true).args(["ext_info1", "ext_info20", "phone", "email", "name"])))]
pub struct SearchArgs {
    /// Subscription id (ExtInfo1).
    #[arg(long = "ext-info1", value_name = "ID")]
    pub ext_info1: Option<SubscriptionId>,
    /// Card number (ExtInfo20), leading zeros included.
    #[arg(long = "ext-info20", value_name = "CARD")]
    pub ext_info20: Option<CardNumber>,
    /// The person's mobile number as the caller says it (070-123 45 67, +46701234567, 0046 70
    /// 123 45 67 are one number; without + or 00 it is read in payload.default_region).
    #[arg(long, value_name = "NUMBER")]
    pub phone: Option<String>,
    /// The person's e-mail address (any case).
    #[arg(long, value_name = "ADDRESS")]
    pub email: Option<String>,
    /// The person's name or part of it, case and accents aside (asa finds Åsa).
    #[arg(long, value_name = "TEXT")]
    pub name: Option<String>,
    /// One JSON object on one line (shape in docs/contracts.md), with the key that matched.
    #[arg(long)]
    pub json: bool,
    /// Only log lines and attempts from this day on (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    pub since: Option<chrono::NaiveDate>,
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Failed rows by business unit and cause: the counts, or with --csv every failed member
    /// (person id, card, name, field, what is wrong, ...) written to a file.
    Failures {
        /// Only this business unit's rows.
        #[arg(long, value_name = "ID")]
        unit: Option<UnitId>,
        /// Write the members to this CSV file (mode 0600). It holds personal data, so they are
        /// never printed: without it only the counts are.
        #[arg(long, value_name = "FILE")]
        csv: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct FakeDigisArgs {
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8089")]
    pub listen: String,
    /// Append every request received to this file (JSON lines).
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// Fault rules, e.g. `status=500,times=1`, `card=34231451,status=400`, `delay_ms=2000`,
    /// `drop`, `status=429,retry_after=5`, `no_id`, `success_false`, `html` (200 with a
    /// maintenance page), `rate_limit=20` (429 above 20 requests a second). Repeatable; first
    /// match wins.
    #[arg(long = "fault", value_name = "RULE")]
    pub faults: Vec<String>,
    /// Token the fake requires in `?token=` (default: accept any).
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ExportName {
    #[value(name = "DigisAllActive")]
    DigisAllActive,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ExportFormat {
    Json,
    Csv,
}
