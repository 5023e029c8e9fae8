//! The outbox table: one page of rows (keyset paging), filtered by state.
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, HighlightSpacing, Paragraph, Row, Table, TableState};
use ratatui::Frame;

use super::span_text;
use super::theme::Theme;
use crate::domain::OutboxState;
use crate::storage::OutboxRow;
use crate::tui::app::{App, Filter};

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let mut title = vec![Span::styled(" Outbox ", theme.bold()), Span::raw("filter ")];
    for f in Filter::CYCLE {
        if f == app.filter {
            title.push(Span::styled(format!("[{}]", f.label()), theme.active_tab()));
        } else if area.width >= 100 {
            title.push(Span::styled(format!(" {} ", f.label()), theme.dim()));
        }
    }
    title.push(Span::styled(" (f) ", theme.dim()));
    let mut more = Vec::new();
    if app.page.has_newer {
        more.push("▲ PgUp newer");
    }
    if app.page.has_older {
        more.push("▼ PgDn older");
    }
    let mut block = Block::bordered()
        .border_style(theme.border())
        .title(Line::from(title));
    if !more.is_empty() {
        block = block.title_bottom(
            Line::from(Span::styled(format!(" {} ", more.join("  ")), theme.dim())).right_aligned(),
        );
    }

    if !app.page.loaded || app.page.rows.is_empty() {
        let text = if !app.page.loaded {
            "loading…".to_string()
        } else if app.filter == Filter::All {
            "the outbox is empty: nothing has been queued yet".to_string()
        } else {
            format!("no {} rows", app.filter.label())
        };
        frame.render_widget(
            Paragraph::new(Span::styled(text, theme.dim()))
                .centered()
                .block(block),
            area,
        );
        return;
    }

    let header = Row::new(
        [
            "id",
            "ExtInfo1",
            "ExtInfo20",
            "person",
            "state",
            "att",
            "next",
            "last error / note",
        ]
        .map(|h| Cell::from(Span::styled(h, theme.bold()))),
    );
    let rows = app.page.rows.iter().map(|r| {
        Row::new(vec![
            Cell::from(r.id.to_string()),
            Cell::from(r.subscription_id.to_string()),
            Cell::from(r.card_number.clone().unwrap_or_else(|| "—".into())),
            Cell::from(r.person_id.to_string()),
            Cell::from(Span::styled(r.state.as_str(), theme.state(r.state))),
            Cell::from(r.attempts.to_string()),
            Cell::from(next_text(app, r)),
            Cell::from(note_text(r)),
        ])
    });
    let widths = [
        // Sized so that the error column keeps ~20 characters at 80 columns.
        Constraint::Length(7),
        Constraint::Length(8),
        Constraint::Length(10),
        Constraint::Length(7),
        Constraint::Length(9),
        Constraint::Length(3),
        Constraint::Length(6),
        Constraint::Min(10),
    ];
    let table = Table::new(rows, widths)
        .header(header)
        .block(block)
        .column_spacing(1)
        .row_highlight_style(theme.selected())
        // A visible marker as well as reverse video: NO_COLOR terminals and snapshots show it.
        .highlight_symbol("▶ ")
        .highlight_spacing(HighlightSpacing::Always);
    let mut state = TableState::default().with_selected(Some(app.selected));
    frame.render_stateful_widget(table, area, &mut state);
}

/// When the row is tried next.
fn next_text(app: &App, r: &OutboxRow) -> String {
    match r.state {
        OutboxState::Pending => {
            let secs = (r.next_attempt_at - app.db_now()).num_seconds();
            if secs <= 0 {
                "due".into()
            } else {
                format!("in {}", span_text(secs))
            }
        }
        OutboxState::Sending => "now".into(),
        _ => "—".into(),
    }
}

/// The one thing to know about the row: the last error, why it was discarded, or Digis's id.
/// Shown escaped: the texts come from Digis and from operators.
pub fn note_text(r: &OutboxRow) -> String {
    crate::sanitize::for_display(&raw_note(r))
}

fn raw_note(r: &OutboxRow) -> String {
    let status = r
        .last_http_status
        .map(|s| format!("HTTP {s}: "))
        .unwrap_or_default();
    match r.state {
        OutboxState::Sent => match &r.external_id {
            Some(id) => format!("external id {id}"),
            None => "accepted (no external id)".into(),
        },
        OutboxState::Discarded => r.reason.clone().unwrap_or_else(|| "discarded".into()),
        _ => match (&r.last_error, r.last_http_status) {
            // The relay's own texts often name the status already.
            (Some(e), Some(s)) if e.contains(&format!("HTTP {s}")) => e.clone(),
            (Some(e), _) => format!("{status}{e}"),
            (None, Some(s)) => format!("HTTP {s}"),
            (None, None) if r.resend => crate::storage::texts::RESEND_REASON.into(),
            (None, None) => String::new(),
        },
    }
}
