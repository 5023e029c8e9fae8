//! The Failures view: the groups, or the open group's members.
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, TableState};
use ratatui::Frame;

use chrono::{DateTime, Utc};

use super::{FailuresState, MembersPane};
use crate::sanitize::for_display;
use crate::tui::keys::{self, Context, Mode};
use crate::tui::message::{Action, View};
use crate::tui::ui::theme::{Level, Theme};
use crate::tui::ui::{count_text, fit, placeholder, selectable, span_text, Clock, MARKER_COLUMNS};

pub fn draw(frame: &mut Frame, area: Rect, state: &FailuresState, clock: Clock, theme: &Theme) {
    match &state.members {
        Some(pane) => draw_members(frame, area, clock.now, pane, theme),
        None => draw_groups(frame, area, state, clock.now, theme),
    }
}

/// The keys for `words` in `mode`, by this screen's own keys.
fn hint(mode: Mode, words: &[(Action, &str)]) -> String {
    let ctx = Context {
        view: View::Failures,
        mode,
    };
    format!(" {} ", keys::hint(super::keys::ALL, ctx, words))
}

fn unit_cell(id: Option<i64>, name: Option<&str>) -> String {
    match (id, name) {
        (_, Some(name)) => for_display(name),
        (Some(id), None) => format!("unit {id}"),
        (None, None) => "no unit".to_string(),
    }
}

fn draw_groups(
    frame: &mut Frame,
    area: Rect,
    state: &FailuresState,
    now: DateTime<Utc>,
    theme: &Theme,
) {
    let groups = state.groups.as_deref();
    let total: u64 = groups.unwrap_or_default().iter().map(|g| g.rows).sum();
    let title = match groups {
        Some(g) if !g.is_empty() => format!(
            " Failures by unit and cause · {} row(s) in {} group(s) ",
            count_text(total),
            g.len()
        ),
        _ => " Failures by unit and cause ".to_string(),
    };
    let block = Block::bordered()
        .border_style(theme.border())
        .title(Span::styled(title, theme.bold()))
        .title_bottom(
            Line::from(Span::styled(
                hint(
                    Mode::Browse,
                    &[
                        (Action::OpenDetail, "members"),
                        (Action::RetryGroup, "retry group"),
                    ],
                ),
                theme.dim(),
            ))
            .right_aligned(),
        );
    let groups = match groups {
        None => {
            placeholder(frame, area, block, "loading…", theme);
            return;
        }
        Some([]) => {
            placeholder(frame, area, block, "no failed rows: nothing to fix", theme);
            return;
        }
        Some(g) => g,
    };
    // "since": the oldest row failed that long ago; "last": the newest. Counts and ages are
    // as wide as their widest value; the unit's name and the cause share the rest.
    let counts: Vec<String> = groups.iter().map(|g| count_text(g.rows)).collect();
    let since: Vec<String> = groups
        .iter()
        .map(|g| span_text((now - g.oldest).num_seconds()))
        .collect();
    let last: Vec<String> = groups
        .iter()
        .map(|g| span_text((now - g.newest).num_seconds()))
        .collect();
    let units: Vec<String> = groups
        .iter()
        .map(|g| unit_cell(g.key.unit_id, g.unit_name.as_deref()))
        .collect();
    let numbers = [
        fit::exact("rows", counts.iter().map(String::as_str)),
        fit::exact("since", since.iter().map(String::as_str)),
        fit::exact("last", last.iter().map(String::as_str)),
    ];
    let text =
        fit::rest(area.width.saturating_sub(2), MARKER_COLUMNS, &numbers, 1).saturating_sub(1);
    // The unit gets what its names need, up to a third; the cause the rest.
    let unit_w = fit::exact("unit", units.iter().map(String::as_str)).min(text / 3);
    let cause_w = text.saturating_sub(unit_w);
    let header = Row::new(
        ["unit", "cause", "rows", "since", "last"]
            .map(|h| Cell::from(Span::styled(h, theme.bold()))),
    );
    let rows = groups.iter().enumerate().map(|(i, g)| {
        let cause = for_display(&g.key.cause.to_string());
        let cause = if g.key.cause.is_other() {
            Span::styled(
                fit::ellipsis(&format!("{cause} (see the rows' errors)"), cause_w.into()),
                theme.dim(),
            )
        } else {
            Span::raw(fit::error_cell(&cause, cause_w.into()))
        };
        Row::new(vec![
            Cell::from(fit::ellipsis(&units[i], unit_w.into())),
            Cell::from(cause),
            Cell::from(Line::from(counts[i].clone()).right_aligned()),
            Cell::from(since[i].clone()),
            Cell::from(last[i].clone()),
        ])
    });
    let widths = [
        Constraint::Length(unit_w),
        Constraint::Length(cause_w),
        Constraint::Length(numbers[0]),
        Constraint::Length(numbers[1]),
        Constraint::Length(numbers[2]),
    ];
    let table = Table::new(rows, widths).header(header).block(block);
    selectable(frame, area, table, state.selected, theme);
}

fn draw_members(
    frame: &mut Frame,
    area: Rect,
    now: DateTime<Utc>,
    pane: &MembersPane,
    theme: &Theme,
) {
    let g = &pane.group;
    let label = crate::operator::group_label(&g.key, g.unit_name.as_deref());
    let shown = match &pane.data {
        Some(Ok(m)) if (m.len() as u64) < g.rows => format!(", first {} shown", m.len()),
        _ => String::new(),
    };
    let block = Block::bordered()
        .border_style(theme.border())
        .title(Span::styled(
            {
                // The count first and whole; the group's name gives way, with `…`.
                let count = format!(" {} failed{shown} · ", count_text(g.rows));
                let room = usize::from(area.width)
                    .saturating_sub(fit::width(&count) + 4)
                    .max(1);
                format!("{count}{} ", fit::ellipsis(&label, room))
            },
            theme.bold(),
        ))
        .title_bottom(
            Line::from(Span::styled(
                hint(
                    Mode::Detail,
                    &[
                        (Action::RetryGroup, "retry group"),
                        (Action::CloseDetail, "back"),
                    ],
                ),
                theme.dim(),
            ))
            .right_aligned(),
        );
    let members = match &pane.data {
        None => {
            placeholder(frame, area, block, "loading…", theme);
            return;
        }
        Some(Err(e)) => {
            frame.render_widget(
                Paragraph::new(Span::styled(e.clone(), theme.level(Level::Bad))).block(block),
                area,
            );
            return;
        }
        Some(Ok(m)) if m.is_empty() => {
            let text = "no failed rows left in this group (retried or fixed meanwhile)";
            placeholder(frame, area, block, text, theme);
            return;
        }
        Some(Ok(m)) => m,
    };
    // Ids and cards whole; the name and what is wrong share the rest, the name at most a third.
    let ids: Vec<String> = members.iter().map(|m| m.id.to_string()).collect();
    let persons: Vec<String> = members.iter().map(|m| m.person_id.to_string()).collect();
    let cards: Vec<String> = members
        .iter()
        .map(|m| for_display(m.card_number.as_deref().unwrap_or("—")))
        .collect();
    let ages: Vec<String> = members
        .iter()
        .map(|m| span_text((now - m.failed_at).num_seconds()))
        .collect();
    let names: Vec<String> = members
        .iter()
        .map(|m| for_display(m.name.as_deref().unwrap_or("—")))
        .collect();
    let numbers = [
        fit::exact("row", ids.iter().map(String::as_str)),
        fit::exact("person", persons.iter().map(String::as_str)),
        fit::exact("card", cards.iter().map(String::as_str)),
        fit::exact("failed", ages.iter().map(String::as_str)),
    ];
    let text = fit::rest(area.width.saturating_sub(2), 0, &numbers, 1).saturating_sub(1);
    let name_w = fit::exact("name", names.iter().map(String::as_str)).min(text / 3);
    let wrong_w = text.saturating_sub(name_w);
    let header = Row::new(
        ["row", "person", "card", "name", "what is wrong", "failed"]
            .map(|h| Cell::from(Span::styled(h, theme.bold()))),
    );
    let rows = members.iter().enumerate().map(|(i, m)| {
        let wrong = match &m.member_problem {
            Some(p) => format!("{} ({p})", m.detail),
            None => m.detail.clone(),
        };
        Row::new(vec![
            Cell::from(ids[i].clone()),
            Cell::from(persons[i].clone()),
            Cell::from(cards[i].clone()),
            Cell::from(fit::ellipsis(&names[i], name_w.into())),
            Cell::from(fit::error_cell(&for_display(&wrong), wrong_w.into())),
            Cell::from(ages[i].clone()),
        ])
    });
    let widths = [
        Constraint::Length(numbers[0]),
        Constraint::Length(numbers[1]),
        Constraint::Length(numbers[2]),
        Constraint::Length(name_w),
        Constraint::Length(wrong_w),
        Constraint::Length(numbers[3]),
    ];
    let table = Table::new(rows, widths)
        .header(header)
        .block(block)
        .column_spacing(1);
    let mut state = TableState::default().with_offset(usize::from(pane.scroll));
    frame.render_stateful_widget(table, area, &mut state);
}
