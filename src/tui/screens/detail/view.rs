//! The detail pane of one outbox row: the row, the last response, every attempt and the
//! payload that would be sent now. The payload is the one place where personal data appears,
//! on screen only.
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;

use super::DetailPane;
use crate::domain::{AttemptOutcome, RecordedOutcome};
use crate::sanitize::for_display;
use crate::tui::message::Detail;
use crate::tui::screens::outbox::view::note_text;
use crate::tui::ui::theme::{Level, Theme};
use crate::tui::ui::{fit, time_text};

/// `beside`: drawn next to the table (a wide terminal), where j/k move the table's selection.
pub fn draw(frame: &mut Frame, area: Rect, pane: &DetailPane, beside: bool, theme: &Theme) {
    let keys = if beside {
        " J/K scroll · r retry · x discard · e resend · Esc close "
    } else {
        " j/k scroll · r retry · x discard · e resend · Esc back "
    };
    let block = Block::bordered()
        .border_style(theme.border())
        .title(Span::styled(format!(" Row {} ", pane.id), theme.bold()))
        .title_bottom(Line::from(Span::styled(keys, theme.dim())).right_aligned());
    let lines = match &pane.data {
        None => vec![Line::from(Span::styled("loading…", theme.dim()))],
        Some(Err(e)) => vec![Line::from(Span::styled(e.clone(), theme.level(Level::Bad)))],
        Some(Ok(d)) => lines(d, area.width, theme),
    };
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false })
            .scroll((pane.scroll, 0)),
        area,
    );
}

/// `s` and spaces up to `columns` screen columns.
fn pad(s: &str, columns: usize) -> String {
    let w = fit::width(s);
    format!("{s}{}", " ".repeat(columns.saturating_sub(w)))
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "—".to_string(), |v| v.to_string())
}

/// The attempts the list below shows; the row's own counter is the budget towards
/// `max_attempts`, which a retry starts again, so it is named apart when it differs.
fn attempts_text(d: &Detail) -> String {
    let recorded = d.attempts.len();
    let mut s = recorded.to_string();
    if d.row.state == crate::domain::OutboxState::Sending {
        s.push_str(" + 1 under way");
    } else if usize::try_from(d.row.attempts).is_ok_and(|a| a < recorded) {
        s.push_str(&format!(" ({} since the last retry)", d.row.attempts));
    }
    s
}

fn lines<'a>(d: &'a Detail, width: u16, theme: &Theme) -> Vec<Line<'a>> {
    let r = &d.row;
    let mut out = vec![
        Line::from(vec![
            Span::styled(r.state.as_str().to_uppercase(), theme.state(r.state)),
            Span::raw(format!(
                "  ExtInfo1 {}  ExtInfo20 {}  person {}  attempts {}",
                r.subscription_id,
                r.card_number.as_deref().unwrap_or("— (no longer a user)"),
                r.person_id,
                attempts_text(d)
            )),
        ]),
        Line::from(format!(
            "created {}  next attempt {}  sent {}",
            time_text(r.created_at),
            if r.state == crate::domain::OutboxState::Pending {
                time_text(r.next_attempt_at)
            } else {
                "—".into()
            },
            r.sent_at.map_or("—".into(), time_text),
        )),
    ];
    if let Some(by) = &r.locked_by {
        out.push(Line::from(format!(
            "claimed by {by} until {}",
            r.locked_until.map_or("—".into(), time_text)
        )));
    }
    out.push(Line::from(vec![
        Span::styled("last response ", theme.bold()),
        Span::raw(match note_text(r) {
            s if s.is_empty() => "none yet".to_string(),
            s => s,
        }),
    ]));
    out.extend(value_today_line(d, theme));
    if let Some(reason) = &r.reason {
        out.push(Line::from(format!("reason {}", for_display(reason))));
    }
    out.push(Line::from(match &d.synced {
        Some(s) => format!(
            "in digis since {} with external id {}",
            time_text(s.synced_at),
            opt(&s.external_id)
        ),
        None => "not in digis: Digis has not accepted this member yet".to_string(),
    }));
    out.push(Line::from(""));
    out.push(Line::from(Span::styled(
        format!("Attempts ({})", d.attempts.len()),
        theme.bold(),
    )));
    if d.attempts.is_empty() {
        out.push(Line::from(Span::styled("  none yet", theme.dim())));
    }
    for a in &d.attempts {
        out.push(Line::from(vec![
            Span::raw(format!(
                "  #{:<2} {}  {:>5} ms  {}  {}  ",
                a.attempt,
                time_text(a.started_at),
                a.duration_ms,
                a.relay_id,
                a.http_status
                    .map_or_else(|| "no response".to_string(), |s| format!("HTTP {s}"))
            )),
            Span::styled(
                a.outcome.to_string(),
                match a.outcome {
                    RecordedOutcome::Applied(AttemptOutcome::Sent) => theme.level(Level::Ok),
                    RecordedOutcome::Applied(AttemptOutcome::Retry | AttemptOutcome::GivenBack) => {
                        theme.level(Level::Warn)
                    }
                    _ => theme.level(Level::Bad),
                },
            ),
            Span::raw(
                a.error
                    .as_ref()
                    .map(|e| format!("  {}", for_display(e)))
                    .unwrap_or_default(),
            ),
        ]));
    }
    if !d.events.is_empty() {
        out.push(Line::from(""));
        out.push(Line::from(Span::styled("By hand", theme.bold())));
        for e in &d.events {
            out.push(Line::from(format!(
                "  {}  {} by {}{}",
                time_text(e.at),
                e.action,
                e.actor,
                e.detail
                    .as_deref()
                    .map(|d| format!(": {}", for_display(d)))
                    .unwrap_or_default()
            )));
        }
    }
    out.push(Line::from(""));
    out.push(Line::from(Span::styled(
        "Payload preview (what would be sent now; personal data, shown here only)",
        theme.bold(),
    )));
    match &d.payload {
        Err(e) => out.push(Line::from(Span::styled(
            format!("  cannot be built: {e}"),
            theme.level(Level::Bad),
        ))),
        Ok(pairs) => {
            // Two columns when there is room: the payload has 27 keys.
            let two = width >= 100;
            // Padded by the columns the text takes on screen, not by its characters: a CJK
            // name takes two columns a character.
            let cell = |(k, v): &(String, String)| format!("  {}{}", pad(k, 21), pad(v, 26));
            if two {
                let half = pairs.len().div_ceil(2);
                for i in 0..half {
                    let left = cell(&pairs[i]);
                    let right = pairs.get(half + i).map(cell).unwrap_or_default();
                    out.push(Line::from(format!("{left}{right}")));
                }
            } else {
                for p in pairs {
                    out.push(Line::from(cell(p)));
                }
            }
        }
    }
    out
}

/// `mobile_number today: 070-12` under the last response: the value that broke the rule as the
/// membership system holds it now (personal data: on screen only).
fn value_today_line<'a>(d: &Detail, theme: &Theme) -> Option<Line<'a>> {
    let v = d.value_today.as_ref()?;
    Some(Line::from(vec![
        Span::styled(format!("{} today: ", v.column), theme.bold()),
        Span::raw(v.value_text().to_string()),
    ]))
}
