//! The relay's delivery state in one line, for `systemctl status` (`crate::systemd` sends it
//! and cuts it to the length systemd shows).
use super::Relay;
use crate::domain::RelayState;

impl Relay {
    /// One line without personal data: the relay's state and the reason it already writes to
    /// its heartbeat row and /healthz (an HTTP status, a pause reason, when the circuit
    /// closes), and counts.
    pub fn delivery_status(&self) -> String {
        let (state, detail) = self.status();
        let t = self.tally();
        let counts = format!("{} sent, {} failed", t.sent, t.failed);
        let detail = detail.map(|d| crate::sanitize::for_display(&d));
        let detail = detail.as_deref().unwrap_or("");
        if let Some(n) = self.holding() {
            return match n {
                0 => format!("database unreachable; {counts}"),
                1 => format!("database unreachable, holding 1 answer; {counts}"),
                n => format!("database unreachable, holding {n} answers; {counts}"),
            };
        }
        match state {
            RelayState::Running if !detail.is_empty() => format!("{detail}; {counts}"),
            RelayState::Running => match self.in_work() {
                0 => format!("idle: {counts}"),
                n => format!("sending: {counts}, {n} in work"),
            },
            RelayState::Paused => format!("paused: {detail}; {counts}"),
            RelayState::CircuitOpen => format!("circuit open: {detail}; {counts}"),
            RelayState::Degraded => format!("degraded: {detail}; {counts}"),
            RelayState::Disabled => "useDigis is false: nothing is sent".to_string(),
            RelayState::Stopped => format!("stopped: {counts}"),
            RelayState::Other(word) => format!("{word}: {detail}; {counts}"),
        }
    }
}
