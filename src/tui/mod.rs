//! The support dashboard (docs/contracts.md, Dashboard), in The Elm Architecture's shape, layered
//! so that no module imports one above it:
//! - [`message`]: the vocabulary ([`message::Msg`], [`message::Action`], [`message::Effect`]),
//!   importing nothing else of the dashboard;
//! - [`keys`]: keys as data; [`ui`]: the theme and drawing helpers;
//! - [`screens`]: one folder per screen with its state, its keys and its view;
//! - [`keymap`]: every screen's keys in the help's order; [`app::App`]: the whole state;
//! - [`update::update`]: the only place the state changes (a key becomes an action through the
//!   keymap, handled by [`update::handle`]); [`effects`]: the database work, run on tasks so a
//!   slow query never holds up a frame; [`view`]: a pure function of the state;
//! - this module: the loop, the terminal and the signals.
pub mod app;
pub mod cli;
pub mod effects;
pub mod input;
pub mod keymap;
pub mod keys;
pub mod logsink;
pub mod message;
pub mod screens;
pub mod ui;
pub mod update;
pub mod view;

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::storage::DynStorage;
use app::{App, Environment, StatusKind};
use effects::Executor;
use message::{Effect, Msg, View};
use update::update;

#[derive(Debug, Clone, Copy, Default)]
pub struct TuiOptions {
    /// A relay runs in this process (the header says so).
    pub relay_running_here: bool,
}

/// How often counts, relays and the shown page are refreshed.
const REFRESH: Duration = Duration::from_secs(1);

/// How long the dashboard waits for its input thread on the way out. The thread sees `stop`
/// within one wait (100 ms); one that does not end is left to the process's exit rather than
/// keeping the dashboard (and the relay's claims) open.
const INPUT_JOIN: Duration = Duration::from_secs(1);

/// How often the dashboard looks whether its terminal hung up (SIGHUP does not always come: the
/// process may not be in the terminal's foreground group). While it has, the input thread spins
/// in crossterm's reader until the dashboard sees it and detaches it.
const HANGUP_CHECK: Duration = Duration::from_millis(100);

/// Runs the dashboard until `q`, Ctrl-C, SIGTERM, SIGINT, SIGHUP, the end of its input or a
/// terminal that is gone. The terminal is restored on every way out where it is still there,
/// including a panic (ratatui's panic hook) and an error; a terminal that is gone is not an
/// error (the dashboard just ends, so its caller can stop the relay).
pub async fn run(storage: DynStorage, config: Arc<Config>, opts: TuiOptions) -> anyhow::Result<()> {
    if !std::io::stdout().is_terminal() {
        anyhow::bail!("the dashboard needs a terminal; use `digis-relay status` in scripts");
    }
    init_logging();
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let env = Environment::from_config(&config, opts.relay_running_here, no_color);
    let writes = (
        crate::service::where_it_writes(&config),
        std::path::absolute(&config.log_dir).unwrap_or_else(|_| config.log_dir.clone()),
    );
    let exec = Executor::new(storage, config);
    let mut sigterm = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    let mut sigint = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
    let mut sighup = signal(SignalKind::hangup()).context("listening for SIGHUP")?;

    let mut terminal = ratatui::try_init().context("cannot set up the terminal")?;
    let _restore = RestoreOnDrop;
    exit_on_panic();
    let size = terminal.size().context("reading the terminal size")?;
    let mut app = App::new(env, Utc::now(), size.height);
    app.width = size.width;
    if opts.relay_running_here {
        // The Log view keeps it after the status line moves on.
        tracing::info!("the relay in this dashboard writes {}", writes.0);
        app.set_status(
            StatusKind::Info,
            format!(
                "a relay runs in this dashboard while it is open; sync log in {}",
                writes.1.display()
            ),
        );
    } else {
        app.set_status(
            StatusKind::Info,
            "no relay runs in this dashboard (--no-relay): relays on this database deliver",
        );
    }

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Msg>();
    let stop = Arc::new(AtomicBool::new(false));
    let input_ended = CancellationToken::new();
    let tty = input::InputTty::open().context("opening the terminal for keys")?;
    let input = input::spawn(tx.clone(), stop.clone(), input_ended.clone());
    let mut hangup_check = tokio::time::interval(HANGUP_CHECK);
    hangup_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);

    let mut refresh = tokio::time::interval(REFRESH);
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // The log fills from other threads; take its lines more often than the data refresh.
    let mut log_redraw = tokio::time::interval(Duration::from_millis(250));
    log_redraw.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);

    let mut dirty = true;
    let result: anyhow::Result<()> = async {
        loop {
            if dirty {
                terminal
                    .draw(|f| view::draw(f, &app))
                    .context("drawing the dashboard")?;
                dirty = false;
            }
            tokio::select! {
                msg = rx.recv() => {
                    let Some(msg) = msg else { break };
                    spawn_effects(&exec, &tx, update(&mut app, msg));
                    // Apply everything already waiting before the next frame.
                    while let Ok(msg) = rx.try_recv() {
                        spawn_effects(&exec, &tx, update(&mut app, msg));
                    }
                    dirty = true;
                }
                _ = refresh.tick() => {
                    spawn_effects(&exec, &tx, update(&mut app, Msg::Tick(Utc::now())));
                    dirty = true;
                }
                _ = log_redraw.tick() => {
                    let lines = logsink::drain();
                    if !lines.is_empty() {
                        spawn_effects(&exec, &tx, update(&mut app, Msg::Log(lines)));
                        dirty |= app.view == View::Log;
                    }
                }
                // The terminal hung up or input ended: nobody can press `q` any more.
                _ = input_ended.cancelled() => break,
                _ = hangup_check.tick() => {
                    if tty.gone() {
                        break;
                    }
                }
                _ = sigterm.recv() => break,
                _ = sigint.recv() => break,
                _ = sighup.recv() => break,
            }
            if app.should_quit {
                break;
            }
        }
        Ok(())
    }
    .await;

    stop.store(true, Ordering::SeqCst);
    if tty.gone() {
        tty.detach();
    }
    if tokio::time::timeout(INPUT_JOIN, input_ended.cancelled())
        .await
        .is_ok()
    {
        let _ = input.join();
    }
    if input::stdout_gone() {
        // Nothing to restore, and ratatui's drop would report the cursor it cannot show on
        // stderr, which is that same terminal: a failed print there is a panic.
        std::mem::forget(terminal);
        return Ok(());
    }
    drop(terminal);
    ratatui::try_restore().context("restoring the terminal")?;
    result
}

/// ratatui's hook restores the terminal on a panic; a panic in an effect task would then leave
/// the dashboard drawing into a cooked terminal. A panic is a bug: say so and stop.
fn exit_on_panic() {
    let restore_and_print = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_and_print(info);
        std::process::exit(101);
    }));
}

/// Restores the terminal when `run` leaves early with an error.
struct RestoreOnDrop;

impl Drop for RestoreOnDrop {
    fn drop(&mut self) {
        let _ = ratatui::try_restore();
    }
}

fn spawn_effects(exec: &Executor, tx: &UnboundedSender<Msg>, effects: Vec<Effect>) {
    for effect in effects {
        if let Some(text) = effect.log_text() {
            tracing::info!(target: "digis_relay::tui", "{text}");
        }
        let exec = exec.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            let _ = tx.send(exec.execute(effect).await);
        });
    }
}

/// Sends this process's tracing events (and `log` records, bridged) to the log view (tui-logger's
/// buffer and the product's copy, `logsink`). Returns
/// false when another global subscriber was installed first; then the view stays empty.
pub fn init_logging() -> bool {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    // The same filter as the stderr log: it keeps the HTTP stack (which logs the token-bearing
    // URL at debug level) at warn.
    let filter = crate::logging::filter();
    logsink::bound_buffers();
    tracing_subscriber::registry()
        .with(logsink::SinkLayer.with_filter(filter))
        .try_init()
        .is_ok()
}
