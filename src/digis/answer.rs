//! What Digis's answer means for the row (docs/contracts.md, Digis HTTP). Pure functions of status,
//! headers and body, so every rule is unit-tested without a network.
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

/// The keys tried for the external id, in order, when no JSON pointer is configured.
const ID_KEYS: [&str; 6] = ["ExternalId", "ExternalID", "Id", "ID", "id", "ContactId"];
const SUCCESS_KEYS: [&str; 3] = ["Success", "success", "IsSuccess"];
const MESSAGE_KEYS: [&str; 6] = [
    "Message",
    "message",
    "Error",
    "error",
    "ErrorMessage",
    "title",
];

/// What Digis answered, classified: the relay decides the row's [`Completion`] from it
/// (`relay::decide::after_send`).
///
/// [`Completion`]: crate::storage::Completion
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Digis accepted the member. `warning` is set when it did not say which id it gave.
    Accepted {
        status: u16,
        external_id: Option<String>,
        warning: Option<String>,
    },
    /// A permanent rejection of this row: `failed`, with Digis's message.
    Rejected { status: u16, message: String },
    /// Try again later; `retry_after` when Digis said how long to wait.
    RetryLater {
        status: Option<u16>,
        reason: String,
        retry_after: Option<Duration>,
    },
    /// The configuration is wrong, not the row (3xx, 401, 403, 404; with no status, a TLS
    /// failure retrying cannot mend: `transport::Cause::is_configuration`): pause, don't charge.
    ConfigError { status: Option<u16>, reason: String },
    /// A 2xx that does not say what happened: a body that is not JSON (a proxy's or a
    /// maintenance page), or one cut at [`BODY_LIMIT`]. Digis may have sent the SMS, or never
    /// seen the request: the row fails (never retried by itself) and no request starts after
    /// it (docs/contracts.md, Digis HTTP).
    Unconfirmed {
        status: u16,
        /// What was wrong with the body, in our words: `not JSON`, `cut at 64 KiB`.
        why: &'static str,
        /// The start of the body, whitespace collapsed, cleaned and cut to a few hundred
        /// characters: shown to support, never logged.
        answer: String,
    },
}

impl Answer {
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Answer::Accepted { status, .. }
            | Answer::Rejected { status, .. }
            | Answer::Unconfirmed { status, .. } => Some(*status),
            Answer::RetryLater { status, .. } | Answer::ConfigError { status, .. } => *status,
        }
    }
}

/// Digis's response as it came off the wire: nothing in it is trusted.
#[derive(Debug, Clone, Copy, Default)]
pub struct Response<'a> {
    pub status: u16,
    pub retry_after: Option<&'a str>,
    pub location: Option<&'a str>,
    /// At most [`BODY_LIMIT`] bytes: the client stops reading there.
    pub body: &'a [u8],
    /// The body went on past [`BODY_LIMIT`]: `body` is only its start.
    pub cut: bool,
}

/// What the configuration says about reading responses.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    pub id_pointer: Option<&'a str>,
    /// `Retry-After` is obeyed up to this long (docs/contracts.md, Digis HTTP: never later than
    /// `backoff_max_ms`).
    pub retry_cap: Duration,
    /// Replaced by `***` wherever Digis echoes them back.
    pub secrets: &'a [String],
}

/// The most of an answer's body the client reads; the rest is dropped unread. Digis's real
/// answers are a few hundred bytes.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Digis's texts kept in the answer are cut to this many characters.
const TEXT_LIMIT: usize = 300;

/// Classifies a response into an [`Answer`]. Every text in the result is cleaned of control characters and
/// secrets here, once, so whatever stores, logs or shows it may trust it.
pub fn classify(a: &Response, rules: &Rules, now: DateTime<Utc>) -> Answer {
    let clean = |s: &str| {
        truncate(
            &crate::sanitize::clean_untrusted(s, rules.secrets),
            TEXT_LIMIT,
        )
    };
    let status = a.status;
    let json: Option<Value> = serde_json::from_slice(a.body).ok();
    // Only a refusal or a configuration error shows Digis's message: an acceptance, the common
    // answer, does not pay for cleaning it.
    let message = || {
        clean(
            &json
                .as_ref()
                .and_then(message_of)
                .unwrap_or_else(|| String::from_utf8_lossy(a.body).trim().to_string()),
        )
    };
    match status {
        200..=299 => {
            if let Some(why) = unconfirmed(a, json.as_ref()) {
                let answer = clean(
                    &String::from_utf8_lossy(a.body)
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" "),
                );
                return Answer::Unconfirmed { status, why, answer };
            }
            if let Some(obj) = json.as_ref().and_then(Value::as_object) {
                let said_no = SUCCESS_KEYS
                    .iter()
                    .any(|k| obj.get(*k).is_some_and(is_false));
                if said_no {
                    let message = message();
                    let msg = if message.is_empty() {
                        "Digis answered Success: false".into()
                    } else {
                        message
                    };
                    return Answer::Rejected {
                        status,
                        message: msg,
                    };
                }
            }
            let external_id = json
                .as_ref()
                .and_then(|v| external_id(v, rules.id_pointer))
                .map(|id| clean(&id))
                .filter(|id| !id.is_empty());
            let warning = external_id.is_none().then(|| {
                format!("Digis accepted the member (HTTP {status}) but its answer has no external id")
            });
            Answer::Accepted {
                status,
                external_id,
                warning,
            }
        }
        // A redirect is never followed (it would carry the token wherever it points): the
        // endpoint moved, which is the configuration's fault, not the row's.
        300..=399 => Answer::ConfigError {
            status: Some(status),
            reason: format!(
                "Digis answered HTTP {status} {}, a redirect{}, which is not followed: check digisUrl and digisUrlPostfix",
                reason_phrase(status),
                a.location.map(|l| format!(" to {}", clean(l))).unwrap_or_default()
            ),
        },
        401 | 403 | 404 => Answer::ConfigError {
            status: Some(status),
            reason: format!(
                "Digis answered HTTP {status} {}: check digisUrl, the token in digisUrlPostfix and digisAuthorizationHeader{}",
                reason_phrase(status),
                Some(message()).filter(|m| !m.is_empty()).map(|m| format!(" ({m})")).unwrap_or_default()
            ),
        },
        408 | 425 | 429 | 500 | 502 | 503 | 504 => Answer::RetryLater {
            status: Some(status),
            reason: format!("HTTP {status} {}", reason_phrase(status)),
            retry_after: a.retry_after.and_then(|h| parse_retry_after(h, now, rules.retry_cap)),
        },
        _ => Answer::Rejected {
            status,
            message: Some(message()).filter(|m| !m.is_empty()).unwrap_or_else(|| format!("HTTP {status} {}", reason_phrase(status))),
        },
    }
}

/// Why a 2xx does not confirm anything, if it does not: a body cut at [`BODY_LIMIT`] (whatever
/// it holds, its end is unknown), or one that is not JSON. An empty body (or a 204) is Digis's
/// plain "yes" and confirms.
fn unconfirmed(a: &Response, json: Option<&Value>) -> Option<&'static str> {
    if a.cut {
        Some("cut at 64 KiB")
    } else if json.is_none() && !a.body.trim_ascii().is_empty() {
        Some("not JSON")
    } else {
        None
    }
}

/// A `Success` that says no, in any spelling Digis (or a layer in front of it) may use.
fn is_false(v: &Value) -> bool {
    match v {
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => {
            let s = s.trim();
            s.eq_ignore_ascii_case("false") || s == "0"
        }
        _ => false,
    }
}

fn reason_phrase(status: u16) -> &'static str {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
}

fn message_of(v: &Value) -> Option<String> {
    let obj = v.as_object()?;
    MESSAGE_KEYS
        .iter()
        .find_map(|k| obj.get(*k))
        .map(|m| match m {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(max).collect::<String>())
    }
}

/// The external id: the configured pointer, else the first known key, else a bare body.
pub fn external_id(v: &Value, pointer: Option<&str>) -> Option<String> {
    let found = match pointer.filter(|p| !p.is_empty()) {
        Some(p) => v.pointer(p),
        None => match v {
            Value::Object(obj) => ID_KEYS.iter().find_map(|k| obj.get(*k)),
            Value::Number(_) | Value::String(_) => Some(v),
            _ => None,
        },
    };
    match found? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `Retry-After` as seconds or an HTTP date, at most `cap`; a date in the past means "now".
/// Digis's number is untrusted: any size is read without overflow and then capped.
pub fn parse_retry_after(h: &str, now: DateTime<Utc>, cap: Duration) -> Option<Duration> {
    let h = h.trim();
    if !h.is_empty() && h.bytes().all(|b| b.is_ascii_digit()) {
        // More digits than a u64 holds is still "a very long time".
        let secs = h.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs).min(cap));
    }
    let at: DateTime<Utc> = httpdate::parse_http_date(h).ok()?.into();
    Some(
        at.signed_duration_since(now)
            .to_std()
            .unwrap_or(Duration::ZERO)
            .min(cap),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HOUR: Duration = Duration::from_secs(3600);
    const TOKEN: &str = "SECRET-TOKEN-4711";

    fn rules<'a>(secrets: &'a [String]) -> Rules<'a> {
        Rules {
            id_pointer: None,
            retry_cap: HOUR,
            secrets,
        }
    }

    fn c(status: u16, body: &str) -> Answer {
        let a = Response {
            status,
            body: body.as_bytes(),
            ..Default::default()
        };
        classify(&a, &rules(&[]), Utc::now())
    }

    fn texts(o: &Answer) -> Vec<String> {
        match o {
            Answer::Accepted {
                external_id,
                warning,
                ..
            } => [external_id.clone(), warning.clone()]
                .into_iter()
                .flatten()
                .collect(),
            Answer::Rejected { message, .. } => vec![message.clone()],
            Answer::RetryLater { reason, .. } => vec![reason.clone()],
            Answer::ConfigError { reason, .. } => vec![reason.clone()],
            Answer::Unconfirmed { answer, .. } => vec![answer.clone()],
        }
    }

    #[test]
    fn accepted_with_each_id_form() {
        for (body, id) in [
            (r#"{"ExternalId":"TE-1"}"#, "TE-1"),
            (r#"{"ExternalID":7}"#, "7"),
            (r#"{"Id":"a","ID":"b"}"#, "a"),
            (r#"{"ContactId":" 42 "}"#, "42"),
            ("12345", "12345"),
            (r#""abc""#, "abc"),
        ] {
            match c(200, body) {
                Answer::Accepted {
                    external_id,
                    warning,
                    ..
                } => {
                    assert_eq!(external_id.as_deref(), Some(id), "{body}");
                    assert!(warning.is_none());
                }
                o => panic!("{body}: {o:?}"),
            }
        }
    }

    #[test]
    fn pointer_wins_and_missing_id_is_still_sent() {
        let a = Response {
            status: 201,
            body: br#"{"data":{"id":"P"},"Id":"no"}"#,
            ..Default::default()
        };
        let r = Rules {
            id_pointer: Some("/data/id"),
            ..rules(&[])
        };
        let o = classify(&a, &r, Utc::now());
        assert!(matches!(o, Answer::Accepted { external_id: Some(ref i), .. } if i == "P"));
        match c(200, r#"{"Success":true}"#) {
            Answer::Accepted {
                external_id: None,
                warning: Some(w),
                ..
            } => assert!(w.contains("no external id")),
            o => panic!("{o:?}"),
        }
        assert!(matches!(
            c(204, ""),
            Answer::Accepted {
                external_id: None,
                ..
            }
        ));
    }

    #[test]
    fn success_false_is_a_rejection_with_its_message() {
        assert_eq!(
            c(200, r#"{"Success":false,"Message":"Invalid mobile"}"#),
            Answer::Rejected {
                status: 200,
                message: "Invalid mobile".into()
            }
        );
        assert!(matches!(
            c(200, r#"{"IsSuccess":false}"#),
            Answer::Rejected { .. }
        ));
    }

    /// A maintenance or proxy page that answers 200 says nothing about the member: Digis may
    /// have sent the SMS, or never seen the request.
    #[test]
    fn a_2xx_that_is_not_json_is_unconfirmed() {
        let page = "<!DOCTYPE html>\n<html><head><title>Maintenance</title></head>\n\
                    <body>Back soon</body></html>";
        for status in [200, 201, 202] {
            match c(status, page) {
                Answer::Unconfirmed {
                    status: s,
                    why,
                    answer,
                } => {
                    assert_eq!((s, why), (status, "not JSON"));
                    // Shown to support: on one line, and the page's words are there.
                    assert!(answer.starts_with("<!DOCTYPE html> <html>"), "{answer}");
                    assert!(answer.contains("Back soon"), "{answer}");
                    assert!(!answer.contains('\\'), "newlines collapsed: {answer}");
                }
                o => panic!("{status}: {o:?}"),
            }
        }
        assert!(matches!(c(200, "OK"), Answer::Unconfirmed { .. }));
        assert!(matches!(c(200, "{\"Id\":"), Answer::Unconfirmed { .. }));
        // A long page is shown cut.
        let long = format!("<html>{}</html>", "x".repeat(10_000));
        match c(200, &long) {
            Answer::Unconfirmed { answer, .. } => assert!(answer.chars().count() <= 301),
            o => panic!("{o:?}"),
        }
        // Empty (or blank) 2xx and 204 are Digis's plain yes, as before.
        for (status, body) in [(200, ""), (200, " \r\n"), (204, ""), (201, "")] {
            assert!(
                matches!(
                    c(status, body),
                    Answer::Accepted {
                        external_id: None,
                        ..
                    }
                ),
                "{status} {body:?}"
            );
        }
    }

    /// A body cut at the cap has an end nobody read: even JSON with an id does not confirm.
    #[test]
    fn a_2xx_cut_at_the_body_cap_is_unconfirmed() {
        let body = format!(
            r#"{{"ExternalId":"TE-1","Padding":"{}"#,
            "x".repeat(BODY_LIMIT)
        );
        let a = Response {
            status: 200,
            body: &body.as_bytes()[..BODY_LIMIT],
            cut: true,
            ..Default::default()
        };
        match classify(&a, &rules(&[]), Utc::now()) {
            Answer::Unconfirmed { status, why, .. } => {
                assert_eq!((status, why), (200, "cut at 64 KiB"))
            }
            o => panic!("{o:?}"),
        }
        // The same start, whole: accepted as ever.
        let whole = Response {
            status: 200,
            body: br#"{"ExternalId":"TE-1","Padding":"xx"}"#,
            ..Default::default()
        };
        assert!(matches!(
            classify(&whole, &rules(&[]), Utc::now()),
            Answer::Accepted { external_id: Some(ref i), .. } if i == "TE-1"
        ));
        // A non-2xx cut keeps its status's meaning.
        let err = Response {
            status: 503,
            body: b"xxxx",
            cut: true,
            ..Default::default()
        };
        assert!(matches!(
            classify(&err, &rules(&[]), Utc::now()),
            Answer::RetryLater { .. }
        ));
    }

    /// `Success` false in any spelling is a rejection; true in any spelling is not.
    #[test]
    fn success_false_in_any_spelling_is_a_rejection() {
        for no in [
            r#""false""#,
            r#""False""#,
            r#""FALSE""#,
            r#"" false ""#,
            "0",
            "0.0",
            r#""0""#,
            "false",
        ] {
            for key in ["Success", "success", "IsSuccess"] {
                let body = format!(r#"{{"{key}":{no},"Message":"Invalid mobile","Id":"7"}}"#);
                assert_eq!(
                    c(200, &body),
                    Answer::Rejected {
                        status: 200,
                        message: "Invalid mobile".into()
                    },
                    "{body}"
                );
            }
        }
        // Without a message, the body is the message (as for a boolean false).
        let body = r#"{"success":"false"}"#;
        assert!(
            matches!(c(200, body), Answer::Rejected { ref message, .. } if message == body),
            "{body}"
        );
        for yes in [r#""true""#, "1", "true", r#""yes""#, "null"] {
            let body = format!(r#"{{"Success":{yes},"Id":"7"}}"#);
            assert!(
                matches!(c(200, &body), Answer::Accepted { external_id: Some(ref i), .. } if i == "7"),
                "{body}"
            );
        }
    }

    #[test]
    fn retryable_and_config_and_other_4xx() {
        for s in [408, 425, 429, 500, 502, 503, 504] {
            assert!(
                matches!(c(s, ""), Answer::RetryLater { status: Some(x), .. } if x == s),
                "{s}"
            );
        }
        for s in [401, 403, 404] {
            assert!(matches!(c(s, ""), Answer::ConfigError { .. }), "{s}");
        }
        assert_eq!(
            c(400, r#"{"message":"MobileNumber is required"}"#),
            Answer::Rejected {
                status: 400,
                message: "MobileNumber is required".into()
            }
        );
        assert!(
            matches!(c(422, "plain text"), Answer::Rejected { ref message, .. } if message == "plain text")
        );
        assert!(matches!(c(501, ""), Answer::Rejected { .. }));
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = Utc::now();
        assert_eq!(
            parse_retry_after("120", now, HOUR),
            Some(Duration::from_secs(120))
        );
        let later = now + chrono::Duration::seconds(90);
        let d = parse_retry_after(&httpdate::fmt_http_date(later.into()), now, HOUR).unwrap();
        assert!((88..=90).contains(&d.as_secs()), "{d:?}");
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now, HOUR),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now, HOUR), None);
        let a = Response {
            status: 429,
            retry_after: Some("7"),
            ..Default::default()
        };
        let o = classify(&a, &rules(&[]), now);
        assert!(matches!(o, Answer::RetryLater { retry_after: Some(d), .. } if d.as_secs() == 7));
    }

    #[test]
    fn huge_retry_after_is_capped_not_overflowed() {
        let now = Utc::now();
        for h in [
            "10000000000000",
            "1000000000000",
            "99999999999999999999999999",
            "3600",
        ] {
            assert_eq!(parse_retry_after(h, now, HOUR), Some(HOUR), "{h}");
        }
        assert_eq!(
            parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now, HOUR),
            Some(HOUR)
        );
        assert_eq!(parse_retry_after("-5", now, HOUR), None);
    }

    #[test]
    fn redirects_are_a_configuration_problem() {
        for s in [301, 302, 303, 307, 308] {
            let a = Response {
                status: s,
                location: Some("https://elsewhere.example/brp?token=SECRET-TOKEN-4711"),
                ..Default::default()
            };
            match classify(&a, &rules(&[]), Utc::now()) {
                Answer::ConfigError { status, reason } => {
                    assert_eq!(status, Some(s));
                    assert!(reason.contains("redirect") && reason.contains("elsewhere.example"));
                    assert!(!reason.contains(TOKEN), "{reason}");
                }
                o => panic!("{s}: {o:?}"),
            }
        }
    }

    #[test]
    fn digis_words_are_cleaned_before_anyone_sees_them() {
        let secrets = vec![TOKEN.to_string()];
        let body = format!(
            r#"{{"Message":"Cannot POST /v1/import/single/brp?token={TOKEN}\u001b[2J\nfake"}}"#
        );
        let a = Response {
            status: 404,
            body: body.as_bytes(),
            ..Default::default()
        };
        let o = classify(&a, &rules(&secrets), Utc::now());
        let reason = &texts(&o)[0];
        assert!(matches!(o, Answer::ConfigError { .. }));
        assert!(!reason.contains(TOKEN), "{reason}");
        assert!(reason.contains("token=***"), "{reason}");
        assert!(
            !reason.contains('\u{1b}') && !reason.contains('\n'),
            "{reason}"
        );
        // The token echoed bare, as an id, is redacted too.
        let body = format!(r#"{{"ExternalId":"id-{TOKEN}"}}"#);
        let a = Response {
            status: 200,
            body: body.as_bytes(),
            ..Default::default()
        };
        let o = classify(&a, &rules(&secrets), Utc::now());
        assert!(matches!(o, Answer::Accepted { external_id: Some(ref i), .. } if i == "id-***"));
    }

    proptest! {
        #[test]
        fn retry_after_never_panics_and_never_exceeds_the_cap(
            h in prop_oneof![
                "\\PC{0,40}",
                "[0-9]{1,40}",
                any::<u64>().prop_map(|n| n.to_string()),
                (0i64..253_402_300_799).prop_map(|t| httpdate::fmt_http_date(
                    std::time::UNIX_EPOCH + Duration::from_secs(t as u64))),
            ],
            cap_s in 0u64..10_000_000,
        ) {
            let cap = Duration::from_secs(cap_s);
            if let Some(d) = parse_retry_after(&h, Utc::now(), cap) {
                prop_assert!(d <= cap);
            }
        }

        #[test]
        fn http_dates_round_trip(t in 0u64..253_402_300_799) {
            let at = std::time::UNIX_EPOCH + Duration::from_secs(t);
            let text = httpdate::fmt_http_date(at);
            let epoch = DateTime::<Utc>::from(std::time::UNIX_EPOCH);
            let d = parse_retry_after(&text, epoch, Duration::MAX).unwrap();
            prop_assert_eq!(d, Duration::from_secs(t));
        }

        #[test]
        fn any_answer_classifies_safely(
            status in 100u16..=999,
            body in prop_oneof![
                any::<Vec<u8>>(),
                "\\PC{0,60}".prop_map(|m| format!(r#"{{"Message":"{m}?token={TOKEN}&x \u001b[2J"}}"#).into_bytes()),
                "\\PC{0,60}".prop_map(|m| format!(r#"{{"ExternalId":"{m}{TOKEN}","Success":true}}"#).into_bytes()),
                any::<String>().prop_map(|m| serde_json::json!({"error": m, "Id": m}).to_string().into_bytes()),
            ],
            retry_after in proptest::option::of(any::<String>()),
            location in proptest::option::of(any::<String>().prop_map(|l| format!("{l}{TOKEN}"))),
            cut in any::<bool>(),
        ) {
            let secrets = vec![TOKEN.to_string()];
            let a = Response {
                status,
                retry_after: retry_after.as_deref(),
                location: location.as_deref(),
                body: &body,
                cut,
            };
            let o = classify(&a, &rules(&secrets), Utc::now());
            match (status, &o) {
                (200..=299, Answer::RetryLater { .. } | Answer::ConfigError { .. }) => {
                    prop_assert!(false, "2xx became {o:?}")
                }
                (300..=399 | 401 | 403 | 404, Answer::ConfigError { .. }) => {}
                (300..=399 | 401 | 403 | 404, _) => prop_assert!(false, "{status} became {o:?}"),
                _ => {}
            }
            if let Answer::RetryLater { retry_after: Some(d), .. } = &o {
                prop_assert!(*d <= HOUR);
            }
            for t in texts(&o) {
                prop_assert!(!t.contains(TOKEN), "{t:?}");
                prop_assert!(!t.chars().any(crate::sanitize::is_unsafe_char), "{t:?}");
            }
        }
    }
}
