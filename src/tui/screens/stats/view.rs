//! The Stats view: attempts sent, failed and retried per hour (24 hours) and per day (30 days)
//! as sparklines, the save-to-sent delay per day, and the backlog. The figures are
//! `crate::stats`, the same as `status --json`'s `stats`.
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Sparkline};
use ratatui::Frame;

use crate::domain::OutboxState;
use crate::stats::Stats;
use crate::tui::ui::theme::{Level, Theme};
use crate::tui::ui::{count_text, placeholder, span_text, Clock};

/// Room for a series' name before its sparkline.
const LABEL: u16 = 9;

/// `stats`: the figures last read, `None` until the first read.
pub fn draw(frame: &mut Frame, area: Rect, stats: Option<&Stats>, clock: Clock, theme: &Theme) {
    let block = Block::bordered()
        .border_style(theme.border())
        .title(Span::styled(" Stats (UTC) ", theme.bold()));
    let Some(stats) = stats else {
        placeholder(frame, area, block, "loading…", theme);
        return;
    };
    let age = (clock.now - stats.at).num_seconds().max(0);
    let block = block.title_bottom(
        Line::from(Span::styled(
            format!(" read {} ago ", span_text(age)),
            theme.dim(),
        ))
        .right_aligned(),
    );
    draw_stats(frame, area, block, stats, theme);
}

fn draw_stats(frame: &mut Frame, area: Rect, block: Block, stats: &Stats, theme: &Theme) {
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let rows = Layout::vertical([
        Constraint::Length(1), // backlog
        Constraint::Length(1),
        Constraint::Length(1), // per hour
        Constraint::Length(3),
        Constraint::Length(1),
        Constraint::Length(1), // per day
        Constraint::Length(3),
        Constraint::Length(1),
        Constraint::Min(0), // delays
    ])
    .split(inner);

    frame.render_widget(Paragraph::new(backlog_line(stats, theme)), rows[0]);

    let hourly =
        |f: fn(&crate::stats::Bucket) -> u64| -> Vec<u64> { stats.hourly.iter().map(f).collect() };
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled("Last 24 hours, per hour", theme.bold()),
            Span::styled("  (oldest left, this hour right)", theme.dim()),
        ])),
        rows[2],
    );
    draw_series(
        frame,
        rows[3],
        theme,
        &[
            ("sent", hourly(|b| b.sent), theme.sparkline(), "hour"),
            ("failed", hourly(|b| b.failed), failed_style(theme), "hour"),
            ("retried", hourly(|b| b.retried), retry_style(theme), "hour"),
        ],
    );

    let daily =
        |f: fn(&crate::stats::Day) -> u64| -> Vec<u64> { stats.daily.iter().map(f).collect() };
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled("Last 30 days, per day", theme.bold()),
            Span::styled("  (today right)", theme.dim()),
        ])),
        rows[5],
    );
    draw_series(
        frame,
        rows[6],
        theme,
        &[
            ("sent", daily(|d| d.sent), theme.sparkline(), "day"),
            ("failed", daily(|d| d.failed), failed_style(theme), "day"),
            ("retried", daily(|d| d.retried), retry_style(theme), "day"),
        ],
    );

    frame.render_widget(
        Paragraph::new(delay_lines(stats, rows[8].height, theme)),
        rows[8],
    );
}

fn failed_style(theme: &Theme) -> Style {
    theme.state(OutboxState::Failed)
}

fn retry_style(theme: &Theme) -> Style {
    theme.state(OutboxState::Pending)
}

fn backlog_line<'a>(stats: &Stats, theme: &Theme) -> Line<'a> {
    let b = stats.backlog;
    let waiting = match b.oldest_due_age_seconds {
        Some(s) => format!("the oldest due row has waited {}", span_text(s)),
        None => "none of them is due".to_string(),
    };
    let level = if b.pending == 0 {
        Level::Ok
    } else {
        Level::Warn
    };
    Line::from(vec![
        Span::styled("Backlog  ", theme.bold()),
        Span::styled(
            format!("{} pending", count_text(b.pending)),
            theme.level(level),
        ),
        Span::raw(if b.pending == 0 {
            String::new()
        } else {
            format!(" · {waiting}")
        }),
    ])
}

/// One line per series: its name, a sparkline (each bucket as wide as the room allows, at
/// least one cell), its total and its busiest bucket.
fn draw_series(
    frame: &mut Frame,
    area: Rect,
    theme: &Theme,
    series: &[(&str, Vec<u64>, Style, &str)],
) {
    /// Room kept for the total after the sparkline.
    const TOTAL: u16 = 32;
    for (i, (name, data, style, per)) in series.iter().enumerate() {
        let Some(y) = area.y.checked_add(i as u16).filter(|y| *y < area.bottom()) else {
            break;
        };
        let line = Rect {
            y,
            height: 1,
            ..area
        };
        let buckets = data.len().max(1) as u16;
        let room = line.width.saturating_sub(LABEL + 2 + TOTAL);
        let cells = (room / buckets).max(1);
        let stretched: Vec<u64> = data
            .iter()
            .flat_map(|v| std::iter::repeat_n(*v, usize::from(cells)))
            .collect();
        let [label, spark, _, total] = Layout::horizontal([
            Constraint::Length(LABEL),
            Constraint::Length(buckets * cells),
            Constraint::Length(2),
            Constraint::Min(0),
        ])
        .areas(line);
        frame.render_widget(Paragraph::new(format!(" {name}")), label);
        frame.render_widget(Sparkline::default().data(&stretched).style(*style), spark);
        let sum: u64 = data.iter().sum();
        let most = data.iter().copied().max().unwrap_or(0);
        frame.render_widget(
            Paragraph::new(Span::styled(
                format!(
                    "{} in all, busiest {per} {}",
                    count_text(sum),
                    count_text(most)
                ),
                theme.dim(),
            )),
            total,
        );
    }
}

/// The newest days first, as many as fit: p50, p90, p99 of the save-to-sent delay.
fn delay_lines<'a>(stats: &Stats, height: u16, theme: &Theme) -> Vec<Line<'a>> {
    let mut out = vec![Line::from(vec![
        Span::styled("Save to sent, per day", theme.bold()),
        Span::styled(
            if stats.delay_sample_stride > 1 {
                format!("  (every {}th sent row)", stats.delay_sample_stride)
            } else {
                String::new()
            },
            theme.dim(),
        ),
    ])];
    out.push(Line::from(Span::styled(
        format!(
            " {:<10} {:>8} {:>8} {:>8} {:>8}",
            "day", "p50", "p90", "p99", "rows"
        ),
        theme.dim(),
    )));
    let days: Vec<_> = stats
        .daily
        .iter()
        .rev()
        .filter_map(|d| d.delay.map(|x| (d.day, x)))
        .take(usize::from(height.saturating_sub(2)))
        .collect();
    if days.is_empty() {
        out.push(Line::from(Span::styled(
            " nothing sent in the last 30 days",
            theme.dim(),
        )));
    }
    let t = crate::stats::delay_text;
    for (day, d) in days {
        out.push(Line::from(format!(
            " {:<10} {:>8} {:>8} {:>8} {:>8}",
            day.format("%Y-%m-%d"),
            t(d.p50_ms),
            t(d.p90_ms),
            t(d.p99_ms),
            count_text(d.rows)
        )));
    }
    out
}
