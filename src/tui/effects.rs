//! Running effects: each [`Effect`] `update` asks for becomes database reads or an operator
//! action (the dashboard never talks to a relay directly), off the render path; its answer
//! comes back as a [`Msg`].
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::app::App;
use super::message::{
    Anchor, Detail, Effect, Msg, PageData, StatusData, GROUPS_SHOWN, MEMBERS_SHOWN,
};
use super::update::update;
use crate::config::Config;
use crate::domain::{OutboxId, OutboxState};
use crate::operator::{self, Actor, Reason, Report};
use crate::storage::{DynStorage, FailedQuery, ListQuery, Unconfirmed, UnitFilter};

/// Runs effects against the database. Cheap to clone: one per spawned task.
#[derive(Clone)]
pub struct Executor {
    pub storage: DynStorage,
    pub config: Arc<Config>,
    /// Who the dashboard acts for, recorded with a pause (`paused_by`) and a discard reason.
    pub operator: Actor,
}

impl Executor {
    pub fn new(storage: DynStorage, config: Arc<Config>) -> Executor {
        Executor {
            storage,
            config,
            operator: Actor::current(),
        }
    }

    pub async fn execute(&self, effect: Effect) -> Msg {
        let now = Utc::now();
        let (store, actor) = (&*self.storage, &self.operator);
        match effect {
            Effect::LoadStatus => Msg::Status(
                self.status(now)
                    .await
                    .map_err(|e| e.to_string().replace('\n', " ")),
            ),
            Effect::LoadPage {
                seq,
                state,
                anchor,
                limit,
                select,
            } => Msg::Page {
                seq,
                anchor,
                select,
                result: self.page(state, anchor, limit).await.map_err(err),
            },
            Effect::LoadDetail(id) => Msg::Detail(id, self.detail(id).await),
            Effect::Retry(id) => {
                acted(operator::retry(store, actor, &[id], now, Unconfirmed::Skip).await)
            }
            Effect::RetryUnconfirmed(id) => {
                acted(operator::retry(store, actor, &[id], now, Unconfirmed::Include).await)
            }
            Effect::DryRunRetryAllFailed => Msg::RetryAllDryRun(
                store
                    .unconfirmed_rows(None)
                    .await
                    .map(|ids| ids.len() as u64)
                    .map_err(err),
            ),
            Effect::RetryAllFailed => {
                acted(operator::retry_all_failed(store, actor, now, Unconfirmed::Skip).await)
            }
            Effect::RetryAllFailedWithUnconfirmed => {
                acted(operator::retry_all_failed(store, actor, now, Unconfirmed::Include).await)
            }
            Effect::Discard(id) => {
                let reason = Reason::discarded_from_dashboard(actor, &self.config.secrets());
                acted(operator::discard(store, actor, &[id], &reason, now).await)
            }
            Effect::Resend {
                subscription,
                person,
            } => acted(operator::resend(store, actor, subscription, Some(person), now).await),
            Effect::SyncNow => acted(operator::sync(store, actor, None, now).await),
            Effect::Pause => {
                let reason = Reason::paused_from_dashboard();
                // The undo hint names the key here; the CLI names its command.
                match operator::pause(store, actor, &reason, now).await {
                    Ok(r) => Msg::Acted {
                        ok: r.succeeded(),
                        text: format!("{r} (every relay stops sending until resumed with p)"),
                    },
                    Err(e) => action_failed(e),
                }
            }
            Effect::Resume => acted(operator::resume(store, actor, now).await),
            Effect::Search(term) => Msg::Searched(term.clone(), self.search(&term).await),
            Effect::LoadFailures => {
                Msg::Failures(store.failure_groups(None, GROUPS_SHOWN).await.map_err(err))
            }
            Effect::LoadFailureMembers(key) => {
                let q = FailedQuery {
                    unit: UnitFilter::Is(key.unit_id),
                    cause: Some(key.cause.clone()),
                    after: None,
                    limit: MEMBERS_SHOWN,
                };
                Msg::FailureMembers(key, store.failed_members(&q).await.map_err(err))
            }
            Effect::DryRunFailureGroup(key) => {
                let r = operator::retry_failure_group_dry_run(store, &key).await;
                Msg::GroupDryRun(key, r.map(|d| d.would_queue).map_err(err))
            }
            Effect::RetryFailureGroup(key) => {
                acted(operator::retry_failure_group(store, actor, &key, now).await)
            }
            Effect::LoadStats => Msg::Stats(crate::stats::collect(store, now).await.map_err(err)),
        }
    }

    /// The counts and the delivery snapshot (`health::Snapshot`, as `/healthz` and `status`
    /// read it), or the first thing that could not be read.
    async fn status(&self, now: DateTime<Utc>) -> Result<StatusData, crate::health::Unread> {
        let counts = self.storage.counts().await?;
        // Heartbeats and due times are in the database's time: the views age them on it.
        let snapshot = crate::health::Snapshot::read(&*self.storage, None).await;
        let (control, relays) = snapshot.whole()?;
        Ok(StatusData {
            counts,
            control: control.clone(),
            relays: relays.to_vec(),
            oldest_due_pending: snapshot.oldest_due_pending.clone()?,
            at: now,
            db_offset_ms: snapshot.db_offset_ms.clone()?,
        })
    }

    async fn page(
        &self,
        state: Option<OutboxState>,
        anchor: Anchor,
        limit: u32,
    ) -> crate::storage::Result<PageData> {
        // One row more than shown says whether there is another page that way.
        let mut q = ListQuery {
            state,
            before: None,
            after: None,
            limit: limit + 1,
        };
        match anchor {
            Anchor::Newest => {}
            Anchor::Before(id) => q.before = Some(id),
            Anchor::After(id) => q.after = Some(id),
            Anchor::Oldest => q.after = Some(OutboxId(0)),
        }
        let mut rows = self.storage.list(&q).await?;
        let more = rows.len() > limit as usize;
        let upward = matches!(anchor, Anchor::After(_) | Anchor::Oldest);
        if more {
            if upward {
                // Newest first: the extra row is the newest one, beyond the page's top.
                rows.remove(0);
            } else {
                rows.truncate(limit as usize);
            }
        }
        let (has_newer, has_older) = match anchor {
            Anchor::Newest => (false, more),
            Anchor::Before(_) => (true, more),
            Anchor::After(_) => (more, true),
            Anchor::Oldest => (more, false),
        };
        Ok(PageData {
            rows,
            has_newer,
            has_older,
        })
    }

    async fn detail(&self, id: OutboxId) -> Result<Detail, String> {
        let row = self
            .storage
            .outbox_row(id)
            .await
            .map_err(err)?
            .ok_or_else(|| format!("row {id} no longer exists (pruned?)"))?;
        let attempts = self.storage.attempts(id).await.map_err(err)?;
        let events = self.storage.events(&[id]).await.map_err(err)?;
        let synced = self
            .storage
            .digis_rows(Some(row.subscription_id), Some(row.person_id))
            .await
            .map_err(err)?
            .into_iter()
            .next();
        let members = self
            .storage
            .members_of_subscription(row.subscription_id, Some(row.person_id))
            .await
            .map_err(err)?;
        let value_today = value_today(&row, members.first());
        let payload = match members.first() {
            None => Err(format!(
                "person {} is no longer a user of subscription {}: nothing would be sent",
                row.person_id, row.subscription_id
            )),
            Some(Err(d)) => Err(d.to_string()),
            Some(Ok(m)) => crate::payload::build(m, &self.config.payload)
                .map_err(|e| e.to_string())
                .map(|p| payload_pairs(&p)),
        };
        Ok(Detail {
            row,
            attempts,
            events,
            synced,
            payload,
            value_today,
        })
    }

    /// The search module's report as text. The input is recognised by its shape
    /// (`search::readings`): bare digits may be a subscription id, a card number or a phone
    /// number; every reading is searched, and one that found nothing is left out when another
    /// found something.
    async fn search(&self, input: &str) -> Result<Vec<String>, String> {
        let terms = crate::search::readings(input, &self.config.payload.default_region)?;
        let opts = crate::search::SearchOptions {
            // The advice names the dashboard's keys, not commands.
            place: crate::search::Place::Dashboard,
            ..crate::search::SearchOptions::from_config(&self.config, Utc::now())
        };
        let mut found = Vec::new();
        let mut missed = Vec::new();
        for term in &terms {
            let report = crate::search::search(&*self.storage, &self.config.log_dir, term, &opts)
                .await
                .map_err(|e| e.to_string().replace('\n', " "))?;
            let text = crate::search::render_text(&report);
            if report.not_found.is_none() {
                found.push(text);
            } else {
                missed.push((term.to_string(), text));
            }
        }
        let mut lines: Vec<String> = Vec::new();
        if found.is_empty() {
            for (_, text) in &missed {
                if !lines.is_empty() {
                    lines.push(String::new());
                }
                lines.extend(text.lines().map(str::to_string));
            }
        } else {
            for text in &found {
                if !lines.is_empty() {
                    lines.push(String::new());
                }
                lines.extend(text.lines().map(str::to_string));
            }
            for (term, _) in &missed {
                lines.push(format!("(nothing found as {term})"));
            }
        }
        Ok(lines)
    }
}

/// The payload's keys and JSON values in contract order.
pub fn payload_pairs(p: &crate::payload::Payload) -> Vec<(String, String)> {
    match serde_json::to_value(p) {
        Ok(serde_json::Value::Object(map)) => {
            map.into_iter().map(|(k, v)| (k, v.to_string())).collect()
        }
        _ => Vec::new(),
    }
}

fn err(e: crate::storage::StorageError) -> String {
    e.to_string().replace('\n', " ")
}

/// An operator action's report as the status line: the same wording the CLI prints.
fn acted(r: crate::storage::Result<impl Report>) -> Msg {
    match r {
        Ok(report) => Msg::Acted {
            ok: report.succeeded(),
            text: report.to_string(),
        },
        Err(e) => action_failed(e),
    }
}

fn action_failed(e: crate::storage::StorageError) -> Msg {
    Msg::Acted {
        ok: false,
        text: format!("action failed: {}", err(e)),
    }
}

/// Feeds `msg` to `update` and runs every effect it leads to, in order, until nothing is left.
/// The binary runs effects on tasks instead; tests use this to go through the same code.
pub async fn settle(app: &mut App, exec: &Executor, msg: Msg) {
    let mut queue = std::collections::VecDeque::from(update(app, msg));
    while let Some(effect) = queue.pop_front() {
        let reply = exec.execute(effect).await;
        queue.extend(update(app, reply));
    }
}

/// The value of the field `row`'s last error names, as `member` holds it now; `None` when the
/// error names no member column or the member cannot be read.
fn value_today(
    row: &crate::storage::OutboxRow,
    member: Option<&crate::storage::MemberRead>,
) -> Option<crate::domain::ValueToday> {
    let Some(Ok(member)) = member else {
        return None;
    };
    let cause =
        crate::domain::FailureCause::from_stored(row.last_error.as_deref(), row.last_http_status);
    crate::domain::ValueToday::of(member, cause.field.as_deref()?)
}
