//! Reading what the relay did and what the host holds: outbox lists, a row's attempts and
//! events, members and persons for search, failures, counts and figures. Used by `search`,
//! the dashboard (`tui`), `report`, `stats`, `export`, `status` and `doctor`; none of it
//! writes.
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::engine::Engine;
use super::exec::{Db, Statement};
use super::lists::{json_err, WordList};
use super::relay_store::rows_by_ids_on;
use super::time::StoredTime;
use super::{
    decode, name_grams, rows, AttemptRow, Context as _, Counts, DelaySample, DigisRow, EventRow,
    FailedMember, FailedQuery, FailureGroup, ListQuery, MemberRead, OutboxRow, OutcomeCounts,
    PersonFilter, PersonRow, Result, UnitFilter, PHONE_KEY_DIGITS,
};
use crate::domain::{CardNumber, OutboxId, PersonId, SubscriptionId, UnitId};

/// The reads of lists, search, failures and figures.
#[async_trait]
pub trait ReadStore: Send + Sync {
    async fn ping(&self) -> Result<()>;

    /// What operators did to these rows, oldest first.
    async fn events(&self, outbox_ids: &[OutboxId]) -> Result<Vec<EventRow>>;

    /// Failed rows grouped by business unit and cause: the `limit` largest groups, in the order
    /// of their keys (unit, then cause); `unit`: only that unit's.
    async fn failure_groups(&self, unit: Option<UnitId>, limit: u32) -> Result<Vec<FailureGroup>>;

    /// A page of failed rows with their members (names: personal data).
    async fn failed_members(&self, query: &FailedQuery) -> Result<Vec<FailedMember>>;

    /// Attempts that ended `sent`, `failed` and `retry`, counted for each time range
    /// `[from, to)`, in the ranges' order.
    async fn attempt_counts(
        &self,
        ranges: &[(DateTime<Utc>, DateTime<Utc>)],
    ) -> Result<Vec<OutcomeCounts>>;

    /// Save-to-sent delays of rows sent in `[from, to)`: at most about `max_rows` of them, spread
    /// evenly over the sent rows.
    async fn sent_delays(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        max_rows: u32,
    ) -> Result<DelaySample>;

    async fn counts(&self) -> Result<Counts>;

    async fn list(&self, query: &ListQuery) -> Result<Vec<OutboxRow>>;

    async fn outbox_row(&self, id: OutboxId) -> Result<Option<OutboxRow>>;

    async fn rows_for_subscription(&self, id: SubscriptionId) -> Result<Vec<OutboxRow>>;

    /// Rows of whoever holds the card now, including users who have since left the
    /// subscription (found through the person table).
    async fn rows_for_card(&self, card: &CardNumber) -> Result<Vec<OutboxRow>>;

    async fn attempts(&self, id: OutboxId) -> Result<Vec<AttemptRow>>;

    async fn digis_rows(
        &self,
        subscription: Option<SubscriptionId>,
        person: Option<PersonId>,
    ) -> Result<Vec<DigisRow>>;

    /// Members of a subscription as the view shows them, optionally one person. Member reads
    /// are per row: one that cannot be read is an `Err` naming its column, beside the others.
    async fn members_of_subscription(
        &self,
        id: SubscriptionId,
        person: Option<PersonId>,
    ) -> Result<Vec<MemberRead>>;

    async fn members_by_card(&self, card: &CardNumber) -> Result<Vec<MemberRead>>;

    /// Status of a subscription in the host table (`None`: no such subscription).
    async fn subscription_status(&self, id: SubscriptionId) -> Result<Option<String>>;

    /// Persons holding a card number in the host table, whether or not they use a subscription.
    async fn persons_by_card(&self, card: &CardNumber) -> Result<Vec<PersonId>>;

    /// The cards (as stored, each once) that differ from `card` only in leading zeros: what
    /// was probably meant when nobody holds `card`. Never `card` itself; at most five persons'.
    async fn cards_without_zeros(&self, card: &CardNumber) -> Result<Vec<String>>;

    /// Persons who may match `filter`, after `after` in id order, at most `limit`: a superset
    /// narrowed in SQL (see [`PersonFilter`]); the caller compares exactly and pages on with
    /// the last id. Only persons with a whole-number id are read.
    async fn persons_matching(
        &self,
        filter: &PersonFilter,
        after: Option<PersonId>,
        limit: u32,
    ) -> Result<Vec<PersonRow>>;

    /// Every (subscription, person) pair that names one of `persons`: users now (the
    /// `digis_member` view), outbox rows and `digis` rows, by subscription then person.
    async fn pairs_of_persons(
        &self,
        persons: &[PersonId],
    ) -> Result<Vec<(SubscriptionId, PersonId)>>;

    /// Users of ACTIVE subscriptions after `after` in (subscription_id, person_id) order.
    /// A row that cannot be read is an `Err` in its place (it still counts towards `limit`).
    async fn active_members_page(
        &self,
        after: Option<(SubscriptionId, PersonId)>,
        limit: u32,
    ) -> Result<Vec<MemberRead>>;
}

#[async_trait]
impl<E: Engine> ReadStore for E {
    async fn ping(&self) -> Result<()> {
        let db = self.db();
        db.query("SELECT 1")
            .execute(db)
            .await
            .ctx("pinging the database")?;
        Ok(())
    }

    async fn events(&self, outbox_ids: &[OutboxId]) -> Result<Vec<EventRow>> {
        let db = self.db();
        let sql = db.sql();
        if outbox_ids.is_empty() {
            return Ok(Vec::new());
        }
        db.query(sql.events)
            .bind(super::lists::IdList::of(outbox_ids))
            .fetch_all(db)
            .await
            .ctx("reading operator events")?
            .iter()
            .map(rows::event_row)
            .collect()
    }

    async fn failure_groups(&self, unit: Option<UnitId>, limit: u32) -> Result<Vec<FailureGroup>> {
        let db = self.db();
        let sql = db.sql();
        let rows = db
            .query(sql.failure_groups)
            .bind(unit.map(UnitId::get))
            .bind(i64::from(limit))
            .fetch_all(db)
            .await
            .ctx("grouping failed rows")?;
        let groups = rows
            .iter()
            .map(rows::failure_group)
            .collect::<Result<Vec<_>>>()?;
        Ok(merge_failure_groups(groups))
    }

    async fn failed_members(&self, query: &FailedQuery) -> Result<Vec<FailedMember>> {
        let db = self.db();
        let sql = db.sql();
        let (all_units, unit) = match query.unit {
            UnitFilter::Any => (true, None),
            UnitFilter::Is(u) => (false, u),
        };
        let q = match &query.cause {
            None => db.query(sql.failed_rows),
            Some(_) => db.query(sql.failed_rows_of_cause),
        };
        let q = q
            .bind(query.after.map_or(0, |i| i.0))
            .bind(i64::from(query.limit))
            .bind(all_units)
            .bind(unit);
        let q = match &query.cause {
            None => q,
            Some(cause) => {
                let (field, rule) = cause.columns();
                q.bind(rule).bind(field)
            }
        };
        let failed = q
            .fetch_all(db)
            .await
            .ctx("reading failed rows")?
            .iter()
            .map(rows::failed_row)
            .collect::<Result<Vec<_>>>()?;
        let pairs = failed
            .iter()
            .filter(|r| r.subscription_id != 0 && r.person_id != 0)
            .map(|r| super::lists::PairKey {
                subscription_id: r.subscription_id,
                person_id: r.person_id,
            });
        let mut members: Vec<MemberRead> = Vec::new();
        for chunk in super::lists::json_chunks(pairs).map_err(json_err)? {
            members.extend(
                db.query(sql.members_of_pairs)
                    .bind(chunk)
                    .fetch_all(db)
                    .await
                    .ctx("reading members of failed rows")?
                    .iter()
                    .map(decode::member),
            );
        }
        Ok(assemble_failed(failed, &members))
    }

    async fn attempt_counts(
        &self,
        ranges: &[(DateTime<Utc>, DateTime<Utc>)],
    ) -> Result<Vec<OutcomeCounts>> {
        let db = self.db();
        let sql = db.sql();
        use super::lists::TimeList;
        use crate::domain::AttemptOutcome;
        if ranges.is_empty() {
            return Ok(Vec::new());
        }
        db.query(sql.attempt_counts)
            .bind(TimeList(ranges.iter().map(|r| r.0).collect()))
            .bind(TimeList(ranges.iter().map(|r| r.1).collect()))
            .bind(AttemptOutcome::Sent.as_str())
            .bind(AttemptOutcome::Failed.as_str())
            .bind(AttemptOutcome::Retry.as_str())
            .fetch_all(db)
            .await
            .ctx("counting attempts")?
            .iter()
            .map(rows::outcome_counts)
            .collect()
    }

    async fn sent_delays(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        max_rows: u32,
    ) -> Result<DelaySample> {
        let db = self.db();
        let sql = db.sql();
        let sent: i64 = db
            .query(sql.sent_count)
            .bind(StoredTime(from))
            .bind(StoredTime(to))
            .scalar(db)
            .await
            .ctx("counting sent rows")?;
        let sent = sent.max(0) as u64;
        let stride = sent.div_ceil(u64::from(max_rows.max(1))).max(1);
        let delays = db
            .query(sql.sent_delays)
            .bind(StoredTime(from))
            .bind(StoredTime(to))
            .bind(stride as i64)
            .fetch_all(db)
            .await
            .ctx("reading save-to-sent delays")?
            .iter()
            .map(rows::sent_delay)
            .collect::<Result<Vec<_>>>()?;
        Ok(DelaySample {
            sent,
            stride,
            delays,
        })
    }

    async fn counts(&self) -> Result<Counts> {
        let db = self.db();
        let sql = db.sql();
        let rows = db
            .query(sql.counts)
            .fetch_all(db)
            .await
            .ctx("counting outbox rows")?;
        let mut counts = Counts::default();
        for r in &rows {
            let (state, n) = rows::state_count(r)?;
            counts.set(state, n);
        }
        Ok(counts)
    }

    async fn list(&self, query: &ListQuery) -> Result<Vec<OutboxRow>> {
        let db = self.db();
        let sql = db.sql();
        // Paging up reads the nearest rows above the cursor, then shows them newest
        // first. A missing cursor is the widest bound, so the id range stays indexable.
        let upward = query.after.is_some() && query.before.is_none();
        let sql = match (query.state, upward) {
            (None, false) => sql.outbox_page_older,
            (None, true) => sql.outbox_page_newer,
            (Some(_), false) => sql.outbox_page_older_in_state,
            (Some(_), true) => sql.outbox_page_newer_in_state,
        };
        let mut q = db.query(sql);
        if let Some(state) = query.state {
            q = q.bind(state.as_str());
        }
        let q = q
            .bind(query.before.map_or(i64::MAX, |i| i.0))
            .bind(query.after.map_or(i64::MIN, |i| i.0))
            .bind(query.limit as i64);
        let mut out = outbox_rows(db, q, "listing the outbox").await?;
        if upward {
            out.reverse();
        }
        Ok(out)
    }

    async fn outbox_row(&self, id: OutboxId) -> Result<Option<OutboxRow>> {
        let db = self.db();
        let mut conn = db.acquire().await.ctx("reading outbox rows")?;
        Ok(rows_by_ids_on(db, &mut conn, &[id.0]).await?.pop())
    }

    async fn rows_for_subscription(&self, id: SubscriptionId) -> Result<Vec<OutboxRow>> {
        let db = self.db();
        let sql = db.sql();
        let q = db.query(sql.outbox_of_subscription).bind(id.0);
        outbox_rows(db, q, "reading a subscription's rows").await
    }

    async fn rows_for_card(&self, card: &CardNumber) -> Result<Vec<OutboxRow>> {
        let db = self.db();
        let sql = db.sql();
        let q = db.query(sql.outbox_of_card).bind(card.as_str());
        outbox_rows(db, q, "reading a card's rows").await
    }

    async fn attempts(&self, id: OutboxId) -> Result<Vec<AttemptRow>> {
        let db = self.db();
        let sql = db.sql();
        db.query(sql.attempts)
            .bind(id.0)
            .fetch_all(db)
            .await
            .ctx("reading attempts")?
            .iter()
            .map(rows::attempt_row)
            .collect()
    }

    async fn digis_rows(
        &self,
        subscription: Option<SubscriptionId>,
        person: Option<PersonId>,
    ) -> Result<Vec<DigisRow>> {
        let db = self.db();
        let sql = db.sql();
        db.query(sql.digis_rows)
            .bind(subscription.map(|s| s.0))
            .bind(person.map(|p| p.0))
            .fetch_all(db)
            .await
            .ctx("reading digis")?
            .iter()
            .map(rows::digis_row)
            .collect()
    }

    async fn members_of_subscription(
        &self,
        id: SubscriptionId,
        person: Option<PersonId>,
    ) -> Result<Vec<MemberRead>> {
        let db = self.db();
        let sql = db.sql();
        let q = db
            .query(sql.members_of_subscription)
            .bind(id.0)
            .bind(person.map(|p| p.0));
        members(db, q, "reading a subscription's members").await
    }

    async fn members_by_card(&self, card: &CardNumber) -> Result<Vec<MemberRead>> {
        let db = self.db();
        let sql = db.sql();
        let q = db.query(sql.members_by_card).bind(card.as_str());
        members(db, q, "reading members by card").await
    }

    async fn subscription_status(&self, id: SubscriptionId) -> Result<Option<String>> {
        let db = self.db();
        let sql = db.sql();
        db.query(sql.subscription_status)
            .bind(id.0)
            .opt_scalar(db)
            .await
            .ctx("reading a subscription")
    }

    async fn persons_by_card(&self, card: &CardNumber) -> Result<Vec<PersonId>> {
        let db = self.db();
        let sql = db.sql();
        let ids: Vec<i64> = db
            .query(sql.persons_by_card)
            .bind(card.as_str())
            .scalars(db)
            .await
            .ctx("reading persons by card")?;
        Ok(ids.into_iter().map(PersonId).collect())
    }

    async fn cards_without_zeros(&self, card: &CardNumber) -> Result<Vec<String>> {
        let db = self.db();
        let sql = db.sql();
        // Only a card with digits left once its zeros are gone can have been meant.
        if card.as_str().trim_start_matches('0').is_empty() {
            return Ok(Vec::new());
        }
        let mut cards: Vec<String> = db
            .query(sql.cards_without_zeros)
            .bind(card.as_str())
            .fetch_all(db)
            .await
            .ctx("reading cards like a card")?
            .iter()
            .filter_map(decode::person)
            .filter_map(|p| p.card_number)
            .collect();
        let mut seen = std::collections::HashSet::new();
        cards.retain(|c| seen.insert(c.clone()));
        Ok(cards)
    }

    async fn persons_matching(
        &self,
        filter: &PersonFilter,
        after: Option<PersonId>,
        limit: u32,
    ) -> Result<Vec<PersonRow>> {
        let db = self.db();
        let sql = db.sql();
        // The keys hold the last seven digits only: a shorter national number (a few small
        // countries) is looked for the old way, and so is a name word without a trigram.
        let grams = match filter {
            PersonFilter::NameWord(w) => name_grams(w),
            _ => None,
        };
        let keyed = match filter {
            PersonFilter::PhoneDigits(d) => d.len() == PHONE_KEY_DIGITS,
            PersonFilter::Email(_) => true,
            PersonFilter::NameWord(_) => grams.is_some(),
        } && person_keys_ready(db).await?;
        let after = after.map_or(i64::MIN, |p| p.0);
        let q = match (filter, grams) {
            // Not prepared once: PostgreSQL plans each search for its grams (a common one is
            // read in id order until the page fills, a rare one through the GIN index); a
            // generic plan guesses one selectivity for all.
            (PersonFilter::NameWord(_), Some(grams)) if keyed => db
                .query(sql.persons_by_name_key)
                .persistent(false)
                .bind(WordList(grams)),
            (PersonFilter::NameWord(w), _) => db
                .query(sql.persons_by_name)
                .bind(decode::like_containing(w)),
            (PersonFilter::PhoneDigits(d), _) if keyed => {
                db.query(sql.persons_by_phone_key).bind(d.clone())
            }
            (PersonFilter::PhoneDigits(d), _) => db.query(sql.persons_by_phone).bind(d.clone()),
            (PersonFilter::Email(e), _) if keyed => {
                db.query(sql.persons_by_email_key).bind(e.clone())
            }
            (PersonFilter::Email(e), _) => db.query(sql.persons_by_email).bind(e.clone()),
        };
        Ok(q.bind(after)
            .bind(i64::from(limit))
            .fetch_all(db)
            .await
            .ctx("finding persons")?
            .iter()
            .filter_map(decode::person)
            .collect())
    }

    async fn pairs_of_persons(
        &self,
        persons: &[PersonId],
    ) -> Result<Vec<(SubscriptionId, PersonId)>> {
        let db = self.db();
        let sql = db.sql();
        if persons.is_empty() {
            return Ok(Vec::new());
        }
        let ids = persons.iter().map(|p| p.0).collect();
        Ok(db
            .query(sql.pairs_of_persons)
            .bind(super::lists::IdList(ids))
            .fetch_all(db)
            .await
            .ctx("reading the persons' subscriptions")?
            .iter()
            .filter_map(decode::pair)
            .collect())
    }

    async fn active_members_page(
        &self,
        after: Option<(SubscriptionId, PersonId)>,
        limit: u32,
    ) -> Result<Vec<MemberRead>> {
        let db = self.db();
        let sql = db.sql();
        let (s, p) = after
            .map(|(s, p)| (s.0, p.0))
            .unwrap_or((i64::MIN, i64::MIN));
        let q = db
            .query(sql.active_members_page)
            .bind(s)
            .bind(p)
            .bind(limit as i64);
        members(db, q, "reading active members").await
    }
}

/// Whether `digis_person_key` holds every person (migration 0018; `migrate` rebuilt it for an
/// adapter whose triggers keep it). Read on every search: an adapter can be replaced by one
/// that does not keep the keys.
async fn person_keys_ready(db: &Db) -> Result<bool> {
    Ok(db
        .query(db.sql().person_keys_ready)
        .opt_scalar::<bool>(db)
        .await
        .ctx("reading whether the person keys are ready")?
        .unwrap_or(false))
}

async fn outbox_rows(db: &Db, q: Statement, context: &'static str) -> Result<Vec<OutboxRow>> {
    let rows = q.fetch_all(db).await.ctx(context)?;
    rows.iter().map(rows::outbox_row).collect()
}

async fn members(db: &Db, q: Statement, context: &'static str) -> Result<Vec<MemberRead>> {
    let rows = q.fetch_all(db).await.ctx(context)?;
    Ok(rows.iter().map(decode::member).collect())
}

/// Groups that read as the same key (two unit ids that cannot be read both count as no unit)
/// become one; in the order of their keys (unit, then cause), which stays put when a group
/// grows past another between two reads.
fn merge_failure_groups(groups: Vec<FailureGroup>) -> Vec<FailureGroup> {
    let mut out: Vec<FailureGroup> = Vec::with_capacity(groups.len());
    for g in groups {
        match out.iter_mut().find(|o| o.key == g.key) {
            Some(o) => {
                o.rows += g.rows;
                o.oldest = o.oldest.min(g.oldest);
                o.newest = o.newest.max(g.newest);
                if o.unit_name.is_none() {
                    o.unit_name = g.unit_name;
                }
            }
            None => out.push(g),
        }
    }
    out.sort_by(|a, b| {
        a.key
            .unit_id
            .cmp(&b.key.unit_id)
            .then_with(|| a.key.cause.cmp(&b.key.cause))
    });
    out
}

/// Joins failed rows with their members (read by pair), in the rows' order.
fn assemble_failed(failed: Vec<rows::FailedRow>, members: &[MemberRead]) -> Vec<FailedMember> {
    let by_pair: std::collections::HashMap<(i64, i64), &MemberRead> = members
        .iter()
        .filter_map(|m| {
            let pair = match m {
                Ok(m) => (m.subscription_id, m.person_id),
                Err(d) => (d.subscription.int()?, d.person.int()?),
            };
            Some((pair, m))
        })
        .collect();
    failed
        .into_iter()
        .map(|f| {
            let (s, p) = (f.subscription_id, f.person_id);
            let member = by_pair.get(&(s, p)).copied();
            let mut out = FailedMember {
                id: f.id,
                subscription_id: SubscriptionId(s),
                person_id: PersonId(p),
                card_number: None,
                name: None,
                unit_id: None,
                unit_name: None,
                cause: f.cause,
                detail: f.failure.detail,
                failed_at: f.failed_at,
                member_problem: None,
                value_today: None,
            };
            match member {
                Some(Ok(m)) => {
                    let name = [m.first_name.as_deref(), m.last_name.as_deref()]
                        .into_iter()
                        .flatten()
                        .map(str::trim)
                        .filter(|n| !n.is_empty())
                        .collect::<Vec<_>>()
                        .join(" ");
                    out.name = (!name.is_empty()).then_some(name);
                    out.card_number = m.card_number.clone();
                    out.unit_id = m.unit_id;
                    out.unit_name = m.unit_name.clone();
                    out.value_today = out
                        .cause
                        .field
                        .as_deref()
                        .and_then(|field| crate::domain::ValueToday::of(m, field));
                }
                Some(Err(d)) => out.member_problem = Some(d.to_string()),
                None => {
                    out.member_problem = Some("no longer a user of the subscription".to_string())
                }
            }
            out
        })
        .collect()
}
