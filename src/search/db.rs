//! What the database knows about a term, read through the `Storage` trait only (so both
//! databases answer alike, and the dashboard's connection can be reused).
use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::logscan::{LogHit, LogKeys};
use super::member::{MemberQuery, MAX_PERSONS};
use super::{SearchError, SearchTerm};
use crate::domain::{CardNumber, OutboxId, PersonId, SubscriptionId};
use crate::health::Snapshot;
use crate::storage::{
    AttemptRow, DigisRow, EventRow, MemberRead, MemberRow, OutboxRow, PersonRow, Result, RowDefect,
    Storage,
};

/// Candidates read per round trip while looking for the persons a member key matches.
const PERSON_PAGE: u32 = 1_000;

/// The persons a phone number, e-mail address or name matched.
#[derive(Debug, Default)]
pub(super) struct FoundPersons {
    /// Lowest id first, at most [`MAX_PERSONS`].
    pub persons: Vec<PersonRow>,
    /// More matched than were kept.
    pub truncated: bool,
}

impl FoundPersons {
    pub fn ids(&self) -> Vec<PersonId> {
        self.persons.iter().map(|p| p.id).collect()
    }
}

/// Pages through the database's candidates, keeping those the exact rule accepts, until
/// [`MAX_PERSONS`] + 1 matched or the candidates ran out.
async fn find_persons(storage: &dyn Storage, query: &MemberQuery) -> Result<FoundPersons> {
    let filter = query.filter();
    let mut found = FoundPersons::default();
    let mut after = None;
    loop {
        let page = storage
            .persons_matching(&filter, after, PERSON_PAGE)
            .await?;
        let full = page.len() == PERSON_PAGE as usize;
        // Ids only ever grow, so a page always moves the cursor on.
        match page.last() {
            Some(last) if Some(last.id) > after => after = Some(last.id),
            _ => return Ok(found),
        }
        for p in page.into_iter().filter(|p| query.matches(p)) {
            if found.persons.len() == MAX_PERSONS {
                found.truncated = true;
                return Ok(found);
            }
            found.persons.push(p);
        }
        if !full {
            return Ok(found);
        }
    }
}

pub(super) type Pair = (SubscriptionId, PersonId);

/// What can be asked before the log scan has finished.
pub(super) struct Seed {
    pairs: BTreeSet<Pair>,
    persons_with_card: Option<Vec<PersonId>>,
    card_suggestions: Vec<String>,
    found: Option<FoundPersons>,
    delivery: Snapshot,
}

impl Seed {
    pub fn persons_found(&self) -> usize {
        self.found.as_ref().map_or(0, |f| f.persons.len())
    }

    pub fn pair_count(&self) -> usize {
        self.pairs.len()
    }

    /// For a member search: the log lines to look for are those of the persons found, under
    /// their subscriptions or their cards now.
    pub fn log_keys(&self) -> LogKeys {
        let found = self.found.as_ref();
        LogKeys {
            subscriptions: self.pairs.iter().map(|(s, _)| s.get()).collect(),
            cards: found
                .map(|f| {
                    f.persons
                        .iter()
                        .filter_map(|p| p.card_number.as_deref()?.parse::<CardNumber>().ok())
                        .collect()
                })
                .unwrap_or_default(),
            persons: Some(
                found
                    .map(|f| f.persons.iter().map(|p| p.id.0).collect())
                    .unwrap_or_default(),
            ),
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct SubscriptionFacts {
    /// `None`: no such subscription in the host table.
    pub status: Option<String>,
    pub members: Vec<MemberRow>,
    /// Member rows the host database holds but the relay cannot read, with why.
    pub defects: Vec<RowDefect>,
    pub rows: Vec<OutboxRow>,
    pub attempts: HashMap<OutboxId, Vec<AttemptRow>>,
    /// What operators did to the rows (retry, discard, resend), oldest first.
    pub events: Vec<EventRow>,
    pub digis: Vec<DigisRow>,
}

impl SubscriptionFacts {
    fn add_members(&mut self, reads: Vec<MemberRead>) {
        for r in reads {
            match r {
                Ok(m) => self.members.push(m),
                Err(d) => self.defects.push(d),
            }
        }
    }

    /// Why the pair's member row cannot be read, if it cannot.
    pub fn defect_of(&self, person: PersonId) -> Option<&RowDefect> {
        self.defects
            .iter()
            .find(|d| d.person.int() == Some(person.0))
    }
}

fn defect_pair(d: &RowDefect) -> Option<Pair> {
    Some((
        SubscriptionId(d.subscription.int()?),
        PersonId(d.person.int()?),
    ))
}

fn pair_of(m: &MemberRead) -> Option<Pair> {
    match m {
        Ok(m) => Some((m.subscription(), m.person())),
        Err(d) => defect_pair(d),
    }
}

pub(super) struct Facts {
    /// Every (subscription, person) the term matches, from any source.
    pub pairs: BTreeSet<Pair>,
    pub subscriptions: BTreeMap<SubscriptionId, SubscriptionFacts>,
    /// For a card term: the persons holding that card now.
    pub persons_with_card: Option<Vec<PersonId>>,
    /// For a card nobody holds: the cards that differ from it only in leading zeros (never a
    /// match: cards match whole; `search` asks "did you mean …?").
    pub card_suggestions: Vec<String>,
    /// For a phone, e-mail or name term: the persons it matched.
    pub found: Option<FoundPersons>,
    /// Delivery as a whole, every part read (`Snapshot::whole`): what can hold this
    /// member's rows back whatever they are.
    pub delivery: Snapshot,
}

pub(super) async fn seed(
    storage: &dyn Storage,
    term: &SearchTerm,
) -> std::result::Result<Seed, SearchError> {
    let mut pairs = BTreeSet::new();
    let mut persons_with_card = None;
    let mut card_suggestions = Vec::new();
    if let SearchTerm::Card(card) = term {
        for m in storage.members_by_card(card).await? {
            pairs.extend(pair_of(&m));
        }
        for r in storage.rows_for_card(card).await? {
            pairs.insert((r.subscription_id, r.person_id));
        }
        let persons = storage.persons_by_card(card).await?;
        // A person who left every subscription is no longer in the view: the `digis` table
        // still knows which subscriptions they were sent for.
        for p in &persons {
            for d in storage.digis_rows(None, Some(*p)).await? {
                pairs.insert((d.subscription_id, d.person_id));
            }
        }
        if persons.is_empty() {
            card_suggestions = storage.cards_without_zeros(card).await?;
        }
        persons_with_card = Some(persons);
    }
    let mut found = None;
    if let SearchTerm::Member(query) = term {
        let f = find_persons(storage, query).await?;
        pairs.extend(storage.pairs_of_persons(&f.ids()).await?);
        found = Some(f);
    }
    let delivery = Snapshot::read(storage, None).await;
    delivery.pause_and_relays()?;
    Ok(Seed {
        pairs,
        persons_with_card,
        card_suggestions,
        found,
        delivery,
    })
}

/// Loads every subscription involved, with the pairs the log lines add.
pub(super) async fn load(
    storage: &dyn Storage,
    term: &SearchTerm,
    seed: Seed,
    hits: &[LogHit],
) -> Result<Facts> {
    let mut pairs = seed.pairs;
    for h in hits {
        let sub = match term {
            SearchTerm::Subscription(id) => Some(*id),
            SearchTerm::Card(_) | SearchTerm::Member(_) => {
                h.fields.subscription_id.map(SubscriptionId)
            }
        };
        if let (Some(s), Some(p)) = (sub, h.fields.person_id) {
            pairs.insert((s, PersonId(p)));
        }
    }
    let mut subs: BTreeSet<SubscriptionId> = pairs.iter().map(|(s, _)| *s).collect();
    if let SearchTerm::Subscription(id) = term {
        subs.insert(*id);
    }

    let mut subscriptions = BTreeMap::new();
    for s in subs {
        let mut f = SubscriptionFacts {
            status: storage.subscription_status(s).await?,
            rows: storage.rows_for_subscription(s).await?,
            digis: storage.digis_rows(Some(s), None).await?,
            ..Default::default()
        };
        match term {
            SearchTerm::Subscription(_) => {
                f.add_members(storage.members_of_subscription(s, None).await?);
                pairs.extend(f.members.iter().map(|m| (m.subscription(), m.person())));
                pairs.extend(f.defects.iter().filter_map(defect_pair));
                pairs.extend(f.rows.iter().map(|r| (r.subscription_id, r.person_id)));
                pairs.extend(f.digis.iter().map(|d| (d.subscription_id, d.person_id)));
            }
            SearchTerm::Card(_) | SearchTerm::Member(_) => {
                // Only the card holders' (the persons') part of the subscription matters.
                let persons: Vec<PersonId> = pairs
                    .iter()
                    .filter(|(ps, _)| *ps == s)
                    .map(|(_, p)| *p)
                    .collect();
                for p in &persons {
                    f.add_members(storage.members_of_subscription(s, Some(*p)).await?);
                }
                f.rows.retain(|r| persons.contains(&r.person_id));
                f.digis.retain(|d| persons.contains(&d.person_id));
            }
        }
        for r in &f.rows {
            f.attempts.insert(r.id, storage.attempts(r.id).await?);
        }
        let ids: Vec<OutboxId> = f.rows.iter().map(|r| r.id).collect();
        f.events = storage.events(&ids).await?;
        subscriptions.insert(s, f);
    }
    Ok(Facts {
        pairs,
        subscriptions,
        persons_with_card: seed.persons_with_card,
        card_suggestions: seed.card_suggestions,
        found: seed.found,
        delivery: seed.delivery,
    })
}
