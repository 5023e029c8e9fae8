//! The dashboard's keys, read on a thread of their own, and how it learns that its terminal is
//! gone (an SSH session that dropped, `tmux kill-session`).
//!
//! crossterm's reader cannot be trusted with a terminal that hung up: its read loop treats end
//! of file (0 bytes) and errors other than "would block" as "read again", so once the terminal
//! is gone it spins on the CPU and never returns to its caller (seen: 45-70 % CPU, the dashboard
//! unable to stop). So the dashboard watches the terminal itself with poll(2), which reports a
//! hang-up ([`InputTty::gone`]), and on its way out points standard input at an empty pipe
//! ([`InputTty::detach`]): crossterm's next read then says "nothing yet", its poll returns, and
//! the input thread sees `stop`. crossterm keeps waiting on the terminal itself while it is
//! there, so keys and resizes arrive as they always did.
use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ratatui::crossterm::event::{self, Event};
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use super::message::Msg;

/// How long one wait for a key lasts: how soon the input thread sees `stop`.
const WAIT: Duration = Duration::from_millis(100);

/// The terminal the keys come from: standard input when it is one (crossterm reads it then),
/// else `/dev/tty` (crossterm opens its own; this one is opened to see it hang up).
pub struct InputTty {
    fd: RawFd,
    own: Option<File>,
}

impl InputTty {
    pub fn open() -> std::io::Result<InputTty> {
        use std::io::IsTerminal as _;
        if std::io::stdin().is_terminal() {
            Ok(InputTty {
                fd: std::io::stdin().as_raw_fd(),
                own: None,
            })
        } else {
            let f = File::options().read(true).write(true).open("/dev/tty")?;
            Ok(InputTty {
                fd: f.as_raw_fd(),
                own: Some(f),
            })
        }
    }

    /// True when the terminal hung up (or is no file this process can poll): no key can come.
    pub fn gone(&self) -> bool {
        hung_up(self.fd)
    }

    /// Gives crossterm's reader, spinning on the terminal that is gone, an empty pipe to read
    /// instead (in place of standard input), so it returns and its thread can end. Once, on the
    /// way out. When crossterm reads its own `/dev/tty` this cannot reach it: that thread is
    /// left to the process's exit.
    pub fn detach(&self) {
        if self.own.is_some() {
            return;
        }
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors pipe2(2) writes.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
            return;
        }
        // SAFETY: `fds[0]` is the pipe's reader, just opened; dup2 replaces descriptor
        // `self.fd` (standard input, which only crossterm reads) with it. The writer stays open
        // on purpose, for the rest of the process: a read then says "would block", not end of
        // file (which crossterm would read again and again).
        unsafe {
            libc::dup2(fds[0], self.fd);
            libc::close(fds[0]);
        }
    }
}

/// True when the terminal on standard output hung up (or standard output is closed): the
/// dashboard then must not write to it, nor print on it, on its way out.
pub fn stdout_gone() -> bool {
    hung_up(std::io::stdout().as_raw_fd())
}

/// Whether poll(2) reports a hang-up, an error or a closed descriptor on `fd`, now.
fn hung_up(fd: RawFd) -> bool {
    // No events asked for: a hang-up and an error are reported all the same.
    let mut pfd = libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    };
    // SAFETY: `pfd` is one valid pollfd that outlives the call, and the count says one.
    let n = unsafe { libc::poll(&mut pfd, 1, 0) };
    n > 0 && pfd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0
}

/// Reads terminal events until `stop` or the end of input (crossterm gives up on the
/// terminal); `ended` is cancelled when the thread ends, for whatever reason, so the dashboard
/// sees its input end.
pub fn spawn(
    tx: UnboundedSender<Msg>,
    stop: Arc<AtomicBool>,
    ended: CancellationToken,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let _ended = ended.drop_guard();
        while !stop.load(Ordering::SeqCst) {
            match event::poll(WAIT) {
                Ok(true) => {
                    let msg = match event::read() {
                        Ok(Event::Key(k)) => Msg::Key(k),
                        Ok(Event::Resize(w, h)) => Msg::Resize(w, h),
                        Ok(_) => continue,
                        Err(_) => return,
                    };
                    if tx.send(msg).is_err() {
                        return;
                    }
                }
                Ok(false) => {}
                Err(_) => return,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pipe whose writer closed reads as hung up; one with a writer open does not.
    #[test]
    fn a_closed_writer_is_a_hang_up() {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors pipe(2) writes.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let (r, w) = (fds[0], fds[1]);
        assert!(!hung_up(r));
        // SAFETY: closing our own descriptors once each.
        unsafe {
            libc::close(w);
        }
        assert!(hung_up(r));
        // SAFETY: as above.
        unsafe {
            libc::close(r);
        }
        assert!(hung_up(r), "a closed descriptor counts as gone");
    }
}
