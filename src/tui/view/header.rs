//! The header: the truth about delivery, the endpoint, counts by state and throughput.
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Sparkline};
use ratatui::Frame;

use super::theme::{Level, Theme};
use super::{count_text, span_text};
use crate::domain::OutboxState;
use crate::tui::app::App;

/// What stops or slows delivery right now, worst first; a single `Ok` line when nothing does.
pub fn delivery(app: &App) -> Vec<(Level, String)> {
    let mut out: Vec<(Level, String)> = Vec::new();
    if !app.env.use_digis {
        out.push((Level::Bad, "useDigis is off: nothing is sent".into()));
    }
    let paused = app.control.as_ref().filter(|c| c.paused);
    if let Some(c) = paused {
        let since = c
            .paused_at
            .map(|t| format!(", {} ago", span_text((app.now - t).num_seconds())))
            .unwrap_or_default();
        out.push((
            Level::Bad,
            format!(
                "PAUSED: {} (by {}{since}; p resumes)",
                &crate::sanitize::for_display(
                    c.pause_reason.as_deref().unwrap_or("no reason given")
                ),
                c.paused_by.as_deref().unwrap_or("unknown"),
            ),
        ));
    }
    let stale_ms = 3 * app.env.heartbeat_ms as i64;
    let mut alive = 0;
    match &app.relays {
        None => out.push((Level::Warn, "reading the database…".into())),
        Some(relays) if relays.is_empty() => out.push((
            Level::Bad,
            "NO RELAY has ever run on this database: nothing is sent (start `digis-relay run`)"
                .into(),
        )),
        Some(relays) => {
            let live: Vec<_> = relays
                .iter()
                .filter(|r| {
                    r.state != "stopped"
                        && (app.now - r.heartbeat_at).num_milliseconds() <= stale_ms
                })
                .collect();
            alive = live.len();
            if live.is_empty() {
                let newest = relays.iter().map(|r| r.heartbeat_at).max();
                let secs = newest.map_or(0, |t| (app.now - t).num_seconds().max(0));
                out.push((
                    Level::Bad,
                    format!(
                        "NO RELAY SEEN for {secs} s: nothing is sent (start `digis-relay run`)"
                    ),
                ));
            }
            for r in live {
                let detail = crate::sanitize::for_display(r.detail.as_deref().unwrap_or(""));
                match r.state.as_str() {
                    "circuit_open" => out.push((
                        Level::Bad,
                        format!("CIRCUIT OPEN at {}: {detail}", r.relay_id),
                    )),
                    // The pause flag already says so; a relay that paused itself (401 from
                    // Digis) is news.
                    "paused" if paused.is_none() => {
                        out.push((Level::Bad, format!("relay {} PAUSED: {detail}", r.relay_id)))
                    }
                    "disabled" if app.env.use_digis => out.push((
                        Level::Warn,
                        format!("relay {} has useDigis off: {detail}", r.relay_id),
                    )),
                    _ => {}
                }
            }
        }
    }
    if out.is_empty() {
        let here = if app.env.relay_running_here {
            ", one in this process"
        } else {
            ""
        };
        out.push((Level::Ok, format!("RUNNING: {alive} relay(s) alive{here}")));
    }
    out
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let [l1, l2, l3] = Layout::vertical([Constraint::Length(1); 3]).areas(area);

    let news = delivery(app);
    let mut spans = vec![Span::raw(" delivery ")];
    for (i, (level, text)) in news.iter().enumerate() {
        if i > 0 {
            spans.push(Span::raw(" · "));
        }
        spans.push(Span::styled(text.clone(), theme.level(*level)));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), l1);

    let endpoint = Line::from(vec![
        Span::raw(" digis    "),
        Span::raw(app.env.endpoint.clone()),
        Span::styled(format!("  db {}", app.env.database), theme.dim()),
    ]);
    frame.render_widget(Paragraph::new(endpoint), l2);

    let mut spans = vec![Span::raw(" outbox   ")];
    match &app.counts {
        None => spans.push(Span::styled("…", theme.dim())),
        Some(c) => {
            for s in OutboxState::ALL {
                spans.push(Span::styled(
                    format!("{} {}", s.as_str(), count_text(c.get(s))),
                    if c.get(s) > 0 {
                        theme.state(s)
                    } else {
                        theme.dim()
                    },
                ));
                spans.push(Span::raw("  "));
            }
        }
    }
    // The counts come first; the sparkline gets what is left, up to 30 minutes.
    let counts = Line::from(spans);
    let label = format!(" {}/min ", app.throughput.last_minute());
    let free = l3.width.saturating_sub(counts.width() as u16);
    let label_w = if free >= label.len() as u16 {
        label.len() as u16
    } else {
        0
    };
    let spark_w = match free - label_w {
        w if w >= 5 => w.min(30),
        _ => 0,
    };
    let [counts_area, label_area, spark_area] = Layout::horizontal([
        Constraint::Min(0),
        Constraint::Length(label_w),
        Constraint::Length(spark_w),
    ])
    .areas(l3);
    frame.render_widget(Paragraph::new(counts), counts_area);
    frame.render_widget(Paragraph::new(Span::styled(label, theme.dim())), label_area);
    // Right-aligned: the newest minute is always at the right edge.
    let data: Vec<u64> = app.throughput.buckets.iter().copied().collect();
    let skip = data.len().saturating_sub(spark_w as usize);
    let shown = &data[skip..];
    let pad = spark_w as usize - shown.len();
    let bars: Vec<u64> = std::iter::repeat_n(0, pad)
        .chain(shown.iter().copied())
        .collect();
    frame.render_widget(
        Sparkline::default().data(&bars).style(theme.sparkline()),
        spark_area,
    );
}
