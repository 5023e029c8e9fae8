//! Fault rules: which requests the fake answers badly, and how.
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One fault. Filters (`card`, `subscription`) choose the requests; `times` limits how many of
/// them; the rest says what happens. A rule with filters and no effect answers normally, which
/// exempts the requests it matches from the rules after it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultRule {
    /// Only requests whose `ExtInfo20` is this card number (compared as text, leading zeros kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card: Option<String>,
    /// Only requests whose `ExtInfo1` is this subscription id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription: Option<i64>,
    /// Answer with this status. Non-2xx: body `{"Success":false,"Message":message}`; 2xx: the
    /// normal success body with that status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Wait this long before answering (or before dropping).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// Close the TCP connection without any HTTP response.
    #[serde(skip_serializing_if = "is_false")]
    pub drop: bool,
    /// `Retry-After` header value, sent as given (seconds or an HTTP date).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<String>,
    /// 200 `{"Success":true}` without an external id.
    #[serde(skip_serializing_if = "is_false")]
    pub no_id: bool,
    /// 200 `{"Success":false,"Message":...}`.
    #[serde(skip_serializing_if = "is_false")]
    pub success_false: bool,
    /// 200 with an HTML page (`Content-Type: text/html`), as a proxy or a maintenance page in
    /// front of Digis answers: the request is recorded, but nothing says Digis imported it.
    #[serde(skip_serializing_if = "is_false")]
    pub html: bool,
    /// Message of a `status` or `success_false` answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Apply to the first N matching requests only; then the rule is spent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
    /// Pad the answer's JSON body to this many bytes (a huge answer, streamed in chunks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_bytes: Option<u64>,
    /// Trickle the answer's body over this many milliseconds (headers first, then slow chunks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slow_body_ms: Option<u64>,
    /// Apply to a matching request with this chance (1-100 %); a request the dice spares goes on
    /// to the next rule. Lets one rule list mix faults at random, as a soak needs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percent: Option<u8>,
    /// Apply only above this many requests per second: a matching request is let through
    /// (on to the next rule) while fewer than N matching requests were let through in the last
    /// second (a sliding window), and answered by this rule otherwise, 429 without
    /// `Retry-After` unless the rule says another answer. Digis's own rate limit, as a client
    /// that sends too fast meets it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<u32>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A fault rule that cannot be used; the message names the bad part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fault rule `{rule}`: {what}")]
pub struct FaultRuleError {
    pub rule: String,
    pub what: String,
}

const KEYS: &str =
    "card, subscription, status, delay_ms, drop, retry_after, no_id, success_false, html, \
                    body_bytes, slow_body_ms, percent, rate_limit, message, times";

impl FaultRule {
    /// Checks combinations that cannot mean anything; `Err` is the reason.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(s) = self.status {
            if !(100..=599).contains(&s) {
                return Err(format!("status {s} is not an HTTP status (100-599)"));
            }
        }
        let answers = [
            self.status.is_some(),
            self.no_id,
            self.success_false,
            self.html,
            self.drop,
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if answers > 1 {
            return Err("choose one of status, no_id, success_false, html and drop".into());
        }
        if self.drop && (self.retry_after.is_some() || self.message.is_some()) {
            return Err("drop sends no response, so retry_after and message mean nothing".into());
        }
        if self.message.is_some() && self.status.is_none() && !self.success_false {
            return Err("message needs status=... or success_false".into());
        }
        if let Some(ra) = &self.retry_after {
            if ra.trim().is_empty() || axum::http::HeaderValue::from_str(ra).is_err() {
                return Err(format!(
                    "retry_after `{ra}` cannot be a header value (use seconds or an HTTP date)"
                ));
            }
        }
        if self.times == Some(0) {
            return Err("times=0 would never apply".into());
        }
        if self.drop && (self.body_bytes.is_some() || self.slow_body_ms.is_some()) {
            return Err(
                "drop sends no response, so body_bytes and slow_body_ms mean nothing".into(),
            );
        }
        if let Some(p) = self.percent {
            if !(1..=100).contains(&p) {
                return Err(format!("percent={p} is not a chance of 1 to 100"));
            }
        }
        if self.rate_limit == Some(0) {
            return Err("rate_limit=0 would refuse every request (use status=429)".into());
        }
        Ok(())
    }

    /// The rule as it answers: a `rate_limit` rule that says no answer of its own answers 429.
    pub(crate) fn answering(mut self) -> FaultRule {
        let says =
            self.status.is_some() || self.drop || self.no_id || self.success_false || self.html;
        if self.rate_limit.is_some() && !says {
            self.status = Some(429);
        }
        self
    }

    /// Whether the filters accept a request with these `ExtInfo1` / `ExtInfo20` values.
    pub(crate) fn filters_match(&self, body: &serde_json::Value) -> bool {
        if let Some(card) = &self.card {
            match body.get("ExtInfo20").and_then(as_text) {
                Some(c) if &c == card => {}
                _ => return false,
            }
        }
        if let Some(sub) = self.subscription {
            match body.get("ExtInfo1").and_then(as_text) {
                Some(s) if s == sub.to_string() => {}
                _ => return false,
            }
        }
        true
    }
}

/// A JSON scalar as text: strings as they are, numbers in their JSON spelling.
pub(crate) fn as_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn parse_flag(rule: &str, key: &str, value: Option<&str>) -> Result<bool, FaultRuleError> {
    match value {
        None | Some("true") | Some("1") | Some("yes") => Ok(true),
        Some("false") | Some("0") | Some("no") => Ok(false),
        Some(v) => Err(FaultRuleError {
            rule: rule.into(),
            what: format!("{key}=`{v}` is not true or false"),
        }),
    }
}

fn needs_value<'a>(rule: &str, key: &str, v: Option<&'a str>) -> Result<&'a str, FaultRuleError> {
    v.map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| FaultRuleError {
            rule: rule.into(),
            what: format!("`{key}` needs a value, e.g. `{key}=...`"),
        })
}

fn parse_num<T: FromStr>(rule: &str, key: &str, v: &str, what: &str) -> Result<T, FaultRuleError> {
    v.trim().parse().map_err(|_| FaultRuleError {
        rule: rule.into(),
        what: format!("{key}=`{v}` is not {what}"),
    })
}

impl FromStr for FaultRule {
    type Err = FaultRuleError;

    /// `key=value` pairs separated by commas; `drop`, `no_id`, `success_false` and `html` stand
    /// alone.
    /// A message or an HTTP date may contain commas: a part that does not start with a known key
    /// continues the `message` or `retry_after` before it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |what: String| FaultRuleError {
            rule: s.into(),
            what,
        };
        if s.trim().is_empty() {
            return Err(err(format!(
                "empty (expected e.g. `status=500,times=1`; keys: {KEYS})"
            )));
        }
        let mut r = FaultRule::default();
        // Free-text values (a message, an HTTP date) may contain commas.
        let mut free_text: Option<&str> = None;
        for part in s.split(',') {
            let (key, value) = match part.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v)),
                None => (part.trim(), None),
            };
            let known = KEYS.split(", ").any(|k| k == key);
            if let (false, Some(which)) = (known, free_text) {
                let m = if which == "message" {
                    r.message.get_or_insert_with(String::new)
                } else {
                    r.retry_after.get_or_insert_with(String::new)
                };
                m.push(',');
                m.push_str(part);
                continue;
            }
            free_text = None;
            let needs_value = |v| needs_value(s, key, v);
            match key {
                "card" => r.card = Some(needs_value(value)?.to_string()),
                "subscription" => {
                    r.subscription = Some(parse_num(s, key, needs_value(value)?, "a number")?)
                }
                "status" => {
                    r.status = Some(parse_num(
                        s,
                        key,
                        needs_value(value)?,
                        "an HTTP status (100-599)",
                    )?)
                }
                "delay_ms" => {
                    r.delay_ms = Some(parse_num(
                        s,
                        key,
                        needs_value(value)?,
                        "a number of milliseconds",
                    )?)
                }
                "times" => {
                    r.times = Some(parse_num(s, key, needs_value(value)?, "a positive count")?)
                }
                "retry_after" => {
                    r.retry_after = Some(needs_value(value)?.to_string());
                    free_text = Some("retry_after");
                }
                "message" => {
                    // Kept as written (spaces included): it becomes the response's Message.
                    r.message = Some(value.unwrap_or_default().to_string());
                    free_text = Some("message");
                }
                "body_bytes" => {
                    r.body_bytes =
                        Some(parse_num(s, key, needs_value(value)?, "a number of bytes")?)
                }
                "slow_body_ms" => {
                    r.slow_body_ms = Some(parse_num(
                        s,
                        key,
                        needs_value(value)?,
                        "a number of milliseconds",
                    )?)
                }
                "percent" => {
                    r.percent = Some(parse_num(
                        s,
                        key,
                        needs_value(value)?,
                        "a chance of 1 to 100",
                    )?)
                }
                "rate_limit" => {
                    r.rate_limit = Some(parse_num(
                        s,
                        key,
                        needs_value(value)?,
                        "a number of requests per second",
                    )?)
                }
                "drop" => r.drop = parse_flag(s, key, value)?,
                "no_id" => r.no_id = parse_flag(s, key, value)?,
                "success_false" => r.success_false = parse_flag(s, key, value)?,
                "html" => r.html = parse_flag(s, key, value)?,
                "" => return Err(err("empty part (two commas in a row?)".into())),
                other => {
                    return Err(err(format!(
                        "unknown key `{other}` (expected one of {KEYS})"
                    )));
                }
            }
        }
        r.validate().map_err(err)?;
        Ok(r)
    }
}

impl fmt::Display for FaultRule {
    /// The same form `from_str` reads, so rules can be shown and passed on.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        if let Some(c) = &self.card {
            parts.push(format!("card={c}"));
        }
        if let Some(s) = self.subscription {
            parts.push(format!("subscription={s}"));
        }
        if let Some(s) = self.status {
            parts.push(format!("status={s}"));
        }
        if let Some(d) = self.delay_ms {
            parts.push(format!("delay_ms={d}"));
        }
        if self.drop {
            parts.push("drop".into());
        }
        if let Some(r) = &self.retry_after {
            parts.push(format!("retry_after={r}"));
        }
        if self.no_id {
            parts.push("no_id".into());
        }
        if self.success_false {
            parts.push("success_false".into());
        }
        if self.html {
            parts.push("html".into());
        }
        if let Some(b) = self.body_bytes {
            parts.push(format!("body_bytes={b}"));
        }
        if let Some(ms) = self.slow_body_ms {
            parts.push(format!("slow_body_ms={ms}"));
        }
        if let Some(p) = self.percent {
            parts.push(format!("percent={p}"));
        }
        if let Some(r) = self.rate_limit {
            parts.push(format!("rate_limit={r}"));
        }
        if let Some(t) = self.times {
            parts.push(format!("times={t}"));
        }
        // Last, because it may contain commas.
        if let Some(m) = &self.message {
            parts.push(format!("message={m}"));
        }
        if parts.is_empty() {
            return f.write_str("pass");
        }
        f.write_str(&parts.join(","))
    }
}

/// The requests a `rate_limit` rule let through in the last second. Pure: the caller passes
/// the time.
#[derive(Debug, Clone, Default)]
pub(crate) struct RateWindow {
    limit: usize,
    /// Oldest first; never more than `limit`.
    passed: std::collections::VecDeque<std::time::Instant>,
}

/// The sliding window of a `rate_limit` rule.
const RATE_WINDOW: std::time::Duration = std::time::Duration::from_secs(1);

impl RateWindow {
    pub(crate) fn new(limit: u32) -> RateWindow {
        RateWindow {
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
            passed: std::collections::VecDeque::new(),
        }
    }

    /// Whether a request at `now` is under the limit (and is then counted).
    pub(crate) fn pass(&mut self, now: std::time::Instant) -> bool {
        while let Some(first) = self.passed.front() {
            // `checked_add`: an instant near the end of time is simply still in the window.
            match first.checked_add(RATE_WINDOW) {
                Some(end) if end <= now => {
                    self.passed.pop_front();
                }
                _ => break,
            }
        }
        if self.passed.len() < self.limit {
            self.passed.push_back(now);
            true
        } else {
            false
        }
    }
}

/// One item of `PUT /_fake/rules`: a rule string or a rule object.
#[derive(Deserialize)]
#[serde(untagged)]
enum RuleItem {
    Text(String),
    Object(FaultRule),
}

/// Reads the body of `PUT /_fake/rules`: a JSON array whose items are rule strings or objects.
pub fn parse_rule_list(body: &[u8]) -> Result<Vec<FaultRule>, String> {
    let items: Vec<serde_json::Value> =
        serde_json::from_slice(body).map_err(|e| format!("expected a JSON array of rules: {e}"))?;
    items
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let item: RuleItem = match v {
                serde_json::Value::String(s) => RuleItem::Text(s),
                other => RuleItem::Object(
                    serde_json::from_value(other).map_err(|e| format!("rule {i}: {e}"))?,
                ),
            };
            match item {
                RuleItem::Text(s) => s.parse::<FaultRule>().map_err(|e| format!("rule {i}: {e}")),
                RuleItem::Object(r) => r
                    .validate()
                    .map(|_| r.clone())
                    .map_err(|e| format!("rule {i} `{r}`: {e}")),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_examples() {
        let r: FaultRule = "card=34231451,status=400,message=Invalid mobile"
            .parse()
            .unwrap();
        assert_eq!(r.card.as_deref(), Some("34231451"));
        assert_eq!(r.status, Some(400));
        assert_eq!(r.message.as_deref(), Some("Invalid mobile"));
        let r: FaultRule = "status=500,times=1".parse().unwrap();
        assert_eq!((r.status, r.times), (Some(500), Some(1)));
        assert_eq!(
            "delay_ms=2000".parse::<FaultRule>().unwrap().delay_ms,
            Some(2000)
        );
        assert!("drop".parse::<FaultRule>().unwrap().drop);
        let r: FaultRule = "status=429,retry_after=5".parse().unwrap();
        assert_eq!(r.retry_after.as_deref(), Some("5"));
        assert!("no_id".parse::<FaultRule>().unwrap().no_id);
        assert!("success_false".parse::<FaultRule>().unwrap().success_false);
        assert!("html,times=2".parse::<FaultRule>().unwrap().html);
        assert!("html,status=200".parse::<FaultRule>().is_err());
        let r: FaultRule = "subscription=7,card=0042,delay_ms=10".parse().unwrap();
        assert_eq!((r.subscription, r.card.as_deref()), (Some(7), Some("0042")));
    }

    #[test]
    fn a_message_keeps_its_commas() {
        let r: FaultRule = "status=400,message=Invalid mobile, too short,times=2"
            .parse()
            .unwrap();
        assert_eq!(r.message.as_deref(), Some("Invalid mobile, too short"));
        assert_eq!(r.times, Some(2));
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "card=0042,status=400,message=Bad, very bad",
            "status=429,retry_after=Wed, 21 Oct 2015 07:28:00 GMT",
            "subscription=5,delay_ms=100,drop,times=3",
            "status=500,body_bytes=100000,slow_body_ms=300,percent=5",
            "no_id",
            "success_false,message=nope",
            "html,delay_ms=50,times=3",
        ] {
            let r: FaultRule = s.parse().unwrap();
            let again: FaultRule = r.to_string().parse().unwrap();
            assert_eq!(r, again, "{s}");
        }
    }

    #[test]
    fn an_http_date_with_commas_is_one_retry_after() {
        let r: FaultRule = "status=503,retry_after=Wed, 21 Oct 2015 07:28:00 GMT"
            .parse()
            .unwrap();
        assert_eq!(
            r.retry_after.as_deref(),
            Some("Wed, 21 Oct 2015 07:28:00 GMT")
        );
    }

    #[test]
    fn soak_keys_parse_and_are_checked() {
        let r: FaultRule = "body_bytes=5000000,slow_body_ms=200,percent=3"
            .parse()
            .unwrap();
        assert_eq!(
            (r.body_bytes, r.slow_body_ms, r.percent),
            (Some(5_000_000), Some(200), Some(3))
        );
        for bad in [
            "percent=0",
            "percent=101",
            "drop,body_bytes=10",
            "drop,slow_body_ms=5",
        ] {
            assert!(bad.parse::<FaultRule>().is_err(), "{bad}");
        }
        let e = "percent=abc".parse::<FaultRule>().unwrap_err();
        assert!(e.to_string().contains("chance"), "{e}");
    }

    #[test]
    fn rate_limit_parses_and_answers_429_by_default() {
        let r: FaultRule = "rate_limit=20".parse().unwrap();
        assert_eq!(r.rate_limit, Some(20));
        assert_eq!(r.clone().answering().status, Some(429));
        assert_eq!(r.to_string().parse::<FaultRule>().unwrap(), r);
        let r: FaultRule = "rate_limit=5,status=503,retry_after=1".parse().unwrap();
        assert_eq!(r.answering().status, Some(503));
        assert!("rate_limit=0".parse::<FaultRule>().is_err());
        let e = "rate_limit=fast".parse::<FaultRule>().unwrap_err();
        assert!(e.to_string().contains("requests per second"), "{e}");
        // A plain rule is not changed by `answering`.
        assert_eq!(
            "no_id".parse::<FaultRule>().unwrap().answering().status,
            None
        );
    }

    #[test]
    fn the_rate_window_lets_n_through_per_sliding_second() {
        use std::time::{Duration, Instant};
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut w = RateWindow::new(3);
        assert!(w.pass(ms(0)) && w.pass(ms(100)) && w.pass(ms(200)));
        // The fourth within the same second is over the limit, and is not counted.
        assert!(!w.pass(ms(300)));
        assert!(!w.pass(ms(999)));
        // One second after the first, its place is free again: one more, not three.
        assert!(w.pass(ms(1000)));
        assert!(!w.pass(ms(1050)));
        assert!(w.pass(ms(1100)));
        // After a quiet second the whole allowance is back.
        assert!(w.pass(ms(5000)) && w.pass(ms(5000)) && w.pass(ms(5000)));
        assert!(!w.pass(ms(5000)));
    }

    #[test]
    fn filters_compare_as_text() {
        let r: FaultRule = "card=0042,subscription=7".parse().unwrap();
        assert!(r.filters_match(&serde_json::json!({"ExtInfo1": 7, "ExtInfo20": "0042"})));
        assert!(!r.filters_match(&serde_json::json!({"ExtInfo1": 7, "ExtInfo20": "42"})));
        assert!(!r.filters_match(&serde_json::json!({"ExtInfo1": 8, "ExtInfo20": "0042"})));
        assert!(!r.filters_match(&serde_json::json!({"ExtInfo1": 7})));
        let any = FaultRule::default();
        assert!(any.filters_match(&serde_json::json!(null)));
    }

    #[test]
    fn rule_lists_take_strings_and_objects() {
        let rules =
            parse_rule_list(br#"["status=500,times=1", {"card": "0042", "drop": true}]"#).unwrap();
        assert_eq!(rules[0].status, Some(500));
        assert!(rules[1].drop);
        let e = parse_rule_list(br#"["status=500", {"colour": 1}]"#).unwrap_err();
        assert!(e.starts_with("rule 1:") && e.contains("colour"), "{e}");
        let e = parse_rule_list(br#"[{"drop": true, "no_id": true}]"#).unwrap_err();
        assert!(e.contains("choose one"), "{e}");
        assert!(parse_rule_list(b"{}").unwrap_err().contains("JSON array"));
    }
}
