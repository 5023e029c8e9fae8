//! The HTTP side. A hand-written accept loop serves each connection with hyper in its own task,
//! so a `drop` rule can close a connection without any response, as a crashed Digis would.
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use chrono::Utc;
use futures::StreamExt as _;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

use super::{parse_rule_list, FaultRule, Received, State};

/// Keys without which Digis cannot file the member (the relay's payload always has them).
const REQUIRED: [&str; 3] = ["ExtInfo1", "ExtInfo20", "MobileNumber"];
const MAX_BODY: usize = 1 << 20;

pub(crate) async fn serve(
    listener: TcpListener,
    state: Arc<State>,
    mut stop: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            res = listener.accept() => match res {
                Ok((stream, _)) => {
                    conns.spawn(connection(stream, state.clone()));
                }
                Err(e) => {
                    // Out of file descriptors and the like: pause instead of spinning.
                    tracing::warn!(target: "fake_digis", "accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.shutdown().await;
}

async fn connection(stream: TcpStream, state: Arc<State>) {
    let _ = stream.set_nodelay(true);
    let drop_now = Arc::new(Notify::new());
    let svc = {
        let drop_now = drop_now.clone();
        hyper::service::service_fn(move |req: Request<Incoming>| {
            let state = state.clone();
            let drop_now = drop_now.clone();
            async move { Ok::<_, Infallible>(handle(&state, &drop_now, req).await) }
        })
    };
    let conn =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
    tokio::select! {
        _ = conn => {}
        // Dropping the connection future closes the socket with no response written.
        _ = drop_now.notified() => {}
    }
}

fn json_response(status: StatusCode, v: &Value) -> Response<Body> {
    let mut r = Response::new(Body::from(v.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

fn header_text(h: &HeaderMap, name: header::HeaderName) -> Option<String> {
    h.get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// What to do with an import request.
enum Answer {
    Reply {
        status: StatusCode,
        body: Value,
        retry_after: Option<String>,
        external_id: Option<String>,
        delay: Option<u64>,
        body_bytes: Option<u64>,
        slow_body_ms: Option<u64>,
        /// Answer [`MAINTENANCE_PAGE`] instead of `body`.
        html: bool,
    },
    Drop {
        delay: Option<u64>,
    },
}

fn refuse(status: StatusCode, message: impl Into<String>) -> Answer {
    Answer::Reply {
        status,
        body: json!({"Success": false, "Message": message.into()}),
        retry_after: None,
        external_id: None,
        delay: None,
        body_bytes: None,
        slow_body_ms: None,
        html: false,
    }
}

/// What an `html` rule answers: a maintenance page of the kind a proxy in front of Digis shows.
pub const MAINTENANCE_PAGE: &str =
    "<!DOCTYPE html>\n<html><head><title>Service maintenance</title></head>\n\
     <body><h1>We'll be back soon</h1><p>Scheduled maintenance until 06:00.</p></body></html>\n";

/// Chunks of a shaped body; padding is sent in pieces of this size so a huge answer is never
/// held in the fake's memory.
const CHUNK: usize = 64 * 1024;

/// `body` as JSON, padded with a trailing `"Padding"` field to `bytes` in all (when larger), and
/// trickled over `slow_ms` in about ten pieces. The answer stays valid JSON with its fields first,
/// so a client that reads it whole still finds the id.
fn shaped_body(body: &Value, bytes: Option<u64>, slow_ms: Option<u64>) -> Body {
    let text = body.to_string();
    let mut pieces: Vec<Bytes> = Vec::new();
    match bytes.map(|b| usize::try_from(b).unwrap_or(usize::MAX)) {
        Some(total) if total > text.len() + 16 => {
            let head = format!("{},\"Padding\":\"", text.trim_end_matches('}'));
            let mut left = total.saturating_sub(head.len() + 2);
            pieces.push(head.into());
            let filler = Bytes::from(vec![b'x'; CHUNK]);
            while left > 0 {
                let n = left.min(CHUNK);
                pieces.push(filler.slice(..n));
                left -= n;
            }
            pieces.push(Bytes::from_static(b"\"}"));
        }
        _ => pieces.push(text.into()),
    }
    // Ten pauses before the first pieces, so the whole body takes about `ms`.
    let pause = slow_ms.map(|ms| (Duration::from_millis(ms / 10), 10usize));
    if let Some((_, gaps)) = pause {
        if pieces.len() < gaps + 1 {
            // Split a short body so there is something to trickle.
            let all: Vec<u8> = pieces.concat();
            let step = all.len().div_ceil(gaps + 1).max(1);
            pieces = all.chunks(step).map(Bytes::copy_from_slice).collect();
        }
    }
    let stream =
        futures::stream::iter(pieces.into_iter().enumerate()).then(move |(i, b)| async move {
            if let Some((gap, gaps)) = pause {
                if i > 0 && i <= gaps {
                    tokio::time::sleep(gap).await;
                }
            }
            Ok::<_, Infallible>(b)
        });
    Body::from_stream(stream)
}

async fn handle(state: &State, drop_now: &Notify, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_string();
    if let Some(what) = path.strip_prefix("/_fake/") {
        let what = what.to_string();
        return control(state, req, &what).await;
    }
    let method = req.method().clone();
    let headers = req.headers().clone();
    let query_token = req.uri().query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v.into_owned())
    });
    let bytes = match axum::body::to_bytes(Body::new(req.into_body()), MAX_BODY).await {
        Ok(b) => b,
        // The client went away mid-body (or sent too much): nothing to answer or record.
        Err(_) => {
            return json_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                &json!({"Success": false, "Message": "Body unreadable or larger than 1 MiB"}),
            )
        }
    };
    let parsed: Option<Value> = serde_json::from_slice(&bytes).ok();
    let body = match &parsed {
        Some(v) => v.clone(),
        None if bytes.is_empty() => Value::Null,
        None => Value::String(String::from_utf8_lossy(&bytes).into_owned()),
    };
    let mut rec = Received {
        at: Utc::now(),
        method: method.to_string(),
        path,
        query_token,
        authorization: header_text(&headers, header::AUTHORIZATION),
        content_type: header_text(&headers, header::CONTENT_TYPE),
        body,
        status: 0,
        external_id: None,
        retry_after: None,
        delay_ms: None,
    };
    let answer = decide(state, &method, &rec, parsed.as_ref());
    let delay = match &answer {
        Answer::Reply {
            status,
            external_id,
            delay,
            retry_after,
            ..
        } => {
            rec.status = status.as_u16();
            rec.external_id = external_id.clone();
            rec.retry_after = retry_after.clone();
            *delay
        }
        Answer::Drop { delay } => *delay,
    };
    rec.delay_ms = delay;
    tracing::info!(
        target: "fake_digis",
        "{} {} -> {} ExtInfo1={} ExtInfo20={} ExternalId={}",
        rec.method,
        rec.path,
        if rec.status == 0 { "dropped".to_string() } else { rec.status.to_string() },
        rec.ext_info1().unwrap_or_default(),
        rec.ext_info20().unwrap_or_default(),
        rec.external_id.as_deref().unwrap_or("-"),
    );
    // Recorded on arrival (before any delay), so a test can see a request its client gave up on.
    state.record(rec);
    if let Some(ms) = delay {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    match answer {
        Answer::Drop { .. } => {
            drop_now.notify_one();
            // The connection task drops this future with the connection.
            std::future::pending::<Response<Body>>().await
        }
        Answer::Reply {
            status,
            body,
            retry_after,
            body_bytes,
            slow_body_ms,
            html,
            ..
        } => {
            let mut r = json_response(status, &body);
            if html {
                *r.body_mut() = Body::from(MAINTENANCE_PAGE);
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                );
            }
            if body_bytes.is_some() || slow_body_ms.is_some() {
                *r.body_mut() = shaped_body(&body, body_bytes, slow_body_ms);
            }
            if let Some(v) = retry_after.and_then(|v| HeaderValue::from_str(&v).ok()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
    }
}

fn decide(state: &State, method: &Method, rec: &Received, parsed: Option<&Value>) -> Answer {
    if method != Method::POST {
        return refuse(StatusCode::METHOD_NOT_ALLOWED, "Use POST");
    }
    if let Some(token) = &state.token {
        if rec.query_token.as_deref() != Some(token.as_str()) {
            return refuse(StatusCode::UNAUTHORIZED, "Invalid token");
        }
    }
    let json_type = rec.content_type.as_deref().is_some_and(|ct| {
        ct.split(';')
            .next()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
    });
    if !json_type {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
        );
    }
    let Some(parsed) = parsed else {
        return refuse(StatusCode::BAD_REQUEST, "Body is not valid JSON");
    };
    let Some(obj) = parsed.as_object() else {
        return refuse(StatusCode::BAD_REQUEST, "Body must be a JSON object");
    };
    let missing: Vec<&str> = REQUIRED
        .iter()
        .copied()
        .filter(|k| obj.get(*k).is_none_or(Value::is_null))
        .collect();
    if !missing.is_empty() {
        return refuse(
            StatusCode::BAD_REQUEST,
            format!("Missing required field(s): {}", missing.join(", ")),
        );
    }
    let rule = state.take_rule(parsed).unwrap_or_default();
    apply(state, rule)
}

fn apply(state: &State, rule: FaultRule) -> Answer {
    let delay = rule.delay_ms;
    if rule.drop {
        return Answer::Drop { delay };
    }
    let retry_after = rule.retry_after.clone();
    let (body_bytes, slow_body_ms) = (rule.body_bytes, rule.slow_body_ms);
    let (status, body, external_id) = match rule.status.map(StatusCode::from_u16) {
        Some(Ok(s)) if !s.is_success() => {
            let message = rule
                .message
                .clone()
                .unwrap_or_else(|| s.canonical_reason().unwrap_or("Error").to_string());
            (s, json!({"Success": false, "Message": message}), None)
        }
        _ if rule.success_false => (
            StatusCode::OK,
            json!({"Success": false, "Message": rule.message.as_deref().unwrap_or("Rejected by rule")}),
            None,
        ),
        _ if rule.no_id => (StatusCode::OK, json!({"Success": true}), None),
        _ if rule.html => (StatusCode::OK, Value::Null, None),
        s => {
            let id = state.new_external_id();
            let status = match s {
                Some(Ok(s)) => s,
                _ => StatusCode::OK,
            };
            (
                status,
                json!({"Success": true, "ExternalId": id, "Message": "Contact imported"}),
                Some(id),
            )
        }
    };
    Answer::Reply {
        status,
        body,
        retry_after,
        external_id,
        delay,
        body_bytes,
        slow_body_ms,
        html: rule.html,
    }
}

async fn control(state: &State, req: Request<Incoming>, what: &str) -> Response<Body> {
    let method = req.method().clone();
    match (method, what) {
        (Method::GET, "health") => {
            let inner = state.lock();
            let accepted = inner.received.iter().filter(|r| r.is_accepted()).count();
            json_response(
                StatusCode::OK,
                &json!({
                    "ok": true,
                    "received": inner.received.len(),
                    "accepted": accepted,
                    "duplicates": inner.duplicates,
                    "rules": inner.rules.len(),
                }),
            )
        }
        (Method::GET, "received") => {
            let list = state.lock().received.clone();
            json_response(StatusCode::OK, &json!(list))
        }
        (Method::GET, "accepted") => {
            let list: Vec<Received> = state
                .lock()
                .received
                .iter()
                .filter(|r| r.is_accepted())
                .cloned()
                .collect();
            json_response(StatusCode::OK, &json!(list))
        }
        (Method::GET, "rules") => json_response(StatusCode::OK, &rules_json(state)),
        (Method::PUT, "rules") => {
            let bytes = match axum::body::to_bytes(Body::new(req.into_body()), MAX_BODY).await {
                Ok(b) => b,
                Err(e) => {
                    return json_response(
                        StatusCode::BAD_REQUEST,
                        &json!({"error": format!("cannot read the body: {e}")}),
                    )
                }
            };
            match parse_rule_list(&bytes) {
                Ok(rules) => {
                    tracing::info!(target: "fake_digis", "fault rules set: {}", rules.iter().map(|r| r.to_string()).collect::<Vec<_>>().join(" | "));
                    state.lock().rules = super::make_rules(rules);
                    json_response(StatusCode::OK, &rules_json(state))
                }
                Err(e) => json_response(StatusCode::BAD_REQUEST, &json!({"error": e})),
            }
        }
        _ => json_response(
            StatusCode::NOT_FOUND,
            &json!({"error": "control endpoints: GET /_fake/health, GET /_fake/received, GET /_fake/accepted, GET /_fake/rules, PUT /_fake/rules"}),
        ),
    }
}

fn rules_json(state: &State) -> Value {
    let inner = state.lock();
    Value::Array(
        inner
            .rules
            .iter()
            .map(|r| {
                json!({
                    "rule": r.rule.to_string(),
                    "used": r.used,
                    "spent": r.rule.times.is_some_and(|t| r.used >= t),
                })
            })
            .collect(),
    )
}
