//! Raising signals from profiles and keeping them current.

use std::collections::{BTreeSet, HashMap, HashSet};

use petgraph::unionfind::UnionFind;

use crate::facts::{CaseType, Concern, Facts, InvolvementFacts, RecordFacts, Role};
use crate::Profiles;

/// What kind of pattern a signal reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SignalKind {
    /// Victim in cases apart in time, or a re-referral.
    Revictimisation,
    /// Victim in one record, displays HSB (or is a perpetrator under 18) in
    /// another.
    VictimHsbOverlap,
    /// Victim in one record, perpetrator or suspect in another.
    VictimAsOffender,
    /// One perpetrator profile, two or more victim profiles.
    SharedPerpetrator,
    /// A connected victim–perpetrator component.
    Network,
    /// One incident recorded as CSA by one agency and CSE by another.
    ClassificationConflict,
}

impl SignalKind {
    /// Every kind, in listing order.
    pub const ALL: [SignalKind; 6] = [
        SignalKind::Revictimisation,
        SignalKind::VictimHsbOverlap,
        SignalKind::VictimAsOffender,
        SignalKind::SharedPerpetrator,
        SignalKind::Network,
        SignalKind::ClassificationConflict,
    ];

    /// The name used in the API, the CLI and evaluations.
    pub fn name(self) -> &'static str {
        match self {
            SignalKind::Revictimisation => "revictimisation",
            SignalKind::VictimHsbOverlap => "victim-hsb-overlap",
            SignalKind::VictimAsOffender => "victim-as-offender",
            SignalKind::SharedPerpetrator => "shared-perpetrator",
            SignalKind::Network => "network",
            SignalKind::ClassificationConflict => "classification-conflict",
        }
    }

    /// Reads a name.
    pub fn parse(text: &str) -> Option<SignalKind> {
        SignalKind::ALL.into_iter().find(|kind| kind.name() == text)
    }
}

/// Thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignalConfig {
    /// A child's incidents starting at least this many days apart are
    /// distinct cases (re-victimisation).
    pub revictimisation_days: i32,
    /// Records within this many days of an episode's first record are taken
    /// to be one incident (a perpetrator's incidents, derived answers).
    pub same_incident_days: i32,
    /// Two agencies' records of a child as a victim within this many days
    /// of each other may be one incident (re-victimisation, classification
    /// conflicts): each agency dates a case by its own moment (a crime
    /// recorded, a referral received, a service opened, an order started),
    /// and these trail the abuse, and each other, by weeks or months. One
    /// agency's two cases are two incidents however close.
    pub cross_agency_days: i32,
    /// Smallest victim–perpetrator component reported as a network, in
    /// profiles.
    pub network_min_size: usize,
}

impl Default for SignalConfig {
    fn default() -> SignalConfig {
        SignalConfig { revictimisation_days: 90, same_incident_days: 30, cross_agency_days: 180, network_min_size: 4 }
    }
}

/// One raised signal and what raised it.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    /// The kind.
    pub kind: SignalKind,
    /// A sub-kind or summary, e.g. `CSA→CSE` or `3 victims`.
    pub detail: String,
    /// The profile it is about (its key); for a network, the smallest key
    /// in it.
    pub subject: u64,
    /// The involvements that raised it, newest record first.
    pub evidence: Vec<u64>,
    /// Other profiles involved (a shared perpetrator's victims, a network's
    /// members), by key.
    pub related: Vec<u64>,
    /// The earliest evidence date (days since 1970-01-01).
    pub first_day: i32,
    /// The latest.
    pub last_day: i32,
    /// The records that raised it and record a concern status all mark it
    /// resolved.
    pub resolved: bool,
    /// How many distinct (record, role) pairs of the evidence each agency
    /// holds, by agency number: listings count what they do not show
    /// without walking the evidence.
    pub per_agency: Vec<(u16, u32)>,
    /// Every agency with a record of the subject profile (of any member
    /// of a network), by number: who may see the signal.
    pub seen_by: Vec<u16>,
    /// The weakest link among the evidence: the lowest strength with which
    /// the view's records tie an evidence involvement into its profile
    /// ([`Profiles::link`]); `None` when every record stands alone.
    pub weakest_link: Option<f32>,
}

/// The weakest link among `ids` as `profiles` sees them (see
/// [`Signal::weakest_link`]).
fn weakest_link<'a>(facts: &Facts, profiles: &impl Profiles, ids: impl IntoIterator<Item = &'a u64>) -> Option<f32> {
    ids.into_iter().filter(|&&id| profiles.includes(id)).filter_map(|&id| profiles.link(facts, id)).reduce(f32::min)
}

/// Orders evidence newest record first (then by id), so that a listing
/// that shows only some records shows the latest.
fn newest_first(facts: &Facts, ids: &mut [u64]) {
    ids.sort_by_cached_key(|&id| {
        let day = facts.with_record(id).map_or(i32::MIN, |(_, record)| record.day);
        (std::cmp::Reverse(day), id)
    });
}

/// Distinct (record, role) pairs per agency among `ids`.
fn per_agency(facts: &Facts, ids: &[u64]) -> Vec<(u16, u32)> {
    let mut seen = HashSet::new();
    let mut counts: Vec<(u16, u32)> = Vec::new();
    for &id in ids {
        let Some(involvement) = facts.involvement(id) else {
            continue;
        };
        let Some(record) = facts.record(involvement.record) else {
            continue;
        };
        if !seen.insert((involvement.record, involvement.role)) {
            continue;
        }
        match counts.iter_mut().find(|(a, _)| *a == record.agency) {
            Some((_, n)) => *n += 1,
            None => counts.push((record.agency, 1)),
        }
    }
    counts.sort_unstable();
    counts
}

#[derive(Clone, Copy)]
struct Item<'a> {
    id: u64,
    involvement: &'a InvolvementFacts,
    record: &'a RecordFacts,
}

impl Signal {
    fn from_items(kind: SignalKind, detail: String, subject: u64, items: &[Item<'_>], related: Vec<u64>, facts: &Facts) -> Signal {
        let mut evidence: Vec<u64> = items.iter().map(|item| item.id).collect();
        evidence.sort_unstable();
        evidence.dedup();
        newest_first(facts, &mut evidence);
        Signal {
            kind,
            detail,
            subject,
            related,
            first_day: items.iter().map(|i| i.record.day).min().unwrap_or(0),
            last_day: items.iter().map(|i| i.record.day).max().unwrap_or(0),
            resolved: resolved(items.iter().map(|i| i.record.concern)),
            per_agency: per_agency(facts, &evidence),
            // Filled in through the view (see `signals_of`).
            weakest_link: None,
            evidence,
            seen_by: Vec::new(),
        }
    }
}

/// A signal is resolved when the records that raised it and record a
/// concern status all say resolved (records that do not record it, such as
/// most police records, abstain); one current or not-known concern keeps it
/// current.
fn resolved(concerns: impl Iterator<Item = Concern>) -> bool {
    let mut any = false;
    for concern in concerns {
        match concern {
            Concern::Resolved => any = true,
            Concern::Missing => {}
            Concern::Current | Concern::NotKnown => return false,
        }
    }
    any
}

/// Days in a year, for age arithmetic.
pub(crate) const YEAR_DAYS: f64 = 365.25;

/// The person's age at `day`, from any age recorded in the profile.
fn age_at(items: &[Item<'_>], day: i32) -> Option<f64> {
    items.iter().find_map(|item| {
        let age = f64::from(item.involvement.age?);
        Some(age + f64::from(day - item.record.day) / YEAR_DAYS)
    })
}

/// Groups date-sorted items into episodes: records within `window` days of
/// an episode's first record are one incident.
fn episodes<'a, 'b>(sorted: &'b [Item<'a>], window: i32) -> Vec<&'b [Item<'a>]> {
    let mut out = Vec::new();
    let mut start = 0;
    for index in 1..=sorted.len() {
        if index == sorted.len() || sorted[index].record.day - sorted[start].record.day > window {
            out.push(&sorted[start..index]);
            start = index;
        }
    }
    out
}

/// Days within which two agencies' records of one perpetrator are taken to
/// be one incident when their victims' records did not link.
const SAME_INCIDENT_STRICT_DAYS: i32 = 10;

/// Link probability below which a record is not enough, on its own, to say
/// one person held two roles (victim and perpetrator): such a link may
/// join a child to a relative with the same surname and address.
pub const STRONG_LINK: f32 = 0.99;

/// The strength of a join an agency's own person ref made (two of its
/// records under one ref, linked whatever the identity says): above every
/// probability, so it counts as very high wherever a strength is compared,
/// and a band can say what it rests on.
pub const OWN_ID_LINK: f32 = 2.0;

/// Years a recorded age may stray from the profile's and still be the same
/// person (ages are recorded in whole years, at different dates).
pub(crate) const AGE_TOLERANCE_YEARS: f64 = 3.0;

/// The items whose recorded ages agree with the profile's: an item whose
/// age implies a birth year far from the median of the others is most
/// likely a linkage error (a parent merged with a child), and raising a
/// signal from it would label the wrong person.
fn age_consistent<'a>(items: &[Item<'a>]) -> Vec<Item<'a>> {
    let birth = |item: &Item<'_>| item.involvement.age.map(|age| f64::from(item.record.day) / YEAR_DAYS - f64::from(age));
    let mut births: Vec<f64> = items.iter().filter_map(birth).collect();
    if births.len() < 2 {
        return items.to_vec();
    }
    births.sort_by(f64::total_cmp);
    let median = births[births.len() / 2];
    items.iter().copied().filter(|item| birth(item).is_none_or(|b| (b - median).abs() <= AGE_TOLERANCE_YEARS)).collect()
}

/// The signals of one profile, from its members' facts. `key_of` gives the
/// profile key of any involvement (for a perpetrator's victims).
fn profile_signals(config: &SignalConfig, key: u64, items: &[Item<'_>], key_of: &dyn Fn(u64) -> u64, facts: &Facts) -> Vec<Signal> {
    let mut out = Vec::new();
    let consistent = age_consistent(items);
    // Recorded ages that disagree mean the profile probably holds two
    // people: signals that rest on one person holding two roles are not
    // raised from it (its link evidence is for review instead).
    let mixed = consistent.len() < items.len();
    let items = &consistent[..];
    let mut victims: Vec<Item<'_>> = items.iter().copied().filter(|i| i.involvement.role.is_victim()).collect();
    victims.sort_by_key(|i| (i.record.day, i.id));

    // The other people a record names: its identified harmers and the
    // other children harmed with this one.
    let others_named = |item: &Item<'_>| -> Vec<(Named, u64)> {
        item.record
            .involvements
            .iter()
            .filter_map(|&other| {
                let involvement = facts.involvement(other).filter(|v| v.identified)?;
                let kind = if involvement.role.is_harmer() {
                    Named::Harmer
                } else if involvement.role.is_victim() {
                    Named::Victim
                } else {
                    return None;
                };
                Some((kind, key_of(other))).filter(|(_, person)| *person != key)
            })
            .collect()
    };
    let incidents = victim_incidents(config, &victims, &others_named);

    // Re-victimisation: cases apart in time, or a recorded re-referral. The
    // detail names the case types of the first and the latest incident, each
    // as its first record has it (a later record of the first incident, at
    // another agency, is not a second case).
    let starts = || incidents.iter().filter_map(|incident| incident.first());
    if let (Some(first), Some(last)) = (starts().next(), starts().next_back()) {
        let apart = distinct_cases_apart(config, &incidents);
        if apart || victims.iter().any(|v| v.record.re_referral) {
            let detail = if apart { format!("{}→{}", first.record.case_type.name(), last.record.case_type.name()) } else { "re-referral".to_owned() };
            out.push(Signal::from_items(SignalKind::Revictimisation, detail, key, &victims, Vec::new(), facts));
        }
    }

    victim_harm_signals(key, items, &victims, mixed, facts, &mut out);
    let mut harmers: Vec<Item<'_>> = items.iter().copied().filter(|i| i.involvement.role.is_harmer() && i.involvement.identified).collect();
    harmers.sort_by_key(|i| (i.record.day, i.id));
    classification_conflicts(key, &incidents, &harmers, key_of, facts, &mut out);
    shared_perpetrator(config, key, &harmers, key_of, facts, &mut out);
    out
}

/// Which of `items` hang together through very high links alone (see
/// [`Facts::strong_links`]): a component number per item's id.
fn strong_components(items: &[Item<'_>], facts: &Facts) -> HashMap<u64, usize> {
    let index: HashMap<u64, usize> = items.iter().enumerate().map(|(i, item)| (item.id, i)).collect();
    let mut sets = UnionFind::<usize>::new(items.len());
    for (i, item) in items.iter().enumerate() {
        for other in facts.strong_links(item.id) {
            if let Some(&j) = index.get(&other) {
                sets.union(i, j);
            }
        }
    }
    items.iter().enumerate().map(|(i, item)| (item.id, sets.find_mut(i))).collect()
}

/// Victim in one record, harm in another (victim and HSB overlap; victim
/// recorded as offender), never from a profile whose ages disagree.
fn victim_harm_signals(key: u64, items: &[Item<'_>], victims: &[Item<'_>], mixed: bool, facts: &Facts, out: &mut Vec<Signal>) {
    // A perpetrator's record must be strongly linked to a victim's: a weak
    // link may join a child to an adult relative (same surname and
    // address, no date of birth).
    // Both strongly linked is not enough when a weaker step joins them: the
    // two must hang together through very high links alone.
    if !victims.is_empty() && !mixed {
        let strong = |i: &Item<'_>| i.involvement.link >= STRONG_LINK;
        let paired = |h: &Item<'_>| victims.iter().any(|v| v.involvement.record != h.involvement.record);
        let mut offender: Vec<Item<'_>> = items.iter().copied().filter(|h| h.involvement.role == Role::Perpetrator && strong(h)).collect();
        if !offender.is_empty() {
            let component = strong_components(items, facts);
            let together = |v: &Item<'_>, h: &Item<'_>| component.get(&v.id).is_some_and(|c| component.get(&h.id) == Some(c));
            offender.retain(|h| victims.iter().any(|v| v.involvement.record != h.involvement.record && strong(v) && together(v, h)));
        }
        let hsb: Vec<Item<'_>> = items
            .iter()
            .copied()
            .filter(|h| h.involvement.role == Role::Hsb && paired(h))
            .chain(offender.iter().copied().filter(|h| age_at(items, h.record.day).is_some_and(|age| age < 18.0)))
            .collect();
        if !hsb.is_empty() {
            let detail = if hsb.iter().any(|h| h.involvement.role == Role::Hsb) { "victim and displays HSB" } else { "victim and perpetrator under 18" };
            let evidence: Vec<Item<'_>> = victims.iter().chain(&hsb).copied().collect();
            out.push(Signal::from_items(SignalKind::VictimHsbOverlap, detail.to_owned(), key, &evidence, Vec::new(), facts));
        }
        if !offender.is_empty() {
            let types: BTreeSet<&str> = victims.iter().map(|v| v.record.case_type.name()).collect();
            let detail = format!("{} victim recorded as perpetrator", types.into_iter().collect::<Vec<_>>().join("/"));
            let evidence: Vec<Item<'_>> = victims.iter().chain(&offender).copied().collect();
            out.push(Signal::from_items(SignalKind::VictimAsOffender, detail, key, &evidence, Vec::new(), facts));
        }
    }
}

/// One incident classified CSA at one agency and CSE at another.
fn classification_conflicts(
    key: u64,
    through_victim: &[Vec<Item<'_>>],
    harmers: &[Item<'_>],
    key_of: &dyn Fn(u64) -> u64,
    facts: &Facts,
    out: &mut Vec<Signal>,
) {
    // One incident, CSA at one agency and CSE at another: seen through the
    // victim's profile, or through the perpetrator's when the victim's
    // records did not link (otherwise the victim's profile raises it).
    let victim_keys = |episode: &[Item<'_>]| -> BTreeSet<u64> {
        episode
            .iter()
            .flat_map(|i| i.record.involvements.iter())
            .filter(|&&other| facts.involvement(other).is_some_and(|v| v.role.is_victim() && v.identified))
            .map(|&other| key_of(other))
            .collect()
    };
    // Through the perpetrator, only what looks like one victim whose
    // records did not link: two agencies' records within days of each
    // other, each naming one victim, with ages that do not disagree.
    let victim_age = |item: &Item<'_>| -> Option<u8> {
        item.record.involvements.iter().filter_map(|&other| facts.involvement(other)).find(|v| v.role.is_victim()).and_then(|v| v.age)
    };
    let through_harmer = episodes(harmers, SAME_INCIDENT_STRICT_DAYS).into_iter().filter(|episode| {
        let ages: Vec<Option<u8>> = episode.iter().map(victim_age).collect();
        episode.len() == 2
            && episode[0].record.agency != episode[1].record.agency
            && victim_keys(episode).len() == 2
            && episode.iter().all(|i| i.record.involvements.iter().filter(|&&o| facts.involvement(o).is_some_and(|v| v.role.is_victim())).count() == 1)
            && !matches!((ages[0], ages[1]), (Some(a), Some(b)) if a.abs_diff(b) > 1)
    });
    for episode in through_victim.iter().map(Vec::as_slice).chain(through_harmer) {
        let agencies_as =
            |case_type: CaseType| -> HashSet<u16> { episode.iter().filter(|i| i.record.case_type == case_type).map(|i| i.record.agency).collect() };
        let (csa, cse) = (agencies_as(CaseType::Csa), agencies_as(CaseType::Cse));
        let disagree = csa.iter().any(|a| cse.iter().any(|b| a != b));
        if disagree {
            let evidence: Vec<Item<'_>> = episode.iter().copied().filter(|i| i.record.case_type != CaseType::Hsb).collect();
            out.push(Signal::from_items(
                SignalKind::ClassificationConflict,
                format!("CSA at {} agency(ies), CSE at {}", csa.len(), cse.len()),
                key,
                &evidence,
                Vec::new(),
                facts,
            ));
        }
    }
}

/// One perpetrator, several victims.
fn shared_perpetrator(config: &SignalConfig, key: u64, harmers: &[Item<'_>], key_of: &dyn Fn(u64) -> u64, facts: &Facts, out: &mut Vec<Signal>) {
    // One perpetrator, several victims: two victim profiles named in
    // different incidents, or in one record. Two agencies' records of one
    // incident naming different victim profiles are not enough: that is
    // more often one victim whose records did not link.
    // In date order, as `harmers` is.
    let mut named: Vec<(Item<'_>, Vec<(u64, Item<'_>)>)> = Vec::new();
    for harmer in harmers {
        let mut victims = Vec::new();
        for &other in &harmer.record.involvements {
            let Some(involvement) = facts.involvement(other) else {
                continue;
            };
            if involvement.role.is_victim() && involvement.identified {
                let victim_key = key_of(other);
                if victim_key != key {
                    victims.push((victim_key, Item { id: other, involvement, record: harmer.record }));
                }
            }
        }
        if !victims.is_empty() {
            named.push((*harmer, victims));
        }
    }
    let in_one_record = named.iter().any(|(_, v)| v.iter().any(|(k, _)| *k != v[0].0));
    // Victims in different incidents: with two or more incidents, any two
    // distinct victim profiles among them can be paired across incidents.
    // Linear in the records, so a perpetrator named in thousands of records
    // costs little each time their profile changes.
    let harmer_items: Vec<Item<'_>> = named.iter().map(|(h, _)| *h).collect();
    let incidents = episodes(&harmer_items, config.same_incident_days).len();
    let victim_profiles: BTreeSet<u64> = named.iter().flat_map(|(_, v)| v.iter().map(|(k, _)| *k)).collect();
    let across_incidents = incidents >= 2 && victim_profiles.len() >= 2;
    if in_one_record || across_incidents {
        let evidence: Vec<Item<'_>> = named.iter().flat_map(|(h, v)| std::iter::once(*h).chain(v.iter().map(|(_, i)| *i))).collect();
        out.push(Signal::from_items(
            SignalKind::SharedPerpetrator,
            format!("{} victims in {} records", victim_profiles.len(), named.len()),
            key,
            &evidence,
            victim_profiles.into_iter().collect(),
            facts,
        ));
    }
}

/// Involvement ids noted between two settles, each once: a bit per id
/// (ids are dense) says whether it is listed already, so noting is a bit
/// test whatever was noted before (a batch that re-links a large profile
/// notes tens of thousands under the state lock, and a book nobody reads
/// goes on being noted into).
#[derive(Debug, Default)]
struct Noted {
    ids: Vec<u64>,
    listed: Vec<u64>,
}

impl Noted {
    fn extend(&mut self, ids: impl IntoIterator<Item = u64>) {
        for id in ids {
            let Ok(index) = usize::try_from(id) else { continue };
            let (word, bit) = (index / 64, 1u64 << (index % 64));
            if word >= self.listed.len() {
                self.listed.resize(word + 1, 0);
            }
            if self.listed[word] & bit == 0 {
                self.listed[word] |= bit;
                self.ids.push(id);
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The noted ids, each once, in the order first noted; none are left
    /// noted.
    fn take(&mut self) -> Vec<u64> {
        for &id in &self.ids {
            if let Some(word) = usize::try_from(id / 64).ok().and_then(|word| self.listed.get_mut(word)) {
                *word = 0;
            }
        }
        std::mem::take(&mut self.ids)
    }
}

/// The current signals, kept up to date profile by profile.
#[derive(Debug, Default)]
pub struct SignalBook {
    config: SignalConfig,
    by_profile: HashMap<u64, Vec<Signal>>,
    /// Involvements noted as changed since the last settle.
    pending: Noted,
    /// Of those, the ones that moved between profiles (a merge or a split).
    moved: Noted,
    generation: u64,
    networks: Option<(u64, Vec<Signal>)>,
}

impl SignalBook {
    /// An empty book.
    pub fn new(config: SignalConfig) -> SignalBook {
        SignalBook { config, ..SignalBook::default() }
    }

    /// Notes involvements whose profiles may have changed; their signals
    /// are recomputed by the next [`SignalBook::settle`]. Noting is cheap,
    /// so a busy upload does not pay for recomputing a prolific
    /// perpetrator's profile once per batch: many batches' changes settle
    /// together.
    pub fn note_changed(&mut self, changed: impl IntoIterator<Item = u64>) {
        self.generation += 1;
        self.pending.extend(changed);
    }

    /// Notes involvements that moved between profiles: the member whose
    /// parent changed in a merge, every member of a profile taken apart.
    /// Besides what [`SignalBook::note_changed`] recomputes, the next
    /// settle recomputes the children named in every perpetrator's record
    /// of their profiles: a child's incidents are told apart by who harmed
    /// them, so two perpetrators' profiles merging (or one splitting)
    /// changes a child's signals although none of the child's records
    /// changed. A new record joining a profile moves nothing that matters
    /// here (its own records' children are recomputed as changed), so it
    /// need not be noted.
    pub fn note_moved(&mut self, moved: impl IntoIterator<Item = u64>) {
        self.generation += 1;
        for id in moved {
            self.pending.extend([id]);
            self.moved.extend([id]);
        }
    }

    /// Notes `changed` and settles at once.
    pub fn refresh(&mut self, facts: &Facts, profiles: &impl Profiles, changed: impl IntoIterator<Item = u64>) {
        self.note_changed(changed);
        self.settle(facts, profiles);
    }

    /// Recomputes what the noted involvements can affect: their profiles
    /// (current, or removed if the involvement is gone), the profiles of
    /// the people who harmed in their records (whose victim counts may
    /// have changed), the profiles of the victims in their records, and, for
    /// involvements that moved ([`SignalBook::note_moved`]), the profiles of
    /// the children named in every perpetrator's record of their profiles.
    pub fn settle(&mut self, facts: &Facts, profiles: &impl Profiles) {
        if self.pending.is_empty() {
            return;
        }
        let changed = self.pending.take();
        let moved = self.moved.take();
        let mut keys = HashSet::new();
        // A profile the view sees in parts is recomputed part by part; a
        // record the view leaves out still changes which parts there are.
        let moved_profiles: HashSet<u64> =
            moved.into_iter().filter(|&id| facts.with_record(id).is_some() || facts.outcome(id).is_some()).flat_map(|id| profiles.keys_around(id)).collect();
        for id in changed {
            let Some((_, record)) = facts.with_record(id) else {
                if facts.outcome(id).is_some() {
                    // An outcome event's child: not a case, but its
                    // profile may have changed (merged, or a new key).
                    keys.extend(profiles.keys_around(id));
                } else {
                    // Gone: so are the signals it keyed.
                    self.by_profile.remove(&id);
                }
                continue;
            };
            keys.extend(profiles.keys_around(id));
            let harmed = facts.involvement(id).is_some_and(|i| i.role.is_harmer() && i.identified);
            for &other in &record.involvements {
                if profiles.includes(other) && facts.involvement(other).is_some_and(|i| (i.role.is_harmer() && i.identified) || (harmed && i.role.is_victim()))
                {
                    keys.insert(profiles.key(other));
                }
            }
        }
        for profile in moved_profiles {
            for member in profiles.members(profile) {
                let Some((involvement, record)) = facts.with_record(member) else { continue };
                if !(involvement.role.is_harmer() && involvement.identified) {
                    continue;
                }
                for &other in &record.involvements {
                    if facts.involvement(other).is_some_and(|i| i.role.is_victim()) {
                        keys.insert(profiles.key(other));
                    }
                }
            }
        }
        for key in keys {
            let (members, signals) = signals_of(&self.config, facts, profiles, key);
            for &member in &members {
                if member != key {
                    self.by_profile.remove(&member);
                }
            }
            if signals.is_empty() {
                self.by_profile.remove(&key);
            } else {
                self.by_profile.insert(key, signals);
            }
        }
    }

    /// The signals of one profile, as of the last settle.
    pub fn profile(&self, key: u64) -> &[Signal] {
        self.by_profile.get(&key).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Every profile-level signal (networks are separate).
    pub fn iter(&self) -> impl Iterator<Item = &Signal> {
        self.by_profile.values().flatten()
    }

    /// Profile-level signals held.
    pub fn len(&self) -> usize {
        self.by_profile.values().map(Vec::len).sum()
    }

    /// Whether changes are noted that the next settle would work through.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Whether no profile has a signal.
    pub fn is_empty(&self) -> bool {
        self.by_profile.is_empty()
    }

    /// Recomputes the networks (connected victim–perpetrator components of
    /// at least the configured size) if anything changed since they were
    /// last computed.
    pub fn update_networks(&mut self, facts: &Facts, profiles: &impl Profiles) {
        let fresh = matches!(&self.networks, Some((generation, _)) if *generation == self.generation);
        if !fresh {
            let networks = find_networks(&self.config, facts, profiles);
            self.networks = Some((self.generation, networks));
        }
    }

    /// The networks as last computed by [`SignalBook::update_networks`].
    pub fn networks(&self) -> &[Signal] {
        self.networks.as_ref().map(|(_, n)| n.as_slice()).unwrap_or(&[])
    }
}

/// The signals of the profile holding `key` as they are now, worked out on
/// their own (no book is read or changed): for a query about one profile,
/// which should not wait for every change noted since a book last settled.
pub fn signals_now(config: &SignalConfig, facts: &Facts, profiles: &impl Profiles, key: u64) -> Vec<Signal> {
    signals_of(config, facts, profiles, profiles.key(key)).1
}

/// One profile's members and signals, worked out from the facts.
fn signals_of(config: &SignalConfig, facts: &Facts, profiles: &impl Profiles, key: u64) -> (Vec<u64>, Vec<Signal>) {
    let key_of = |id: u64| profiles.key(id);
    let members = profiles.members(key);
    let items: Vec<Item<'_>> = members
        .iter()
        .filter_map(|&id| {
            let (involvement, record) = facts.with_record(id)?;
            Some(Item { id, involvement, record })
        })
        .collect();
    let mut signals = profile_signals(config, key, &items, &key_of, facts);
    // What a profile's signal rests on is how its own records hang
    // together (another profile's records in the evidence, a perpetrator's
    // victims, are counted as people, not linked to it); it is worked out
    // again whenever the profile changes.
    for signal in &mut signals {
        signal.weakest_link = weakest_link(facts, profiles, signal.evidence.iter().filter(|&&id| key_of(id) == key));
    }
    let mut seen_by: Vec<u16> = items.iter().map(|i| i.record.agency).collect();
    seen_by.sort_unstable();
    seen_by.dedup();
    for signal in &mut signals {
        signal.seen_by.clone_from(&seen_by);
    }
    (members, signals)
}

fn find_networks(config: &SignalConfig, facts: &Facts, profiles: &impl Profiles) -> Vec<Signal> {
    const VICTIM: u8 = 1;
    const HARMER: u8 = 2;
    let bound = facts.id_bound();
    // Profile keys are involvement ids, so the sets are a dense array; a key
    // with no role is in no victim–perpetrator link.
    let mut components = UnionFind::<u32>::new(bound);
    let mut roles = vec![0u8; bound];
    let dense = |key: u64| u32::try_from(key).ok().filter(|&k| (k as usize) < bound);
    // Each linking record: the people it names, by key.
    let mut linking: Vec<(&RecordFacts, u32)> = Vec::new();
    let mut people: Vec<(u32, u8)> = Vec::new();
    for record in facts.records() {
        people.clear();
        for &id in &record.involvements {
            if !profiles.includes(id) {
                continue;
            }
            let Some(involvement) = facts.involvement(id) else { continue };
            let Some(key) = dense(profiles.key(id)).filter(|_| involvement.identified) else { continue };
            people.push((key, if involvement.role.is_victim() { VICTIM } else { HARMER }));
        }
        let Some(&(victim, _)) = people.iter().find(|(_, r)| *r == VICTIM) else { continue };
        if !people.iter().any(|(_, r)| *r == HARMER) {
            continue;
        }
        for &(key, role) in &people {
            components.union(victim, key);
            roles[key as usize] |= role;
        }
        linking.push((record, victim));
    }
    // Members of each component, by root.
    let mut members: HashMap<u32, Vec<u64>> = HashMap::new();
    for key in 0..bound as u32 {
        if roles[key as usize] != 0 {
            let root = components.find_mut(key);
            members.entry(root).or_default().push(u64::from(key));
        }
    }
    members.retain(|_, m| m.len() >= config.network_min_size);
    // Their records, and every agency that knows a member.
    let mut records_of: HashMap<u32, Vec<&RecordFacts>> = HashMap::new();
    for &(record, victim) in &linking {
        let root = components.find_mut(victim);
        if members.contains_key(&root) {
            records_of.entry(root).or_default().push(record);
        }
    }
    let mut seen_by: HashMap<u32, BTreeSet<u16>> = HashMap::new();
    for record in facts.records() {
        for &id in &record.involvements {
            let Some(key) = dense(profiles.key(id)) else { continue };
            if roles[key as usize] == 0 || !profiles.includes(id) || !facts.involvement(id).is_some_and(|i| i.identified) {
                continue;
            }
            let root = components.find_mut(key);
            if members.contains_key(&root) {
                seen_by.entry(root).or_default().insert(record.agency);
            }
        }
    }
    let mut out = Vec::new();
    for (root, mut members) in members {
        members.sort_unstable();
        let records = records_of.remove(&root).unwrap_or_default();
        let mut evidence: Vec<u64> = records.iter().flat_map(|r| r.involvements.iter().copied()).collect();
        evidence.sort_unstable();
        newest_first(facts, &mut evidence);
        let count = |role: u8| members.iter().filter(|&&k| roles[k as usize] & role != 0).count();
        out.push(Signal {
            kind: SignalKind::Network,
            detail: format!("{} people: {} harmed, {} who harmed", members.len(), count(VICTIM), count(HARMER)),
            subject: members[0],
            first_day: records.iter().map(|r| r.day).min().unwrap_or(0),
            last_day: records.iter().map(|r| r.day).max().unwrap_or(0),
            resolved: resolved(records.iter().map(|r| r.concern)),
            per_agency: per_agency(facts, &evidence),
            weakest_link: weakest_link(facts, profiles, &evidence),
            evidence,
            seen_by: seen_by.remove(&root).map(|set| set.into_iter().collect()).unwrap_or_default(),
            related: members,
        });
    }
    out.sort_by_key(|signal| signal.subject);
    out
}

mod incidents;
#[cfg(test)]
mod tests;

use incidents::{distinct_cases_apart, victim_incidents, Named};
