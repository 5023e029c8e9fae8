//! The Failures view's state: failed rows grouped by business unit and cause, and the members
//! of the group opened with Enter.
use chrono::{DateTime, Utc};

use crate::storage::{FailedMember, FailureGroup, FailureGroupKey};
use crate::tui::message::Action;

/// How often the Failures view regroups the failed rows while it is shown: a `GROUP BY` over
/// every failed row, so not every second.
pub const FAILURES_REFRESH_SECS: i64 = 10;

#[derive(Debug, Clone, Default)]
pub struct FailuresState {
    /// The groups, in the order of their keys (unit, then cause; see [`FailuresState::apply`]);
    /// `None` until read.
    pub groups: Option<Vec<FailureGroup>>,
    pub selected: usize,
    /// When the groups were last read (the view's own clock, `App::now`).
    pub loaded_at: Option<DateTime<Utc>>,
    /// The members of the group opened with Enter.
    pub members: Option<MembersPane>,
}

impl FailuresState {
    pub fn selected_group(&self) -> Option<&FailureGroup> {
        self.groups.as_ref()?.get(self.selected)
    }

    /// Moves the selection among the groups.
    pub fn move_selection(&mut self, action: Action) {
        let len = self.groups.as_ref().map_or(0, Vec::len);
        self.selected = action.selected(self.selected, len);
    }

    /// New groups, one unit after another in the order of their keys (unit, then cause): a
    /// group that grows past another does not move, so a refresh never shuffles the list under
    /// the reader. The selection stays on its group when it is still there, and an open group
    /// whose rows are all gone stays open (its members say so).
    pub fn apply(&mut self, mut groups: Vec<FailureGroup>) {
        let kept = self.selected_group().map(|g| g.key.clone());
        groups.sort_by(|a, b| {
            a.key
                .unit_id
                .cmp(&b.key.unit_id)
                .then_with(|| a.key.cause.cmp(&b.key.cause))
        });
        self.selected = kept
            .and_then(|k| groups.iter().position(|g| g.key == k))
            .unwrap_or(self.selected)
            .min(groups.len().saturating_sub(1));
        if let Some(pane) = self.members.as_mut() {
            if let Some(g) = groups.iter().find(|g| g.key == pane.group.key) {
                pane.group = g.clone();
            }
        }
        self.groups = Some(groups);
    }
}

/// One group's members: names and cards, so shown on screen only.
#[derive(Debug, Clone)]
pub struct MembersPane {
    pub group: FailureGroup,
    pub data: Option<Result<Vec<FailedMember>, String>>,
    pub scroll: u16,
}

impl MembersPane {
    pub fn key(&self) -> &FailureGroupKey {
        &self.group.key
    }

    /// Scrolls the list, no further than its last member.
    pub fn scroll(&mut self, action: Action) {
        let rows = match &self.data {
            Some(Ok(m)) => m.len(),
            _ => 0,
        };
        let last = u16::try_from(rows.saturating_sub(1)).unwrap_or(u16::MAX);
        self.scroll = match action {
            Action::Last => last,
            _ => action.scrolled(self.scroll).min(last),
        };
    }
}
