//! Styles, with a monochrome set when NO_COLOR is set (https://no-color.org): meaning is then
//! carried by words and bold/reverse only.
use ratatui::style::{Color, Modifier, Style};

use crate::domain::OutboxState;

#[derive(Debug, Clone, Copy)]
pub struct Theme {
    color: bool,
}

/// How good or bad a piece of news is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    Warn,
    Bad,
}

impl Theme {
    pub fn new(no_color: bool) -> Theme {
        Theme { color: !no_color }
    }

    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    pub fn plain(&self) -> Style {
        Style::new()
    }

    pub fn dim(&self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new()
        }
    }

    pub fn bold(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    pub fn key(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    pub fn level(&self, level: Level) -> Style {
        match level {
            Level::Ok => self.fg(Color::Green).add_modifier(Modifier::BOLD),
            Level::Warn => self.fg(Color::Yellow).add_modifier(Modifier::BOLD),
            Level::Bad => self.fg(Color::Red).add_modifier(Modifier::BOLD),
        }
    }

    pub fn state(&self, s: OutboxState) -> Style {
        match s {
            OutboxState::Pending => self.fg(Color::Yellow),
            OutboxState::Sending => self.fg(Color::Cyan),
            OutboxState::Sent => self.fg(Color::Green),
            OutboxState::Failed => self.fg(Color::Red).add_modifier(Modifier::BOLD),
            OutboxState::Discarded => self.dim(),
        }
    }

    pub fn selected(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    pub fn active_tab(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
    }

    pub fn border(&self) -> Style {
        self.dim()
    }

    pub fn sparkline(&self) -> Style {
        self.fg(Color::Green)
    }
}
