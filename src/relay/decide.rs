//! What to do with one claimed row: the checks before sending, and the mapping from Digis's
//! answer to the row's next state. Kept free of I/O so each rule is tested on its own.
//!
//! Two kinds of error text: `db_error` goes to `digis_outbox.last_error` (support reads it in
//! the dashboard, like the membership database itself, it may hold Digis's own words), while
//! `log_error` goes to the sync log and must never carry personal data, so it holds only our
//! own words.
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::backoff::Backoff;
use crate::digis::Answer;
use crate::domain::{FailureCause, UNCONFIRMED};
use crate::storage::{ClaimedRow, Completion};

#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub completion: Completion,
    pub http_status: Option<u16>,
    pub db_error: Option<String>,
    pub log_error: Option<String>,
}

impl Decision {
    fn plain(completion: Completion, why: Option<String>) -> Self {
        Self {
            completion,
            http_status: None,
            db_error: why.clone(),
            log_error: why,
        }
    }
}

/// Reasons not to send at all, checked against the database as it is now.
pub fn precheck(c: &ClaimedRow, max_attempts: u32) -> Option<Decision> {
    // Host data that cannot be read fails this row alone; its text names ids and the
    // column only, never a value, so it may go to the sync log too.
    if let Some(d) = &c.row.defect {
        let failed = Completion::Failed { cause: d.cause() };
        return Some(Decision::plain(failed, Some(d.to_string())));
    }
    let Some(member) = &c.member else {
        let why = "the member is no longer a user of the subscription".to_string();
        return Some(Decision::plain(
            Completion::Discarded {
                reason: why.clone(),
            },
            Some(why),
        ));
    };
    if !member.is_active() {
        let why = format!(
            "the subscription is {}, not ACTIVE",
            member.subscription_status
        );
        return Some(Decision::plain(
            Completion::Discarded {
                reason: why.clone(),
            },
            Some(why),
        ));
    }
    if let (Some(d), false) = (&c.synced, c.row.resend) {
        let why = format!(
            "already synced at {} (external id {})",
            crate::storage_time_text(d.synced_at),
            d.external_id.as_deref().unwrap_or("none")
        );
        return Some(Decision::plain(
            Completion::Discarded {
                reason: why.clone(),
            },
            Some(why),
        ));
    }
    // Delivered means delivered: a sent row of the pair is Digis's acceptance even when the
    // host lost `digis` (a TRUNCATE, an older backup); only a resend is sent again.
    if let (None, Some(s), false) = (&c.synced, &c.sent, c.row.resend) {
        let why = format!(
            "already sent by outbox row {} at {} (external id {}); digis has no row for the pair",
            s.outbox_id.0,
            crate::storage_time_text(s.sent_at),
            s.external_id.as_deref().unwrap_or("none")
        );
        return Some(Decision::plain(
            Completion::Discarded {
                reason: why.clone(),
            },
            Some(why),
        ));
    }
    if c.row.attempts as i64 > max_attempts as i64 {
        let why = format!("gave up after {} attempts", max_attempts);
        let failed = Completion::Failed {
            cause: FailureCause::gave_up(None),
        };
        return Some(Decision::plain(failed, Some(why)));
    }
    None
}

/// Maps Digis's answer to the row's next state.
pub fn after_send(
    answer: &Answer,
    attempts: u32,
    max_attempts: u32,
    backoff: &Backoff,
    now: DateTime<Utc>,
    rng: &mut impl rand::Rng,
) -> Decision {
    let status = answer.http_status();
    match answer {
        Answer::Accepted {
            external_id,
            warning,
            ..
        } => Decision {
            completion: Completion::Sent {
                external_id: external_id.clone(),
            },
            http_status: status,
            db_error: warning.clone(),
            log_error: warning
                .as_ref()
                .map(|_| "accepted without an external id".to_string()),
        },
        Answer::Rejected { status, message } => Decision {
            completion: Completion::Failed {
                cause: FailureCause::digis_rejection(*status, message),
            },
            http_status: Some(*status),
            db_error: Some(format!(
                "Digis rejected the member (HTTP {status}): {message}"
            )),
            log_error: Some(format!("rejected by Digis (HTTP {status})")),
        },
        Answer::RetryLater {
            reason,
            retry_after,
            ..
        } => {
            if attempts >= max_attempts {
                let why = format!("gave up after {attempts} attempts; last: {reason}");
                Decision {
                    completion: Completion::Failed {
                        cause: FailureCause::gave_up(Some(status.map(i32::from))),
                    },
                    http_status: status,
                    db_error: Some(why.clone()),
                    log_error: Some(why),
                }
            } else {
                let delay = backoff.delay(attempts, *retry_after, rng);
                // Saturating: Digis's Retry-After is untrusted and must not be able to panic us.
                let next = crate::storage::time::saturating_add(now, delay);
                Decision {
                    completion: Completion::Retry {
                        next_attempt_at: next,
                    },
                    http_status: status,
                    db_error: Some(reason.clone()),
                    log_error: Some(reason.clone()),
                }
            }
        }
        Answer::ConfigError { status, reason } => Decision {
            completion: Completion::Released {
                next_attempt_at: now,
            },
            http_status: *status,
            db_error: Some(reason.clone()),
            log_error: Some(match status {
                Some(status) => format!("HTTP {status}: configuration error, relay paused"),
                // Our own words (`transport::Cause::words`): no personal data, no token.
                None => format!("{reason}: configuration error, relay paused"),
            }),
        },
        // Failed, not pending: Digis may have sent the SMS, so only a person who checked may
        // send it again (`retry` asks). The answer goes to the row, not to the log.
        Answer::Unconfirmed {
            status,
            why,
            answer,
        } => Decision {
            completion: Completion::Failed {
                cause: FailureCause::unconfirmed(),
            },
            http_status: Some(*status),
            db_error: Some(unconfirmed_text(*status, why, answer)),
            log_error: Some(format!(
                "{UNCONFIRMED}: HTTP {status} with a body {why}, relay paused"
            )),
        },
    }
}

/// `digis_outbox.last_error` of a row whose answer was [`Answer::Unconfirmed`];
/// [`crate::domain::Failure::read`] groups it under [`UNCONFIRMED`].
pub fn unconfirmed_text(status: u16, why: &str, answer: &str) -> String {
    let answer = if answer.is_empty() { "(empty)" } else { answer };
    format!(
        "{UNCONFIRMED}: Digis answered HTTP {status} with a body {why}, which does not say \
         whether the member was imported; the SMS may have been sent, so the row is not sent \
         again by itself (retry it only after checking in Digis). Answer: {answer}"
    )
}

pub fn probe_due(
    paused_at: Option<DateTime<Utc>>,
    sync_at: Option<DateTime<Utc>>,
    every: Duration,
    now: DateTime<Utc>,
) -> bool {
    let Some(paused_at) = paused_at else {
        return true;
    };
    if sync_at.is_some_and(|s| s > paused_at) {
        return true;
    }
    now - paused_at >= chrono::Duration::from_std(every).unwrap_or(chrono::Duration::minutes(5))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{OutboxId, PersonId, SubscriptionId};
    use crate::storage::{DigisRow, MemberRow, SentRow};

    fn claimed(status: &str, synced: bool, resend: bool, attempts: i32) -> ClaimedRow {
        let mut c = crate::relay::fixtures::claimed(1, 5, 9, "t");
        c.row.attempts = attempts;
        c.row.resend = resend;
        c.member = Some(MemberRow {
            subscription_status: status.into(),
            ..Default::default()
        });
        c.synced = synced.then(|| DigisRow {
            subscription_id: SubscriptionId(5),
            person_id: PersonId(9),
            external_id: Some("E".into()),
            synced_at: Utc::now(),
        });
        c
    }

    #[test]
    fn prechecks() {
        assert_eq!(precheck(&claimed("ACTIVE", false, false, 1), 12), None);
        let d = precheck(&claimed("ENDED", false, false, 1), 12).unwrap();
        assert!(
            matches!(d.completion, Completion::Discarded { ref reason } if reason.contains("ENDED"))
        );
        let d = precheck(&claimed("ACTIVE", true, false, 1), 12).unwrap();
        assert!(
            matches!(d.completion, Completion::Discarded { ref reason } if reason.contains("already synced"))
        );
        assert_eq!(
            precheck(&claimed("ACTIVE", true, true, 1), 12),
            None,
            "a resend is sent anyway"
        );
        // A sent row counts as delivered when `digis` lost the pair; a resend goes anyway.
        let mut lost = claimed("ACTIVE", false, false, 1);
        lost.sent = Some(SentRow {
            outbox_id: OutboxId(7),
            external_id: Some("TE-000007".into()),
            sent_at: Utc::now(),
        });
        let d = precheck(&lost, 12).unwrap();
        assert!(
            matches!(d.completion, Completion::Discarded { ref reason } if reason.contains("already sent by outbox row 7") && reason.contains("TE-000007")),
            "{d:?}"
        );
        lost.row.resend = true;
        assert_eq!(precheck(&lost, 12), None, "a resend is sent anyway");
        let mut no_member = claimed("ACTIVE", false, false, 1);
        no_member.member = None;
        assert!(matches!(
            precheck(&no_member, 12).unwrap().completion,
            Completion::Discarded { .. }
        ));
        assert_eq!(
            precheck(&claimed("ACTIVE", false, false, 13), 12)
                .unwrap()
                .completion,
            Completion::Failed {
                cause: FailureCause::gave_up(None)
            }
        );
    }

    #[test]
    fn answers_map_to_completions() {
        let b = Backoff {
            base: Duration::from_secs(30),
            cap: Duration::from_secs(3600),
        };
        let now = Utc::now();
        let mut rng = rand::rng();
        let retry = Answer::RetryLater {
            status: Some(503),
            reason: "HTTP 503".into(),
            retry_after: Some(Duration::from_secs(600)),
        };
        let d = after_send(&retry, 1, 12, &b, now, &mut rng);
        match d.completion {
            Completion::Retry { next_attempt_at } => {
                assert!(next_attempt_at >= now + chrono::Duration::seconds(600))
            }
            c => panic!("{c:?}"),
        }
        assert_eq!(
            after_send(&retry, 12, 12, &b, now, &mut rng).completion,
            Completion::Failed {
                cause: FailureCause::gave_up(Some(Some(503)))
            }
        );
        let rej = Answer::Rejected {
            status: 400,
            message: "Invalid phone 0701234567".into(),
        };
        let d = after_send(&rej, 1, 12, &b, now, &mut rng);
        assert_eq!(
            d.completion,
            Completion::Failed {
                cause: FailureCause::digis_rejection(400, "Invalid phone #")
            }
        );
        assert!(d.db_error.unwrap().contains("Invalid phone"));
        assert!(
            !d.log_error.unwrap().contains("0701234567"),
            "Digis's words stay out of the log"
        );
        let cfg = Answer::ConfigError {
            status: Some(401),
            reason: "bad token".into(),
        };
        assert!(matches!(
            after_send(&cfg, 1, 12, &b, now, &mut rng).completion,
            Completion::Released { .. }
        ));
        assert!(probe_due(
            Some(now),
            Some(now + chrono::Duration::seconds(1)),
            Duration::from_secs(300),
            now
        ));
        assert!(!probe_due(Some(now), None, Duration::from_secs(300), now));
    }

    #[test]
    fn a_huge_retry_after_waits_at_most_the_cap() {
        let b = Backoff {
            base: Duration::from_secs(30),
            cap: Duration::from_secs(3600),
        };
        let now = Utc::now();
        for secs in [u64::MAX, 10_000_000_000_000, 1_000_000_000_000] {
            let retry = Answer::RetryLater {
                status: Some(429),
                reason: "HTTP 429".into(),
                retry_after: Some(Duration::from_secs(secs)),
            };
            match after_send(&retry, 1, 12, &b, now, &mut rand::rng()).completion {
                Completion::Retry { next_attempt_at } => {
                    assert!(
                        next_attempt_at <= now + chrono::Duration::seconds(3600),
                        "{secs}"
                    )
                }
                c => panic!("{c:?}"),
            }
        }
    }
}
