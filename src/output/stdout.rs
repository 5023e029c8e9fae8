//! Standard output for the commands (docs/contracts.md, CLI). `println!` panics when stdout
//! cannot be written (`search ... | head -1`, `status > /dev/full`): every command writes
//! through [`outln!`](crate::outln)/[`out!`](crate::out) or [`writer`] instead.
//!
//! - A closed pipe (the reader went away, as `head` does) ends the output quietly, as `grep`
//!   does: no message, and the rest of what the command would print is dropped. The command
//!   exits with the status it had decided anyway (a search that matched still exits 0). Rust
//!   ignores SIGPIPE, so the signal cannot do this for us, and restoring its default action
//!   would also kill a relay on a closed socket.
//! - Any other error (`ENOSPC`, `EIO`) is returned as [`StdoutError`]: the command stops with
//!   one line on stderr and a non-zero exit status.
use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once a write found the reader gone; later writes are dropped without a try.
static CLOSED: AtomicBool = AtomicBool::new(false);

#[derive(Debug, thiserror::Error)]
#[error("writing to standard output: {0}")]
pub struct StdoutError(pub io::Error);

/// True once standard output turned out to be a closed pipe: long outputs may stop early.
pub fn closed() -> bool {
    CLOSED.load(Ordering::Relaxed)
}

/// Writes `args` and a line end, and flushes: an error shows at the line that caused it.
pub fn write_line(args: fmt::Arguments<'_>) -> Result<(), StdoutError> {
    if closed() {
        return Ok(());
    }
    let mut out = io::stdout().lock();
    settle(
        out.write_fmt(args)
            .and_then(|()| out.write_all(b"\n"))
            .and_then(|()| out.flush()),
    )
}

/// Writes `args` as they are (no line end added), and flushes.
pub fn write_fmt(args: fmt::Arguments<'_>) -> Result<(), StdoutError> {
    if closed() {
        return Ok(());
    }
    let mut out = io::stdout().lock();
    settle(out.write_fmt(args).and_then(|()| out.flush()))
}

/// Writes `bytes` as they are, and flushes.
pub fn write_bytes(bytes: &[u8]) -> Result<(), StdoutError> {
    if closed() {
        return Ok(());
    }
    let mut out = io::stdout().lock();
    settle(out.write_all(bytes).and_then(|()| out.flush()))
}

/// Whether `e` is the reader of standard output having gone away. The callers that write to
/// stdout through another writer (the export's async one) ask this of their error, and then
/// end quietly as [`write_line`] does.
pub fn is_closed_pipe(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::BrokenPipe
}

/// Marks standard output closed when `e` says so (see [`is_closed_pipe`]); true then.
pub fn note_closed(e: &io::Error) -> bool {
    if is_closed_pipe(e) {
        CLOSED.store(true, Ordering::Relaxed);
        true
    } else {
        false
    }
}

fn settle(result: io::Result<()>) -> Result<(), StdoutError> {
    match result {
        Ok(()) => Ok(()),
        Err(e) if note_closed(&e) => Ok(()),
        Err(e) => Err(StdoutError(e)),
    }
}

/// Standard output as an [`io::Write`] with the same rules, for code that takes a writer (the
/// payload lines of `preview`, the fake's address line). Its errors are [`StdoutError`]s
/// wrapped in an `io::Error`, so they still say what could not be written.
pub fn writer() -> Stdout {
    Stdout
}

pub struct Stdout;

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        write_bytes(buf)
            .map(|()| buf.len())
            .map_err(|e| io::Error::new(e.0.kind(), e))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `println!` for commands: returns `Result<(), StdoutError>` instead of panicking (see the
/// module comment).
#[macro_export]
macro_rules! outln {
    () => {
        $crate::output::stdout::write_line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::output::stdout::write_line(format_args!($($arg)*))
    };
}

/// `print!` for commands: returns `Result<(), StdoutError>` instead of panicking.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::stdout::write_fmt(format_args!($($arg)*))
    };
}
