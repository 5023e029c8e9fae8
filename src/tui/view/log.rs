//! The live log (tui-logger). What reaches it is the tracing output of this process, which by
//! the house rules carries ids and outcomes only, never personal data.
use ratatui::layout::Rect;
use ratatui::text::Span;
use ratatui::widgets::Block;
use ratatui::Frame;
use tui_logger::{TuiLoggerLevelOutput, TuiLoggerWidget};

use super::theme::Theme;

pub fn draw(frame: &mut Frame, area: Rect, theme: &Theme) {
    let widget = TuiLoggerWidget::default()
        .block(
            Block::bordered()
                .border_style(theme.border())
                .title(Span::styled(" Log (this process) ", theme.bold())),
        )
        .output_separator(' ')
        .output_timestamp(Some("%H:%M:%S".to_string()))
        .output_level(Some(TuiLoggerLevelOutput::Abbreviated))
        .output_target(true)
        .output_file(false)
        .output_line(false)
        .style_error(theme.state(crate::domain::OutboxState::Failed))
        .style_warn(theme.state(crate::domain::OutboxState::Pending));
    frame.render_widget(widget, area);
}
