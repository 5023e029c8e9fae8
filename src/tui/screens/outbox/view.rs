//! The outbox table: one page of rows (keyset paging), filtered by state.
use chrono::{DateTime, Utc};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Row, Table};
use ratatui::Frame;

use super::{Filter, Page};
use crate::domain::OutboxState;
use crate::storage::OutboxRow;
use crate::tui::ui::theme::Theme;
use crate::tui::ui::{fit, placeholder, selectable, span_text, Clock, MARKER_COLUMNS};

pub fn draw(
    frame: &mut Frame,
    area: Rect,
    filter: Filter,
    page: &Page,
    selected: usize,
    clock: Clock,
    theme: &Theme,
) {
    let mut title = vec![Span::styled(" Outbox ", theme.bold()), Span::raw("filter ")];
    for f in Filter::CYCLE {
        if f == filter {
            title.push(Span::styled(format!("[{}]", f.label()), theme.active_tab()));
        } else if area.width >= 100 {
            title.push(Span::styled(format!(" {} ", f.label()), theme.dim()));
        }
    }
    title.push(Span::styled(" (f) ", theme.dim()));
    let mut more = Vec::new();
    if page.has_newer {
        more.push("▲ PgUp newer");
    }
    if page.has_older {
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

    if !page.loaded || page.rows.is_empty() {
        let text = if !page.loaded {
            "loading…".to_string()
        } else if filter == Filter::All {
            "the outbox is empty: nothing has been queued yet".to_string()
        } else {
            format!("no {} rows", filter.label())
        };
        placeholder(frame, area, block, &text, theme);
        return;
    }

    // Every number whole: each column as wide as its widest value on this page. The note
    // (free text) takes the rest; when that leaves it too little to say anything, the columns
    // the detail pane also shows give way, least needed first: next, att, person.
    let r = &page.rows;
    let texts = |f: fn(&OutboxRow) -> String| r.iter().map(f).collect::<Vec<_>>();
    let mut columns: Vec<(&str, Vec<String>)> = vec![
        ("id", texts(|r| r.id.to_string())),
        ("ExtInfo1", texts(|r| r.subscription_id.to_string())),
        ("ExtInfo20", texts(card_text)),
        ("person", texts(|r| r.person_id.to_string())),
        ("state", texts(|r| r.state.as_str().to_string())),
        ("att", texts(|r| r.attempts.to_string())),
        (
            "next",
            r.iter().map(|r| next_text(clock.db_now, r)).collect(),
        ),
    ];
    let inner = area.width.saturating_sub(2);
    let fixed = |columns: &[(&str, Vec<String>)]| -> Vec<u16> {
        columns
            .iter()
            .map(|(h, v)| fit::exact(h, v.iter().map(String::as_str)))
            .collect()
    };
    for drop in ["next", "att", "person"] {
        if fit::rest(inner, MARKER_COLUMNS, &fixed(&columns), 1) >= MIN_NOTE {
            break;
        }
        columns.retain(|(h, _)| *h != drop);
    }
    let widths = fixed(&columns);
    let note_width = usize::from(fit::rest(inner, MARKER_COLUMNS, &widths, 1));
    let header = Row::new(
        columns
            .iter()
            .map(|(h, _)| *h)
            .chain(["last error / note"])
            .map(|h| Cell::from(Span::styled(h, theme.bold()))),
    );
    let rows = r.iter().enumerate().map(|(i, row)| {
        let mut cells: Vec<Cell> = columns
            .iter()
            .map(|(h, v)| match *h {
                "state" => Cell::from(Span::styled(v[i].clone(), theme.state(row.state))),
                _ => Cell::from(v[i].clone()),
            })
            .collect();
        cells.push(Cell::from(fit::ellipsis(
            &cell_note(row, note_width),
            note_width,
        )));
        Row::new(cells)
    });
    let widths = fit::constraints(&widths);
    let table = Table::new(rows, widths).header(header).block(block);
    selectable(frame, area, table, selected, theme);
}

/// The least room the note gets before other columns give way: enough for a cause.
const MIN_NOTE: u16 = 24;

fn card_text(r: &OutboxRow) -> String {
    r.card_number
        .as_deref()
        .map_or_else(|| "—".into(), crate::sanitize::for_display)
}

/// The note as a cell of `max` columns shows it ([`fit::error_cell`]).
fn cell_note(r: &OutboxRow, max: usize) -> String {
    crate::sanitize::for_display(&raw_note(r, Some(max)))
}

/// When the row is tried next.
fn next_text(db_now: DateTime<Utc>, r: &OutboxRow) -> String {
    match r.state {
        OutboxState::Pending => {
            let secs = (r.next_attempt_at - db_now).num_seconds();
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
    crate::sanitize::for_display(&raw_note(r, None))
}

/// `cell`: for a table cell that wide ([`fit::error_cell`]).
fn raw_note(r: &OutboxRow, cell: Option<usize>) -> String {
    let status = r
        .last_http_status
        .map(|s| format!("HTTP {s}: "))
        .unwrap_or_default();
    let short = |e: &String| match cell {
        Some(max) => fit::error_cell(e, max),
        None => e.clone(),
    };
    match r.state {
        OutboxState::Sent => match &r.external_id {
            Some(id) => format!("external id {id}"),
            None => "accepted (no external id)".into(),
        },
        OutboxState::Discarded => r.reason.clone().unwrap_or_else(|| "discarded".into()),
        _ => match (&r.last_error, r.last_http_status) {
            // The relay's own texts often name the status already.
            (Some(e), Some(s)) if e.contains(&format!("HTTP {s}")) => short(e),
            (Some(e), _) => format!("{status}{}", short(e)),
            (None, Some(s)) => format!("HTTP {s}"),
            (None, None) if r.resend => crate::storage::texts::RESEND_REASON.into(),
            (None, None) => String::new(),
        },
    }
}
