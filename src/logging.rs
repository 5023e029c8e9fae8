//! Diagnostic logging to stderr (tracing). Nothing logged anywhere in the program carries
//! personal data: only ids, states and our own words (see `synclog` for the audit log).
use tracing_subscriber::EnvFilter;

/// The log filter every subscriber uses: `DIGIS_RELAY_LOG` (or `RUST_LOG`), default
/// `warn,digis_relay=info`. The HTTP stack logs request URLs at debug level, and the Digis URL
/// carries the token in its query: those crates stay at warn whatever the operator asked for.
pub fn filter() -> EnvFilter {
    filter_or("warn,digis_relay=info")
}

/// [`filter`] with another default for when neither variable is set.
pub fn filter_or(default: &str) -> EnvFilter {
    let filter = EnvFilter::try_from_env("DIGIS_RELAY_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new(default));
    [
        "hyper=warn",
        "hyper_util=warn",
        "reqwest=warn",
        "h2=warn",
        "rustls=warn",
    ]
    .into_iter()
    .fold(filter, |f, d| {
        f.add_directive(d.parse().expect("static directive"))
    })
}

pub fn init_stderr() {
    init_stderr_with(filter());
}

pub fn init_stderr_with(filter: EnvFilter) {
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let _ = tracing_subscriber::fmt()
        .with_ansi(ansi)
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
