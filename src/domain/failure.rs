//! Why a row failed, as support fixes it: the field and the rule broken
//! (`MobileNumber: not a mobile number for region SE`), or what Digis refused
//! (`Digis 400: Invalid mobile #`). Failures are almost always bad data at one gym's front
//! desk, so the Failures view and `report failures` group failed rows by unit and by this cause.
//!
//! The relay makes the cause where it decides the failure (the constructors below) and carries
//! it on the completion (`storage::Completion::Failed`), which stores it in `fail_field` /
//! `fail_rule` beside the error text, so grouping is a SQL `GROUP BY`. [`Failure::read`] reads a
//! cause back from the relay's stored texts ([`crate::payload::PayloadError`],
//! [`crate::storage::RowDefect`] and the sentences of `relay::decide`, among them
//! `unconfirmed_text`, grouped as [`UNCONFIRMED`]): for a row's detail, and for rows and
//! journals written before completions carried their cause. The tests below build each text,
//! read it back and compare it with the carried cause, so a change to one of them fails here
//! rather than silently turning every failure into "other". A text none of them wrote (a row
//! failed by an older version, or by hand) is [`FailureCause::other`].
use std::fmt;

use serde::{Deserialize, Serialize};

/// What is wrong with a failed row, as its group names it. Never holds a member's value: our own
/// rules name the field and the rule only, and Digis's words are cut to a prefix with digits and
/// e-mail addresses removed. Digis may still quote a name, so a Digis cause is shown on the
/// dashboard and in `report failures` only, never written to a log.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FailureCause {
    /// The payload key (`MobileNumber`) or host column (`person_id`) at fault, if one is.
    pub field: Option<String>,
    /// The rule the value broke, or what Digis said, or [`OTHER`].
    pub rule: String,
}

/// The rule of a failure whose text none of the relay's rules wrote.
pub const OTHER: &str = "other";

/// The rule of a row whose 2xx answer did not confirm anything (docs/contracts.md, Digis HTTP):
/// Digis may have sent the SMS, so retrying it asks first. Also how its `last_error` starts
/// (`relay::decide::unconfirmed_text`).
pub const UNCONFIRMED: &str = "unconfirmed";

/// How a rule naming Digis's refusal starts (`Digis 400: Invalid mobile #`).
const DIGIS: &str = "Digis";

/// How much of Digis's message a cause keeps: enough to tell its rejections apart.
const DIGIS_PREFIX_CHARS: usize = 60;

impl FailureCause {
    /// The group of rows whose failure text cannot be read: failed before causes were
    /// recorded, failed by hand, or by a version with other words.
    pub fn other() -> FailureCause {
        FailureCause {
            field: None,
            rule: OTHER.to_string(),
        }
    }

    /// Digis refused the member with `status` and `message` (its own words): grouped by the
    /// status and a cleaned prefix of the words, without the member's number.
    pub fn digis_rejection(status: u16, message: &str) -> FailureCause {
        let prefix = digis_prefix(message);
        let rule = if prefix.is_empty() {
            format!("{DIGIS} {status}")
        } else {
            format!("{DIGIS} {status}: {prefix}")
        };
        FailureCause { field: None, rule }
    }

    /// The retries ran out; `last` is the last answer's HTTP status (`None`: no answer), or
    /// `None` when the row was not tried again (its attempts were used up before).
    pub fn gave_up(last: Option<Option<i32>>) -> FailureCause {
        let last = match last {
            Some(Some(status)) => format!(" (last: HTTP {status})"),
            Some(None) => " (last: no answer)".to_string(),
            None => String::new(),
        };
        FailureCause {
            field: None,
            rule: format!("gave up after retries{last}"),
        }
    }

    /// A 2xx answer that confirms nothing.
    pub fn unconfirmed() -> FailureCause {
        FailureCause {
            field: None,
            rule: UNCONFIRMED.to_string(),
        }
    }

    /// A payload key whose value breaks our rule `message` (`payload::PayloadError`); "other"
    /// when the key or the message cannot be told apart.
    pub fn payload_field(field: &str, message: &str) -> FailureCause {
        let rule = own_rule(message);
        if is_name(field, |c| c.is_ascii_alphanumeric()) && !rule.is_empty() {
            FailureCause {
                field: Some(field.to_string()),
                rule,
            }
        } else {
            FailureCause::other()
        }
    }

    /// A host column that cannot be read (`storage::RowDefect`): `problem` as the defect says
    /// it (`is not an integer`).
    pub fn host_column(column: &str, problem: &str) -> FailureCause {
        if !is_name(column, |c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'
        }) {
            return FailureCause::other();
        }
        let problem = problem.strip_prefix("is ").unwrap_or(problem);
        FailureCause {
            field: Some(column.to_string()),
            rule: own_rule(problem),
        }
    }

    /// Whether the rule quotes Digis's words, which only the dashboard and the report file
    /// may hold (never a log, nor the held answers' journal).
    pub fn quotes_digis(&self) -> bool {
        self.field.is_none()
            && self
                .rule
                .strip_prefix(DIGIS)
                .is_some_and(|rest| rest.starts_with(' '))
    }

    pub fn is_other(&self) -> bool {
        self.field.is_none() && self.rule == OTHER
    }

    /// Rows whose answer was unconfirmed: retrying one may send a second SMS.
    pub fn is_unconfirmed(&self) -> bool {
        self.field.is_none() && self.rule == UNCONFIRMED
    }

    /// The cause of a failure the relay stored as `last_error` and `last_http_status`: the
    /// fallback for rows and journals written before completions carried their cause.
    pub fn from_stored(last_error: Option<&str>, http_status: Option<i32>) -> FailureCause {
        Failure::read(last_error, http_status).cause
    }

    /// As `digis_outbox.fail_field` / `fail_rule` hold it: "other" is NULL in both, so rows that
    /// failed before the columns existed fall into the same group.
    pub fn columns(&self) -> (Option<String>, Option<String>) {
        if self.is_other() {
            (None, None)
        } else {
            (self.field.clone(), Some(self.rule.clone()))
        }
    }

    /// Read back from [`columns`](Self::columns).
    pub fn from_columns(field: Option<String>, rule: Option<String>) -> FailureCause {
        match rule {
            Some(rule) if !rule.is_empty() => FailureCause { field, rule },
            _ => FailureCause::other(),
        }
    }
}

impl fmt::Display for FailureCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{field}: {}", self.rule),
            None => f.write_str(&self.rule),
        }
    }
}

/// One row's failure: its group's cause and what exactly is wrong with this row (the whole
/// message: `contains a letter at character 3: …`, or Digis's full answer). The detail may quote
/// Digis's words about the member: dashboard and report file only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub cause: FailureCause,
    pub detail: String,
}

impl Failure {
    /// Reads the relay's failure text (see the module documentation for whose texts).
    pub fn read(last_error: Option<&str>, http_status: Option<i32>) -> Failure {
        let text = last_error.unwrap_or_default().trim();
        let other = || Failure {
            cause: FailureCause::other(),
            detail: text.to_string(),
        };
        if text
            .strip_prefix(UNCONFIRMED)
            .is_some_and(|rest| rest.starts_with(": "))
        {
            return Failure {
                cause: FailureCause::unconfirmed(),
                detail: text.to_string(),
            };
        }
        if let Some((status, message)) = digis_rejection(text) {
            return Failure {
                cause: FailureCause::digis_rejection(status, message),
                detail: format!("{DIGIS} {status}: {message}"),
            };
        }
        if let Some(rest) = text.strip_prefix("gave up after ") {
            // With its last answer, whose status is stored beside the text.
            let last = rest.contains("; last: ").then_some(http_status);
            return Failure {
                cause: FailureCause::gave_up(last),
                detail: text.to_string(),
            };
        }
        let Some(about) = after_member(text) else {
            return other();
        };
        // A host column that cannot be read (`storage::RowDefect`).
        if let Some(rest) = about.strip_prefix("column ") {
            let Some((column, problem)) = rest.split_once(' ') else {
                return other();
            };
            let cause = FailureCause::host_column(column, problem);
            if cause.is_other() {
                return other();
            }
            let problem = problem.strip_prefix("is ").unwrap_or(problem);
            return Failure {
                cause,
                detail: format!("{column}: {problem}"),
            };
        }
        // A payload field that breaks its rule (`payload::PayloadError`).
        if let Some((field, message)) = about.split_once(": ") {
            let cause = FailureCause::payload_field(field, message);
            if !cause.is_other() {
                return Failure {
                    cause,
                    detail: message.to_string(),
                };
            }
        }
        other()
    }
}

/// A failure text without the `person P (subscription S): ` (or `outbox O, person P
/// (subscription S): `) it starts with: where the row already names its person and
/// subscription, they would only push the cause out of a narrow column.
pub fn without_member(text: &str) -> &str {
    after_member(text.trim()).unwrap_or(text.trim())
}

/// A failure text shortened for a table cell, the words that tell similar causes apart first:
/// `not a valid number for region SE` → `invalid (region SE)`, `not a mobile number for region
/// SE` → `not mobile (region SE)`, `Digis rejected the member (HTTP 400): m` → `Digis 400: m`.
/// The stored text stays whole (the detail pane and `search` show it).
pub fn brief(text: &str) -> String {
    if let Some((status, message)) = digis_rejection(text) {
        return format!("Digis {status}: {message}");
    }
    let mut out = text.to_string();
    for (long, short) in [
        ("not a valid number for region ", "invalid"),
        ("not a mobile number for region ", "not mobile"),
    ] {
        if let Some(i) = out.find(long) {
            let rest = &out[i + long.len()..];
            let region_len = rest
                .find(|c: char| !c.is_ascii_alphanumeric())
                .unwrap_or(rest.len());
            let region = &rest[..region_len];
            let tail = &rest[region_len..];
            out = format!("{}{short} (region {region}){tail}", &out[..i]);
        }
    }
    out
}

/// `Digis rejected the member (HTTP 400): message` → (400, message).
fn digis_rejection(text: &str) -> Option<(u16, &str)> {
    let rest = text.strip_prefix("Digis rejected the member (HTTP ")?;
    let (status, message) = rest.split_once("):")?;
    Some((status.parse().ok()?, message.trim()))
}

/// What follows `person P (subscription S): ` or `outbox O, person P (subscription S): `.
fn after_member(text: &str) -> Option<&str> {
    let (who, about) = text.split_once("): ")?;
    let who = match who.strip_prefix("outbox ") {
        Some(rest) => rest.split_once(", ")?.1,
        None => who,
    };
    (who.starts_with("person ") && who.contains(" (subscription ")).then_some(about)
}

fn is_name(s: &str, allowed: impl Fn(char) -> bool) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) && s.chars().all(allowed)
}

/// Our own rule texts, made the same for every row that broke the rule: the explanation after
/// `: `, asides in parentheses and ` at character N` go (`contains a letter at character 3: a
/// phone number is …` → `contains a letter`).
fn own_rule(message: &str) -> String {
    let head = message.split(": ").next().unwrap_or(message);
    let mut out = String::with_capacity(head.len());
    let mut depth = 0usize;
    for c in head.chars() {
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            c if depth == 0 => out.push(c),
            _ => {}
        }
    }
    let out = match out.find(" at character ") {
        Some(i) => {
            let tail = &out[i + " at character ".len()..];
            let rest = tail.trim_start_matches(|c: char| c.is_ascii_digit());
            format!("{}{rest}", &out[..i])
        }
        None => out,
    };
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Digis's message as a group key: digits (phone numbers, ids, dates) become `#`, words with
/// an `@` (e-mail addresses) become `<e-mail>`, and only the first
/// [`DIGIS_PREFIX_CHARS`] characters are kept.
fn digis_prefix(message: &str) -> String {
    let words: Vec<String> = message
        .split_whitespace()
        .map(|w| {
            if w.contains('@') {
                return "<e-mail>".to_string();
            }
            let mut out = String::with_capacity(w.len());
            let mut in_digits = false;
            for c in w.chars() {
                if c.is_ascii_digit() {
                    if !in_digits {
                        out.push('#');
                    }
                    in_digits = true;
                } else {
                    out.push(c);
                    in_digits = false;
                }
            }
            out
        })
        .collect();
    let joined = words.join(" ");
    if joined.chars().count() <= DIGIS_PREFIX_CHARS {
        return joined;
    }
    let cut: String = joined.chars().take(DIGIS_PREFIX_CHARS).collect();
    format!("{}…", cut.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::PayloadError;
    use crate::storage::{RowDefect, StoredId};

    /// What `relay::decide` makes of `answer` at attempt `attempts` of 12.
    fn decided(answer: &crate::digis::Answer, attempts: u32) -> crate::relay::decide::Decision {
        use std::time::Duration;
        let backoff = crate::relay::Backoff {
            base: Duration::from_secs(30),
            cap: Duration::from_secs(3600),
        };
        let (now, rng) = (chrono::Utc::now(), &mut rand::rng());
        crate::relay::decide::after_send(answer, attempts, 12, &backoff, now, rng)
    }

    fn cause(field: Option<&str>, rule: &str) -> FailureCause {
        FailureCause {
            field: field.map(str::to_string),
            rule: rule.to_string(),
        }
    }

    fn payload_error(field: &'static str, message: &str) -> String {
        let e = PayloadError {
            subscription_id: 863,
            person_id: 7,
            field,
            message: message.to_string(),
        };
        assert_eq!(e.cause(), FailureCause::payload_field(field, message));
        e.to_string()
    }

    /// The builder's own messages, as `payload::build` words them, group by field and rule:
    /// the cause the relay carries on the completion, and the one read back from the stored
    /// sentence (rows and journals of older versions), are the same.
    #[test]
    fn payload_errors_group_by_field_and_rule() {
        let read = |field, message: &str| {
            let f = Failure::read(Some(&payload_error(field, message)), None);
            assert_eq!(f.cause, FailureCause::payload_field(field, message));
            f
        };
        let f = read("MobileNumber", "not a mobile number for region SE");
        assert_eq!(
            f.cause,
            cause(Some("MobileNumber"), "not a mobile number for region SE")
        );
        assert_eq!(f.detail, "not a mobile number for region SE");
        assert_eq!(
            f.cause.to_string(),
            "MobileNumber: not a mobile number for region SE"
        );
        // Positions differ per row; the rule does not.
        let letter = |at: usize| {
            read(
                "MobileNumber",
                &crate::payload::phone::PhoneError::Letter(at).to_string(),
            )
        };
        assert_eq!(letter(3).cause, letter(9).cause);
        assert_eq!(
            letter(3).cause,
            cause(Some("MobileNumber"), "contains a letter")
        );
        assert!(letter(3).detail.contains("character 3"), "{:?}", letter(3));
        let bad_char = crate::payload::phone::PhoneError::BadCharacter { at: 4, code: 0x1b };
        assert_eq!(
            read("MobileNumber", &bad_char.to_string()).cause.rule,
            "contains a character that does not belong in a phone number"
        );
        let card = "1234 5678"
            .parse::<crate::domain::CardNumber>()
            .unwrap_err()
            .to_string();
        assert_eq!(
            read("ExtInfo20", &card).cause,
            cause(Some("ExtInfo20"), "card number contains a space")
        );
        assert_eq!(
            read("LastName", "too long (201 characters, at most 200)").cause,
            cause(Some("LastName"), "too long")
        );
        assert_eq!(
            read("DOB", "a birth date before 1900-01-01").cause,
            cause(Some("DOB"), "a birth date before 1900-01-01")
        );
    }

    #[test]
    fn unreadable_host_columns_group_by_column() {
        let defect = RowDefect {
            outbox_id: Some(crate::domain::OutboxId(17)),
            subscription: StoredId::Int(6001),
            person: StoredId::Other("2000.5".into()),
            column: "person_id",
            problem: "is not an integer".into(),
        };
        let f = Failure::read(Some(&defect.to_string()), None);
        assert_eq!(f.cause, cause(Some("person_id"), "not an integer"));
        assert_eq!(defect.cause(), f.cause, "carried and read back alike");
        assert_eq!(f.cause.to_string(), "person_id: not an integer");
        let flag = RowDefect {
            column: "allow_sms",
            problem: "is not a boolean (expected 0, 1, true or false)".into(),
            person: StoredId::Other("<text>".into()),
            ..defect
        };
        assert_eq!(
            FailureCause::from_stored(Some(&flag.to_string()), None),
            cause(Some("allow_sms"), "not a boolean")
        );
        assert_eq!(flag.cause(), cause(Some("allow_sms"), "not a boolean"));
    }

    /// What `relay::decide` stores for a rejection: grouped by status and a cleaned prefix of
    /// Digis's words, without the member's number.
    #[test]
    fn digis_rejections_group_by_status_and_message_prefix() {
        use crate::digis::Answer;
        let decide = |status: u16, message: &str| {
            let answer = Answer::Rejected {
                status,
                message: message.into(),
            };
            let d = decided(&answer, 1);
            let f = Failure::read(d.db_error.as_deref(), d.http_status.map(i32::from));
            let crate::storage::Completion::Failed { cause } = d.completion else {
                panic!("{d:?}")
            };
            assert_eq!(cause, f.cause, "carried and read back alike");
            f
        };
        let a = decide(400, "Invalid mobile 0701234567");
        let b = decide(400, "Invalid mobile 0709999999");
        assert_eq!(a.cause, b.cause);
        assert_eq!(a.cause, cause(None, "Digis 400: Invalid mobile #"));
        assert_eq!(a.detail, "Digis 400: Invalid mobile 0701234567");
        let mail = decide(422, "Email anna.svensson@example.se is taken");
        assert_eq!(mail.cause.rule, "Digis 422: Email <e-mail> is taken");
        assert!(!mail.cause.to_string().contains("svensson"));
        assert_eq!(decide(400, "").cause.rule, "Digis 400");
        let long = decide(400, &"word ".repeat(40));
        assert!(long.cause.rule.chars().count() <= "Digis 400: ".len() + 61);
        assert!(long.cause.rule.ends_with('…'));
    }

    #[test]
    fn retries_that_ran_out_group_by_their_last_answer() {
        let answer = crate::digis::Answer::RetryLater {
            status: Some(503),
            reason: "HTTP 503 Service Unavailable".into(),
            retry_after: None,
        };
        let d = decided(&answer, 12);
        let f = FailureCause::from_stored(d.db_error.as_deref(), d.http_status.map(i32::from));
        assert_eq!(f, cause(None, "gave up after retries (last: HTTP 503)"));
        assert_eq!(
            d.completion,
            crate::storage::Completion::Failed { cause: f }
        );
        assert_eq!(
            FailureCause::gave_up(Some(None)).rule,
            "gave up after retries (last: no answer)"
        );
        assert_eq!(FailureCause::gave_up(None).rule, "gave up after retries");
        let f = FailureCause::from_stored(
            Some("gave up after 12 attempts; last: timed out after 30000 ms"),
            None,
        );
        assert_eq!(f.rule, "gave up after retries (last: no answer)");
        assert_eq!(
            FailureCause::from_stored(Some("gave up after 12 attempts"), None).rule,
            "gave up after retries"
        );
    }

    /// What `relay::decide` stores for a 2xx that confirms nothing: one group, whatever the page
    /// said, with the page in the detail.
    #[test]
    fn unconfirmed_answers_group_as_unconfirmed() {
        let decide = |answer: &str| {
            let answer = crate::digis::Answer::Unconfirmed {
                status: 200,
                why: "not JSON",
                answer: answer.into(),
            };
            let d = decided(&answer, 1);
            assert_eq!(
                d.completion,
                crate::storage::Completion::Failed {
                    cause: FailureCause::unconfirmed()
                }
            );
            Failure::read(d.db_error.as_deref(), d.http_status.map(i32::from))
        };
        let a = decide("<html>Maintenance until 06:00</html>");
        let b = decide("Service temporarily down");
        assert_eq!(a.cause, b.cause);
        assert_eq!(a.cause, cause(None, UNCONFIRMED));
        assert!(a.cause.is_unconfirmed());
        assert!(a.detail.contains("Maintenance until 06:00"), "{}", a.detail);
        assert!(a.detail.contains("HTTP 200"), "{}", a.detail);
        let (field, rule) = a.cause.columns();
        assert_eq!((field, rule.as_deref()), (None, Some("unconfirmed")));
        assert!(!FailureCause::from_stored(Some("unconfirmed answer"), None).is_unconfirmed());
    }

    #[test]
    fn anything_else_is_other_and_other_is_null_in_the_columns() {
        for text in [
            None,
            Some(""),
            Some("MobileNumber: not a valid mobile number"),
            Some("person 7 (subscription 8): "),
            Some("person 7 (subscription 8): lower case: x"),
            Some("bad"),
        ] {
            let c = FailureCause::from_stored(text, Some(400));
            assert!(c.is_other(), "{text:?} gave {c:?}");
        }
        assert_eq!(FailureCause::other().columns(), (None, None));
        assert!(FailureCause::digis_rejection(400, "Invalid mobile").quotes_digis());
        assert!(FailureCause::digis_rejection(400, "").quotes_digis());
        for own in [
            FailureCause::gave_up(Some(Some(503))),
            FailureCause::unconfirmed(),
            FailureCause::other(),
            cause(Some("Digis"), "x"),
            cause(None, "Digisx"),
        ] {
            assert!(!own.quotes_digis(), "{own:?}");
        }
        assert!(FailureCause::from_columns(None, None).is_other());
        let c = cause(Some("MobileNumber"), "contains a letter");
        let (f, r) = c.columns();
        assert_eq!(FailureCause::from_columns(f, r), c);
    }
}
