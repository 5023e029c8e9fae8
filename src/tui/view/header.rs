//! The header: the truth about delivery, the endpoint and request rate, counts by state and
//! throughput.
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Sparkline};
use ratatui::Frame;

use crate::domain::OutboxState;
use crate::tui::app::App;
use crate::tui::ui::theme::{Level, Theme};
use crate::tui::ui::{count_text, span_text};

/// What stops or slows delivery right now, worst first; a single `Ok` line when nothing does.
/// The same assessment as `/healthz`, `status` and `doctor` ([`crate::health`]).
pub fn delivery(app: &App) -> Vec<(Level, String)> {
    use crate::health::Kind;
    let health = crate::health::assess(&crate::health::Inputs {
        use_digis: app.env.use_digis,
        // The dashboard's own read failures show in its status line.
        database_reachable: true,
        control: app.control.as_ref(),
        relays: app.relays.as_deref(),
        oldest_due_pending: app.oldest_due_pending,
        backlog_max_age_ms: app.env.backlog_max_age_ms,
        max_clock_offset_ms: app.env.max_clock_offset_ms,
        now: app.db_now(),
    });
    let mut out: Vec<(Level, String)> = Vec::new();
    for b in &health.blockers {
        let text = match b.kind {
            Kind::Paused | Kind::SelfPaused if b.relay_id.is_none() => {
                let since = b
                    .since
                    .map(|t| format!(", {} ago", span_text((app.now - t).num_seconds())))
                    .unwrap_or_default();
                let reason = app
                    .control
                    .as_ref()
                    .and_then(|c| c.pause_reason.as_deref())
                    .unwrap_or("no reason given");
                format!(
                    "PAUSED: {reason} (by {}{since}; p resumes)",
                    b.by.as_deref().unwrap_or("unknown"),
                )
            }
            _ => b.message.clone(),
        };
        let level = match b.kind {
            Kind::UseDigisOff if b.relay_id.is_some() => Level::Warn,
            _ => Level::Bad,
        };
        // Reasons and relay details come from Digis and operators: shown escaped.
        out.push((level, crate::sanitize::for_display(&text)));
    }
    if app.relays.is_none() {
        out.push((Level::Warn, "reading the database…".into()));
    }
    if out.is_empty() {
        let here = if app.env.relay_running_here {
            ", one in this process"
        } else {
            ""
        };
        out.push((
            Level::Ok,
            format!("RUNNING: {} relay(s) alive{here}", health.live_relays.len()),
        ));
    }
    out
}

/// The counts by state, every number whole: when the full line does not fit, states with no
/// rows are left out, then the labels shortened (`pend 1,234`), then the gaps narrowed.
fn counts_line(app: &App, width: u16, theme: &Theme) -> Line<'static> {
    let Some(c) = &app.counts else {
        return Line::from(vec![
            Span::raw(" outbox   "),
            Span::styled("…", theme.dim()),
        ]);
    };
    let short = |s: OutboxState| match s {
        OutboxState::Pending => "pend",
        OutboxState::Sending => "send",
        OutboxState::Sent => "sent",
        OutboxState::Failed => "fail",
        OutboxState::Discarded => "disc",
    };
    let line = |skip_zero: bool, abbreviate: bool, gap: &'static str, lead: &'static str| {
        let mut spans = vec![Span::raw(lead)];
        for s in OutboxState::ALL {
            let n = c.get(s);
            if skip_zero && n == 0 {
                continue;
            }
            let label = if abbreviate { short(s) } else { s.as_str() };
            spans.push(Span::styled(
                format!("{label} {}", count_text(n)),
                if n > 0 { theme.state(s) } else { theme.dim() },
            ));
            spans.push(Span::raw(gap));
        }
        Line::from(spans)
    };
    let tries = [
        line(false, false, "  ", " outbox   "),
        line(true, false, "  ", " outbox   "),
        line(true, true, "  ", " outbox "),
        line(true, true, " ", " "),
    ];
    let fits = |l: &Line| {
        // The last gap may fall off the edge.
        l.width().saturating_sub(2) <= usize::from(width)
    };
    let last = tries.len() - 1;
    tries
        .into_iter()
        .enumerate()
        .find(|(i, l)| *i == last || fits(l))
        .map(|(_, l)| l)
        .unwrap_or_default()
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

    let mut endpoint = vec![Span::raw(" digis    "), Span::raw(app.env.endpoint.clone())];
    // The live relays' rate together, as their heartbeats last said: what Digis is sent at most.
    let rate = app
        .relays
        .as_deref()
        .and_then(|r| crate::health::request_rate(r, app.db_now()));
    if let Some(rate) = rate {
        // Short: on 80 columns the endpoint leaves little room.
        endpoint.push(Span::raw(match rate {
            Some(r) => format!("  rate {r:.1}/s"),
            None => "  rate: no limit".into(),
        }));
    }
    endpoint.push(Span::styled(
        format!("  db {}", app.env.database),
        theme.dim(),
    ));
    let endpoint = Line::from(endpoint);
    frame.render_widget(Paragraph::new(endpoint), l2);

    let counts = counts_line(app, l3.width, theme);
    // The counts come first; the sparkline gets what is left, up to 30 minutes.
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
