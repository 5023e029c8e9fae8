//! What a Digis answer means for the row (DESIGN §5). Pure functions of status, headers and
//! body, so every rule is unit-tested without a network.
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
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
    /// The configuration is wrong, not the row (401, 403, 404): pause, don't charge.
    ConfigError { status: u16, reason: String },
}

impl Outcome {
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Outcome::Accepted { status, .. }
            | Outcome::Rejected { status, .. }
            | Outcome::ConfigError { status, .. } => Some(*status),
            Outcome::RetryLater { status, .. } => *status,
        }
    }
}

/// Classifies a complete HTTP answer.
pub fn classify(
    status: u16,
    retry_after: Option<&str>,
    body: &[u8],
    id_pointer: Option<&str>,
    now: DateTime<Utc>,
) -> Outcome {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let message = json
        .as_ref()
        .and_then(message_of)
        .unwrap_or_else(|| short_text(body));
    match status {
        200..=299 => {
            if let Some(obj) = json.as_ref().and_then(Value::as_object) {
                let said_no = SUCCESS_KEYS.iter().any(|k| obj.get(*k) == Some(&Value::Bool(false)));
                if said_no {
                    let msg = if message.is_empty() { "Digis answered Success: false".into() } else { message };
                    return Outcome::Rejected { status, message: msg };
                }
            }
            let external_id = json.as_ref().and_then(|v| external_id(v, id_pointer));
            let warning = external_id
                .is_none()
                .then(|| format!("Digis accepted the member (HTTP {status}) but its answer has no external id"));
            Outcome::Accepted { status, external_id, warning }
        }
        401 | 403 | 404 => Outcome::ConfigError {
            status,
            reason: format!(
                "Digis answered HTTP {status} {}: check digisUrl, the token in digisUrlPostfix and digisAuthorizationHeader{}",
                reason_phrase(status),
                if message.is_empty() { String::new() } else { format!(" ({message})") }
            ),
        },
        408 | 425 | 429 | 500 | 502 | 503 | 504 => Outcome::RetryLater {
            status: Some(status),
            reason: format!("HTTP {status} {}", reason_phrase(status)),
            retry_after: retry_after.and_then(|h| parse_retry_after(h, now)),
        },
        _ => Outcome::Rejected {
            status,
            message: if message.is_empty() { format!("HTTP {status} {}", reason_phrase(status)) } else { message },
        },
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
        .map(|s| truncate(&s, 300))
}

fn short_text(body: &[u8]) -> String {
    truncate(String::from_utf8_lossy(body).trim(), 300)
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

/// `Retry-After` as seconds or an HTTP date; a date in the past means "now".
pub fn parse_retry_after(h: &str, now: DateTime<Utc>) -> Option<Duration> {
    let h = h.trim();
    if let Ok(secs) = h.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at: DateTime<Utc> = httpdate::parse_http_date(h).ok()?.into();
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(status: u16, body: &str) -> Outcome {
        classify(status, None, body.as_bytes(), None, Utc::now())
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
                Outcome::Accepted {
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
        let o = classify(
            201,
            None,
            br#"{"data":{"id":"P"},"Id":"no"}"#,
            Some("/data/id"),
            Utc::now(),
        );
        assert!(matches!(o, Outcome::Accepted { external_id: Some(ref i), .. } if i == "P"));
        match c(200, r#"{"Success":true}"#) {
            Outcome::Accepted {
                external_id: None,
                warning: Some(w),
                ..
            } => assert!(w.contains("no external id")),
            o => panic!("{o:?}"),
        }
        assert!(matches!(
            c(204, ""),
            Outcome::Accepted {
                external_id: None,
                ..
            }
        ));
    }

    #[test]
    fn success_false_is_a_rejection_with_its_message() {
        assert_eq!(
            c(200, r#"{"Success":false,"Message":"Invalid mobile"}"#),
            Outcome::Rejected {
                status: 200,
                message: "Invalid mobile".into()
            }
        );
        assert!(matches!(
            c(200, r#"{"IsSuccess":false}"#),
            Outcome::Rejected { .. }
        ));
    }

    #[test]
    fn retryable_and_config_and_other_4xx() {
        for s in [408, 425, 429, 500, 502, 503, 504] {
            assert!(
                matches!(c(s, ""), Outcome::RetryLater { status: Some(x), .. } if x == s),
                "{s}"
            );
        }
        for s in [401, 403, 404] {
            assert!(matches!(c(s, ""), Outcome::ConfigError { .. }), "{s}");
        }
        assert_eq!(
            c(400, r#"{"message":"MobileNumber is required"}"#),
            Outcome::Rejected {
                status: 400,
                message: "MobileNumber is required".into()
            }
        );
        assert!(
            matches!(c(422, "plain text"), Outcome::Rejected { ref message, .. } if message == "plain text")
        );
        assert!(matches!(c(501, ""), Outcome::Rejected { .. }));
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = Utc::now();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        let later = now + chrono::Duration::seconds(90);
        let d = parse_retry_after(&httpdate::fmt_http_date(later.into()), now).unwrap();
        assert!((88..=90).contains(&d.as_secs()), "{d:?}");
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        let o = classify(429, Some("7"), b"", None, now);
        assert!(matches!(o, Outcome::RetryLater { retry_after: Some(d), .. } if d.as_secs() == 7));
    }
}
