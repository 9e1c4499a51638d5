//! Panel queries: linked profiles, signals, networks, reports, completeness
//! and interconnectedness, for one partnership at a time.
//!
//! A profile is visible to a partnership when one of its records comes from
//! one of the partnership's agencies. Records from other agencies are only
//! counted, by agency type; identities and pseudonyms never leave the node,
//! and link confidence is given as a band, never a score.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::OnceLock;

use braid_linkage::{Decision, UnionFind};
use braid_proto::v1;
use braid_signals::network::neighbourhood;
use braid_signals::report::{publish, resolve, round_text, Answer, Table, LEGEND, ROUNDED_LEGEND, ROUNDING_BASE};
use braid_signals::{CaseType, Concern, Facts, OutcomeKind, Profiles, RecordFacts, Role, Signal, SignalBook, SignalConfig, SignalKind};
use braid_template::{Completeness, Date, FieldKind, Section, Template, Value};
use prost::Message;

use crate::engine::{on_own_person_ref, parse_profile_id, profile_id, Engine, EngineError, State};
use crate::validate::to_value;

/// The furthest a signals listing may page.
const MAX_SIGNALS_OFFSET: usize = 1_000_000;

/// What the signals need of a record, worked out before the state lock.
#[derive(Debug, Clone)]
pub(crate) struct PreparedFacts {
    case_type: CaseType,
    day: i32,
    re_referral: bool,
    concern: Concern,
    institution: bool,
    /// Whether the record is an outcome event (never a case, even of a
    /// kind this version does not know).
    pub(crate) is_outcome: bool,
    /// For an outcome event of a known kind: what happened (on `day`).
    pub(crate) outcome: Option<OutcomeKind>,
    /// (role, carries identity, recorded age) per involvement.
    pub(crate) involvements: Vec<(Role, bool, Option<u8>)>,
}

impl PreparedFacts {
    /// The record's concern status, in words.
    pub(crate) fn concern_name(&self) -> &'static str {
        self.concern.name()
    }

    /// The record's day (days since 1970-01-01; 0 when undated).
    pub(crate) fn day(&self) -> i32 {
        self.day
    }

    pub(crate) fn into_record(self, agency: u16, record_ref: String, involvements: Vec<u64>) -> RecordFacts {
        RecordFacts {
            agency,
            record_ref,
            case_type: self.case_type,
            day: self.day,
            re_referral: self.re_referral,
            concern: self.concern,
            institution: self.institution,
            involvements,
        }
    }
}

/// Template codes the signals read.
struct Codes {
    re_referral: Option<u32>,
    current: Option<u32>,
    resolved: Option<u32>,
    /// Locations (item C8) that are institutions.
    institutions: Vec<u32>,
}

fn codes() -> &'static Codes {
    static CODES: OnceLock<Codes> = OnceLock::new();
    CODES.get_or_init(|| {
        let template = Template::standard();
        let code = |field: &str, label: &str| template.field(field).ok().and_then(|f| f.category_by_label(label)).map(|c| c.code);
        Codes {
            re_referral: code("services.referral_type", "Re-referral"),
            current: code("case.concern_status", "Current"),
            resolved: code("case.concern_status", "Resolved"),
            institutions: ["In a residential home", "In school/college"].iter().filter_map(|label| code("context.locations", label)).collect(),
        }
    })
}

pub(crate) fn day_of(date: Option<&v1::Date>) -> Option<i32> {
    let date = date?;
    let date = Date::new(date.year, u32::try_from(date.month).ok()?, u32::try_from(date.day).ok()?)?;
    i32::try_from(date.days_since_epoch()).ok()
}

/// A request's `since` and `until` as days, each checked to be a real date.
fn window_days(since: Option<&v1::Date>, until: Option<&v1::Date>) -> Result<(Option<i32>, Option<i32>), EngineError> {
    let day = |date: Option<&v1::Date>, what: &str| {
        date.map(|d| day_of(Some(d)).ok_or_else(|| EngineError::InvalidRequest(format!("{what} is not a valid date")))).transpose()
    };
    Ok((day(since, "since")?, day(until, "until")?))
}

/// Rounds every published count in `cells` (see [`round_text`]).
fn round_all(cells: &mut [String]) {
    for cell in cells {
        *cell = round_text(cell);
    }
}

/// A legend with what rounding means added.
fn rounded_legend(legend: &str) -> String {
    format!("{legend}; {ROUNDED_LEGEND}")
}

/// Whether a stored record is an outcome event, which is never counted as
/// a case.
pub(crate) fn is_outcome(record: &v1::CaseRecord) -> bool {
    record.outcome != 0
}

/// A record's date for signals and reports: when the abuse started, or
/// else when the case was referred.
fn record_day(record: &v1::CaseRecord) -> i32 {
    day_of(record.incident_start.as_ref()).or_else(|| day_of(record.referral_date.as_ref())).unwrap_or(0)
}

pub(crate) fn wire_date(day: impl Into<i64>) -> v1::Date {
    let date = Date::from_days_since_epoch(day.into());
    v1::Date { year: date.year, month: date.month as i32, day: date.day as i32 }
}

fn category(fields: &[v1::TemplateValue], id: &str) -> Option<Value> {
    fields.iter().find(|f| f.field_id == id).and_then(to_value)
}

/// Reads what the signals need from a (validated) record. `identified`
/// says whether involvement `i` carries any identity.
pub(crate) fn record_facts(record: &v1::CaseRecord, identified: impl Fn(usize) -> bool) -> PreparedFacts {
    let codes = codes();
    let single = |id: &str| match category(&record.fields, id) {
        Some(Value::Single { code, .. }) => Some(code),
        _ => None,
    };
    let concern = match category(&record.fields, "case.concern_status") {
        None => Concern::Missing,
        Some(Value::NotKnown) => Concern::NotKnown,
        Some(Value::Single { code, .. }) if Some(code) == codes.current => Concern::Current,
        Some(Value::Single { code, .. }) if Some(code) == codes.resolved => Concern::Resolved,
        Some(_) => Concern::NotKnown,
    };
    let day = record_day(record);
    let involvements = record
        .involvements
        .iter()
        .enumerate()
        .map(|(i, involvement)| {
            let role = Role::from_number(involvement.role).unwrap_or(Role::Perpetrator);
            let age = ["victim.age_at_referral", "perpetrator.age"].iter().find_map(|id| match category(&involvement.fields, id) {
                Some(Value::Integer(age)) => u8::try_from(age).ok(),
                _ => None,
            });
            (role, identified(i), age)
        })
        .collect();
    PreparedFacts {
        case_type: CaseType::from_number(record.case_type).unwrap_or(CaseType::Csa),
        day,
        re_referral: single("services.referral_type").is_some_and(|code| Some(code) == codes.re_referral),
        concern,
        institution: matches!(category(&record.fields, "context.locations"), Some(Value::Multi { codes: ticked, .. }) if ticked.iter().any(|c| codes.institutions.contains(c))),
        is_outcome: is_outcome(record),
        outcome: OutcomeKind::from_number(record.outcome),
        involvements,
    }
}

/// The linker's profiles as the signals see them.
pub(crate) struct ProfileView<'a>(pub(crate) &'a UnionFind);

impl Profiles for ProfileView<'_> {
    fn key(&self, id: u64) -> u64 {
        self.0.smallest_member(id)
    }
    fn members(&self, id: u64) -> Vec<u64> {
        self.0.members(id).collect()
    }
}

/// The profiles as one partnership's panel sees them: only the
/// involvements of records from the partnership's agencies. Signals and
/// networks computed through it rest on those records alone; records held
/// elsewhere show only as "known to … outside the partnership" counts.
pub(crate) struct ScopedView<'a> {
    profiles: &'a UnionFind,
    facts: &'a Facts,
    scope: &'a Scope,
}

impl ScopedView<'_> {
    fn holds(&self, id: u64) -> bool {
        self.facts.with_record(id).is_some_and(|(_, record)| self.scope.allows(record.agency))
    }
}

impl Profiles for ScopedView<'_> {
    fn key(&self, id: u64) -> u64 {
        self.profiles.smallest_member(id)
    }
    fn members(&self, id: u64) -> Vec<u64> {
        self.profiles.members(id).filter(|&m| self.holds(m)).collect()
    }
    fn every_member(&self, id: u64) -> Vec<u64> {
        self.profiles.members(id).collect()
    }
    fn includes(&self, id: u64) -> bool {
        self.holds(id)
    }
}

/// The signals of each partnership a panel has asked about, each computed
/// from that partnership's records only. A partnership's book is made on
/// its first query; every later change is noted in every book.
#[derive(Default)]
pub(crate) struct SignalBooks {
    books: HashMap<Vec<String>, SignalBook>,
}

impl SignalBooks {
    /// Notes involvements whose profiles may have changed, in every book.
    pub(crate) fn note_changed(&mut self, changed: &[u64]) {
        for book in self.books.values_mut() {
            book.note_changed(changed.iter().copied());
        }
    }
}

/// A partnership's agencies in a fixed order: its book's key.
fn partnership_key(partnership: &[String]) -> Vec<String> {
    let mut agencies = partnership.to_vec();
    agencies.sort();
    agencies.dedup();
    agencies
}

/// The partnership's book, made if need be, with every noted change
/// settled (and the networks brought up to date when `networks`).
fn settled_book<'a>(state: &'a mut State, partnership: &[String], networks: bool) -> &'a SignalBook {
    let agencies = partnership_key(partnership);
    let State { facts, signals, linker, .. } = state;
    let book = signals.books.entry(agencies.clone()).or_insert_with(|| {
        let mut book = SignalBook::new(SignalConfig::default());
        book.note_changed(linker.live_ids());
        book
    });
    let scope = Scope::new(facts, &agencies);
    let view = ScopedView { profiles: linker.profiles(), facts, scope: &scope };
    book.settle(facts, &view);
    if networks {
        book.update_networks(facts, &view);
    }
    book
}

/// A report's time dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Period {
    Month,
    Quarter,
    Year,
}

impl Period {
    fn parse(text: &str) -> Option<Period> {
        match text {
            "month" => Some(Period::Month),
            "quarter" => Some(Period::Quarter),
            "year" => Some(Period::Year),
            _ => None,
        }
    }

    /// A running number of the period holding `day`.
    fn index(self, day: i32) -> i64 {
        let date = Date::from_days_since_epoch(i64::from(day));
        let (year, month) = (i64::from(date.year), i64::from(date.month) - 1);
        match self {
            Period::Month => year * 12 + month,
            Period::Quarter => year * 4 + month / 3,
            Period::Year => year,
        }
    }

    /// The period numbered `index`, as people write it.
    fn label(self, index: i64) -> String {
        match self {
            Period::Month => format!("{}-{:02}", index.div_euclid(12), index.rem_euclid(12) + 1),
            Period::Quarter => format!("{} Q{}", index.div_euclid(4), index.rem_euclid(4) + 1),
            Period::Year => index.to_string(),
        }
    }
}

/// The agencies a partnership may see, by the facts' agency numbers.
struct Scope {
    allowed: Vec<bool>,
}

impl Scope {
    fn new(facts: &Facts, agencies: &[String]) -> Scope {
        let mut allowed = vec![false; facts.agencies().len()];
        for code in agencies {
            if let Some(n) = facts.find_agency(code) {
                allowed[usize::from(n)] = true;
            }
        }
        Scope { allowed }
    }

    fn allows(&self, agency: u16) -> bool {
        self.allowed.get(usize::from(agency)).copied().unwrap_or(false)
    }
}

/// The rows a whole-number item is reported in: one per value when the
/// range is short (ages of children), bands of five otherwise.
fn number_bands((low, high): (i64, i64)) -> Vec<(i64, i64, String)> {
    if high - low <= 20 {
        return (low..=high).map(|n| (n, n, n.to_string())).collect();
    }
    let mut out = Vec::new();
    let mut start = low;
    while start <= high {
        let end = (start + 4).min(high);
        out.push((start, end, format!("{start}–{end}")));
        start += 5;
    }
    out
}

/// The bands a whole-number item is reported in: its range's, then one
/// band for a wider range's extra numbers (18–24, "young adult").
fn field_bands(field: &braid_template::Field) -> Vec<(i64, i64, String)> {
    let (low, high) = field.range.unwrap_or((0, 120));
    let mut bands = number_bands((low, high));
    if let Some(wider) = &field.wider {
        if wider.range.1 > high {
            bands.push((high + 1, wider.range.1, format!("{}–{} ({})", high + 1, wider.range.1, wider.label)));
        }
    }
    bands
}

/// Whom a profile or network query is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PanelSubject {
    /// The people of one record.
    Record {
        /// Agency code (must be in the partnership).
        agency: String,
        /// Opaque record ref.
        record_ref: String,
    },
    /// A profile id.
    Profile(String),
}

/// Which people a report counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Population {
    /// Profiles with a victim record.
    Victims,
    /// Profiles with a perpetrator or HSB record.
    Harmers,
    /// Every identified profile.
    All,
}

impl Population {
    /// Reads `victims`, `harmers` or `all` (empty: victims).
    pub fn parse(text: &str) -> Option<Population> {
        match text {
            "" | "victims" => Some(Population::Victims),
            "harmers" => Some(Population::Harmers),
            "all" => Some(Population::All),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Population::Victims => "victims",
            Population::Harmers => "harmers",
            Population::All => "all",
        }
    }

    fn counts(self, role: Role) -> bool {
        match self {
            Population::Victims => role.is_victim(),
            Population::Harmers => role.is_harmer(),
            Population::All => true,
        }
    }
}

/// Every live identified involvement's profile key, the agencies (code, type) by
/// number, and which numbers the partnership may see.
type Snapshot = (HashMap<u64, u64>, Vec<(String, String)>, Vec<bool>);

/// Most records listed per signal, unless the full listing is asked for;
/// the rest are counted.
const MAX_SIGNAL_RECORDS: usize = 20;

/// Most related profiles listed per signal, likewise.
const MAX_RELATED: usize = 50;

/// Most records listed per profile (the newest); the rest are counted.
const MAX_PROFILE_RECORDS: usize = 100;

fn visible(facts: &Facts, view: &ProfileView<'_>, scope: &Scope, key: u64) -> bool {
    view.0.members(key).any(|m| facts.with_record(m).is_some_and(|(_, record)| scope.allows(record.agency)))
}

/// Records held outside the partnership, by agency type, with counts of 1
/// to 4 published only as "fewer than five".
fn outside_counts(counts: BTreeMap<String, u32>) -> Vec<v1::OutsideCount> {
    counts
        .into_iter()
        .map(|(agency_type, records)| {
            let small = (1..=4).contains(&records);
            v1::OutsideCount { agency_type, records: if small { 0 } else { records }, fewer_than_five: small }
        })
        .collect()
}

/// A completeness answer as a panel may see it: each item's known, not
/// known and missing counts published as a one-row table with its total
/// (primary and secondary suppression), suppressed numbers zeroed.
pub(crate) fn suppress_completeness(mut response: v1::CompletenessResponse) -> v1::CompletenessResponse {
    for agency in &mut response.agencies {
        for item in &mut agency.items {
            let published = publish(&Table {
                rows: vec![String::new()],
                columns: vec!["known".to_owned(), "not known".to_owned(), "missing".to_owned()],
                counts: vec![vec![item.known, item.not_known, item.missing]],
            });
            let cells = &published.cells[0];
            let value = |cell: &braid_signals::report::Cell, n: u64| if matches!(cell, braid_signals::report::Cell::Count(_)) { n } else { 0 };
            (item.known, item.not_known, item.missing) = (value(&cells[0], item.known), value(&cells[1], item.not_known), value(&cells[2], item.missing));
            (item.known_shown, item.not_known_shown, item.missing_shown) = (cells[0].text(), cells[1].text(), cells[2].text());
        }
    }
    response
}

/// How a panel is told of an agency outside its partnership: by its type.
fn agency_type(facts: &Facts, agency: u16) -> String {
    match facts.agencies().get(usize::from(agency)) {
        Some((_, agency_type)) if !agency_type.is_empty() => agency_type.clone(),
        _ => "agency".to_owned(),
    }
}

/// An answer as the label a panel reads.
fn label(template: &Template, wire: &v1::TemplateValue) -> Option<v1::FieldLabel> {
    let field = template.field(&wire.field_id).ok()?;
    let value = to_value(wire)?;
    let name = |code: u32| field.category(code).map(|c| c.label.clone()).unwrap_or_else(|| code.to_string());
    let text = match &value {
        Value::Single { code, .. } => name(*code),
        Value::Multi { codes, .. } => codes.iter().map(|c| name(*c)).collect::<Vec<_>>().join("; "),
        Value::Integer(n) => n.to_string(),
        Value::Text(t) => t.clone(),
        Value::NotKnown => "Not known".to_owned(),
    };
    Some(v1::FieldLabel { field_id: field.id.clone(), item: field.item.clone(), value: text })
}

fn confidence_band(probability: f32, own_id: bool) -> &'static str {
    if own_id {
        "agency's own id"
    } else if probability >= 0.99 {
        "very high"
    } else if probability >= 0.9 {
        "high"
    } else {
        "moderate"
    }
}

impl Engine {
    fn partnership_check(agency: &str, partnership: &[String]) -> Result<(), EngineError> {
        if partnership.iter().any(|a| a == agency) {
            Ok(())
        } else {
            Err(EngineError::Refused("that agency is not in the partnership; a panel may ask only about its own agencies' records".to_owned()))
        }
    }

    /// The profile keys a subject names, checked against the partnership.
    fn subject_keys(&self, state: &State, scope: &Scope, partnership: &[String], subject: &PanelSubject) -> Result<Vec<u64>, EngineError> {
        let view = ProfileView(state.linker.profiles());
        match subject {
            PanelSubject::Record { agency, record_ref } => {
                Engine::partnership_check(agency, partnership)?;
                let record =
                    self.store.record(agency, record_ref)?.ok_or_else(|| EngineError::NotFound("the agency has no record with that ref".to_owned()))?;
                let mut keys = Vec::new();
                for id in record.involvement_ids {
                    let key = view.key(id);
                    if !keys.contains(&key) {
                        keys.push(key);
                    }
                }
                Ok(keys)
            }
            PanelSubject::Profile(text) => {
                let id = parse_profile_id(text).ok_or_else(|| EngineError::InvalidRequest("a profile id looks like P0000123".to_owned()))?;
                let profiles = state.linker.profiles();
                // A profile's key may be an outcome event's child.
                let live = state.facts.involvement(id).is_some() || state.facts.outcome(id).is_some();
                let known = live && profiles.is_alive(id) && profiles.smallest_member(id) == id;
                if !known || !visible(&state.facts, &view, scope, id) {
                    return Err(EngineError::NotFound("no profile with that id is visible to the partnership".to_owned()));
                }
                Ok(vec![id])
            }
        }
    }

    fn signal_record(&self, state: &State, id: u64) -> Option<v1::SignalRecord> {
        let (involvement, record) = state.facts.with_record(id)?;
        Some(v1::SignalRecord {
            agency: state.facts.agencies()[usize::from(record.agency)].0.clone(),
            record_ref: record.record_ref.clone(),
            role: involvement.role.number(),
            case_type: record.case_type.number(),
            date: Some(wire_date(record.day)),
            link: confidence_band(involvement.link, false).to_owned(),
        })
    }

    fn render_signal(&self, state: &State, scope: &Scope, signal: &Signal, full: bool) -> Result<v1::PanelSignal, EngineError> {
        let view = ProfileView(state.linker.profiles());
        let mut out = v1::PanelSignal {
            kind: signal.kind.name().to_owned(),
            detail: signal.detail.clone(),
            profile_id: profile_id(signal.subject),
            status: if signal.resolved { "resolved" } else { "current" }.to_owned(),
            first: Some(wire_date(signal.first_day)),
            last: Some(wire_date(signal.last_day)),
            ..Default::default()
        };
        // Counts come from the signal's per-agency tally; only the records
        // shown are looked at.
        let mut outside: BTreeMap<String, u32> = BTreeMap::new();
        let mut inside = 0u32;
        for &(agency, count) in &signal.per_agency {
            if scope.allows(agency) {
                inside += count;
            } else {
                *outside.entry(agency_type(&state.facts, agency)).or_default() += count;
            }
        }
        let mut seen_records = HashSet::new();
        for &id in &signal.evidence {
            if !full && out.records.len() >= MAX_SIGNAL_RECORDS {
                break;
            }
            let Some((involvement, record)) = state.facts.with_record(id) else { continue };
            if scope.allows(record.agency) && seen_records.insert((involvement.record, involvement.role)) {
                out.records.extend(self.signal_record(state, id));
            }
        }
        out.records_not_shown = inside.saturating_sub(out.records.len() as u32);
        // Over every record it rests on, not only those shown (worked out
        // when the signal was: all of them are the partnership's).
        out.weakest_link = confidence_band(signal.weakest_link, false).to_owned();
        out.outside = outside_counts(outside);
        for &key in &signal.related {
            if !full && out.related_profiles.len() >= MAX_RELATED {
                out.related_not_shown += 1;
            } else if visible(&state.facts, &view, scope, key) {
                out.related_profiles.push(profile_id(key));
            } else {
                out.related_outside += 1;
            }
        }
        Ok(out)
    }

    fn render_profile(&self, state: &State, partnership: &[String], scope: &Scope, key: u64) -> Result<v1::PanelProfile, EngineError> {
        let template = Template::standard();
        let profiles = state.linker.profiles();
        let all: Vec<u64> = profiles.members(key).collect();
        // The partnership's records, newest first and at most
        // MAX_PROFILE_RECORDS of them; the others only counted.
        let mut outside: BTreeMap<String, u32> = BTreeMap::new();
        let mut members: Vec<(i32, u64)> = Vec::new();
        for &member in &all {
            let Some((_, facts)) = state.facts.with_record(member) else { continue };
            if scope.allows(facts.agency) {
                members.push((facts.day, member));
            } else {
                *outside.entry(agency_type(&state.facts, facts.agency)).or_default() += 1;
            }
        }
        members.sort_unstable_by_key(|&(day, id)| (std::cmp::Reverse(day), id));
        let not_shown = members.len().saturating_sub(MAX_PROFILE_RECORDS);
        members.truncate(MAX_PROFILE_RECORDS);
        let members: Vec<u64> = members.into_iter().map(|(_, id)| id).collect();
        // Link confidence: the strongest link of each member within the
        // profile, either way round.
        let mut best: HashMap<u64, (f32, bool)> = HashMap::new();
        for &member in &members {
            for link in self.store.links(member)?.map(|l| l.entries).unwrap_or_default() {
                let joined = matches!(Decision::from_number(link.decision), Some(Decision::Joined | Decision::Merged));
                if !joined || !profiles.is_alive(link.other) || profiles.smallest_member(link.other) != key {
                    continue;
                }
                let own_id = on_own_person_ref(&link.levels);
                for end in [member, link.other] {
                    let entry = best.entry(end).or_insert((0.0, false));
                    entry.0 = entry.0.max(link.probability);
                    entry.1 |= own_id;
                }
            }
        }
        let mut out = v1::PanelProfile { profile_id: profile_id(key), records_not_shown: not_shown as u32, ..Default::default() };
        // Derived perpetrator answers for the records shown, the profile
        // walked once, through the partnership's view.
        let view = ScopedView { profiles, facts: &state.facts, scope };
        let derived = braid_signals::derive_profile(&SignalConfig::default(), &state.facts, &view, &members);
        for (&member, derived) in members.iter().zip(derived) {
            let Some((involvement, facts)) = state.facts.with_record(member) else { continue };
            let agency = &state.facts.agencies()[usize::from(facts.agency)].0;
            let Some(stored_record) = self.store.record(agency, &facts.record_ref)? else { continue };
            let record = v1::CaseRecord::decode(stored_record.record.as_slice()).map_err(|_| braid_store::Error::Corrupt("record"))?;
            let position = stored_record.involvement_ids.iter().position(|id| *id == member);
            let mut fields: Vec<v1::FieldLabel> = record.fields.iter().filter_map(|f| label(template, f)).collect();
            if let Some(own) = position.and_then(|p| record.involvements.get(p)) {
                fields.extend(own.fields.iter().filter_map(|f| label(template, f)));
            }
            let confidence = if all.len() == 1 { "only record" } else { best.get(&member).map_or("moderate", |&(p, own)| confidence_band(p, own)) };
            let derived = derived
                .into_iter()
                .map(|answer| v1::DerivedAnswer {
                    item: template.field(answer.field_id).map(|f| f.item.clone()).unwrap_or_default(),
                    field_id: answer.field_id.to_owned(),
                    value: answer.value,
                    basis: answer.basis,
                })
                .collect();
            out.records.push(v1::PanelRecord {
                agency: agency.clone(),
                agency_type: stored_record.agency_type.clone(),
                record_ref: facts.record_ref.clone(),
                role: involvement.role.number(),
                case_type: record.case_type,
                referral_date: record.referral_date,
                incident_start: record.incident_start,
                last_occurrence: record.last_occurrence,
                concern: facts.concern.name().to_owned(),
                fields,
                confidence: confidence.to_owned(),
                derived,
                history: stored_record
                    .history
                    .iter()
                    .map(|version| v1::PanelRecordVersion {
                        stored: (version.stored_ms > 0).then(|| wire_date(i32::try_from(version.stored_ms / 86_400_000).unwrap_or(0))),
                        case_type: version.case_type,
                        concern: version.concern.clone(),
                    })
                    .collect(),
            });
        }
        out.outside = outside_counts(outside);
        // Outcome events from the partnership's agencies, newest first.
        let mut outcomes: Vec<&braid_signals::OutcomeFacts> = all.iter().filter_map(|&m| state.facts.outcome(m)).filter(|o| scope.allows(o.agency)).collect();
        outcomes.sort_unstable_by(|a, b| b.day.cmp(&a.day).then_with(|| a.record_ref.cmp(&b.record_ref)));
        out.outcomes_not_shown = outcomes.len().saturating_sub(MAX_PROFILE_RECORDS) as u32;
        outcomes.truncate(MAX_PROFILE_RECORDS);
        out.outcomes = outcomes
            .into_iter()
            .map(|o| v1::PanelOutcome {
                agency: state.facts.agencies()[usize::from(o.agency)].0.clone(),
                agency_type: agency_type(&state.facts, o.agency),
                record_ref: o.record_ref.clone(),
                outcome: o.kind.number(),
                date: Some(wire_date(o.day)),
            })
            .collect();
        // This profile's signals: the partnership's book's when it is
        // settled; otherwise worked out now, for this profile alone, through
        // the partnership's view (a query about one person never waits for
        // every change noted since the last listing).
        match state.signals.books.get(&partnership_key(partnership)).filter(|book| !book.has_pending()) {
            Some(book) => {
                for signal in book.profile(key) {
                    out.signals.push(self.render_signal(state, scope, signal, false)?);
                }
            }
            None => {
                let view = ScopedView { profiles: state.linker.profiles(), facts: &state.facts, scope };
                for signal in braid_signals::signals_now(&SignalConfig::default(), &state.facts, &view, key) {
                    out.signals.push(self.render_signal(state, scope, &signal, false)?);
                }
            }
        }
        Ok(out)
    }

    /// The profiles of a record's people, or one profile, as a panel of
    /// `partnership` (agency codes) sees them.
    pub fn panel_profile(&self, partnership: &[String], subject: &PanelSubject) -> Result<Vec<v1::PanelProfile>, EngineError> {
        // Answered at once unless a profile it touches is being re-linked
        // in slices (then after it is whole again).
        let mut guard = self.lock_state_unfenced()?;
        let keys = loop {
            let state = &*guard;
            let scope = Scope::new(&state.facts, partnership);
            let keys = match self.subject_keys(state, &scope, partnership, subject) {
                Ok(keys) => keys,
                // A profile being re-linked may look absent half-way.
                Err(EngineError::NotFound(_)) if state.in_flux.is_some() => {
                    self.wait_for_flux(&mut guard)?;
                    continue;
                }
                Err(error) => return Err(error),
            };
            let touched = state
                .in_flux
                .as_ref()
                .is_some_and(|flux| keys.iter().any(|&key| flux.contains(&key) || state.linker.profiles().members(key).any(|m| flux.contains(&m))));
            if !touched {
                break keys;
            }
            self.wait_for_flux(&mut guard)?;
        };
        let state = &*guard;
        let scope = Scope::new(&state.facts, partnership);
        keys.into_iter().map(|key| self.render_profile(state, partnership, &scope, key)).collect()
    }

    /// Signals visible to the partnership, newest evidence first.
    pub fn panel_signals(&self, partnership: &[String], request: &v1::SignalsRequest) -> Result<v1::SignalsResponse, EngineError> {
        let kinds: Vec<SignalKind> = request
            .kinds
            .iter()
            .map(|k| {
                SignalKind::parse(k).ok_or_else(|| {
                    let names: Vec<&str> = SignalKind::ALL.iter().map(|k| k.name()).collect();
                    EngineError::InvalidRequest(format!("unknown signal kind `{k}`; kinds are {}", names.join(", ")))
                })
            })
            .collect::<Result<_, _>>()?;
        let wants = |kind: SignalKind| kinds.is_empty() || kinds.contains(&kind);
        let (since, until) = window_days(request.since.as_ref(), request.until.as_ref())?;
        let limit = match request.limit {
            0 => 100,
            n => (n as usize).min(100_000),
        };
        let only_profile = if request.profile_id.is_empty() {
            None
        } else {
            Some(parse_profile_id(&request.profile_id).ok_or_else(|| EngineError::InvalidRequest("a profile id looks like P0000123".to_owned()))?)
        };
        let mut guard = self.lock_state()?;
        settled_book(&mut guard, partnership, wants(SignalKind::Network));
        let state = &*guard;
        let Some(book) = state.signals.books.get(&partnership_key(partnership)) else {
            return Err(EngineError::InvalidRequest("the partnership's signals could not be made".to_owned()));
        };
        let scope = Scope::new(&state.facts, partnership);
        let mut matched: Vec<&Signal> = book
            .iter()
            .chain(book.networks())
            .filter(|s| wants(s.kind))
            .filter(|s| !request.current_only || !s.resolved)
            .filter(|s| since.is_none_or(|d| s.last_day >= d) && until.is_none_or(|d| s.first_day <= d))
            .filter(|s| only_profile.is_none_or(|p| s.subject == p || (s.kind == SignalKind::Network && s.related.binary_search(&p).is_ok())))
            .filter(|s| s.seen_by.iter().any(|&agency| scope.allows(agency)))
            .collect();
        let total = matched.len() as u64;
        let order = |s: &&Signal| (std::cmp::Reverse(s.last_day), s.kind, s.subject);
        // A page: only the newest `offset + limit` are put in order.
        let offset = (request.offset as usize).min(MAX_SIGNALS_OFFSET);
        let wanted = offset + limit;
        if matched.len() > wanted {
            matched.select_nth_unstable_by_key(wanted, order);
            matched.truncate(wanted);
        }
        matched.sort_by_key(order);
        let signals = matched.into_iter().skip(offset).map(|s| self.render_signal(state, &scope, s, request.full)).collect::<Result<_, _>>()?;
        Ok(v1::SignalsResponse { signals, matched: total })
    }

    /// The victim–perpetrator neighbourhood of a profile.
    pub fn panel_network(&self, partnership: &[String], subject: &PanelSubject, depth: u32, max_people: usize) -> Result<v1::NetworkResponse, EngineError> {
        let guard = self.lock_state()?;
        let state = &*guard;
        let scope = Scope::new(&state.facts, partnership);
        let keys = self.subject_keys(state, &scope, partnership, subject)?;
        let view = ProfileView(state.linker.profiles());
        // A record names several people; its victim is the natural centre.
        let center = keys
            .iter()
            .copied()
            .find(|&k| view.members(k).iter().any(|&m| state.facts.involvement(m).is_some_and(|i| i.role.is_victim())))
            .or_else(|| keys.first().copied())
            .ok_or_else(|| EngineError::NotFound("the record names nobody".to_owned()))?;
        let is_visible = |key: u64| visible(&state.facts, &view, &scope, key);
        // Walked through the partnership's records only: roles and edges
        // come from them, never from records held elsewhere.
        let scoped = ScopedView { profiles: state.linker.profiles(), facts: &state.facts, scope: &scope };
        let found = neighbourhood(&state.facts, &scoped, center, depth, max_people, &is_visible);
        let mut outside_number = 0;
        let nodes = found
            .nodes
            .iter()
            .map(|node| {
                let agencies: BTreeSet<String> = view
                    .members(node.key)
                    .iter()
                    .filter_map(|&m| state.facts.with_record(m))
                    .filter(|(_, r)| scope.allows(r.agency))
                    .map(|(_, r)| state.facts.agencies()[usize::from(r.agency)].0.clone())
                    .collect();
                let id = if node.visible {
                    profile_id(node.key)
                } else {
                    outside_number += 1;
                    format!("outside-{outside_number}")
                };
                let roles = if node.visible {
                    node.roles.iter().map(|r| (*r).to_owned()).collect()
                } else {
                    let types: BTreeSet<String> =
                        view.members(node.key).iter().filter_map(|&m| state.facts.with_record(m)).map(|(_, r)| agency_type(&state.facts, r.agency)).collect();
                    vec![format!("known to {} outside the partnership", types.into_iter().collect::<Vec<_>>().join(", "))]
                };
                v1::NetworkNode { id, outside: !node.visible, roles, agencies: agencies.into_iter().collect(), depth: node.depth }
            })
            .collect();
        let index: HashMap<u64, u32> = found.nodes.iter().enumerate().map(|(i, n)| (n.key, i as u32)).collect();
        let mut edges = Vec::new();
        for edge in &found.edges {
            let mut out = v1::NetworkEdge { victim: index[&edge.victim], harmer: index[&edge.harmer], ..Default::default() };
            for &id in &edge.involvements {
                match state.facts.with_record(id) {
                    Some((_, record)) if scope.allows(record.agency) => out.records.extend(self.signal_record(state, id)),
                    Some(_) => out.outside_records += 1,
                    None => {}
                }
            }
            edges.push(out);
        }
        Ok(v1::NetworkResponse { nodes, edges, truncated: found.truncated })
    }

    /// Distinct people per signal kind by the period of the signal's latest
    /// evidence, each row published with small-number suppression.
    /// Always by period, so always rounded as [`Engine::panel_report`] is
    /// over time.
    pub fn signal_counts(&self, partnership: &[String], request: &v1::SignalCountsRequest) -> Result<v1::SignalCountsResponse, EngineError> {
        let mut response = self.signal_counts_exact(partnership, request)?;
        for row in &mut response.rows {
            round_all(&mut row.cells);
            row.total = round_text(&row.total);
        }
        response.legend = rounded_legend(&response.legend);
        response.rounded = true;
        Ok(response)
    }

    fn signal_counts_exact(&self, partnership: &[String], request: &v1::SignalCountsRequest) -> Result<v1::SignalCountsResponse, EngineError> {
        let period = match request.period.as_str() {
            "" => Period::Quarter,
            other => Period::parse(other).ok_or_else(|| EngineError::InvalidRequest("period is month, quarter or year".to_owned()))?,
        };
        let (since, until) = window_days(request.since.as_ref(), request.until.as_ref())?;
        let mut guard = self.lock_state()?;
        let book = settled_book(&mut guard, partnership, false);
        // Per kind: each subject's latest evidence in the window.
        let kinds: Vec<SignalKind> = SignalKind::ALL.into_iter().filter(|k| *k != SignalKind::Network).collect();
        let mut latest: Vec<HashMap<u64, i32>> = vec![HashMap::new(); kinds.len()];
        for signal in book.iter() {
            let Some(k) = kinds.iter().position(|kind| *kind == signal.kind) else { continue };
            if since.is_some_and(|s| signal.last_day < s) || until.is_some_and(|u| signal.last_day > u) {
                continue;
            }
            let day = latest[k].entry(signal.subject).or_insert(signal.last_day);
            *day = (*day).max(signal.last_day);
        }
        drop(guard);
        let days: Vec<i32> = latest.iter().flat_map(|m| m.values().copied()).collect();
        let (Some(&first), Some(&last)) = (days.iter().min(), days.iter().max()) else {
            return Ok(v1::SignalCountsResponse {
                period_labels: Vec::new(),
                rows: kinds.iter().map(|k| v1::SignalCountRow { kind: k.name().to_owned(), cells: Vec::new(), total: "0".to_owned() }).collect(),
                legend: LEGEND.to_owned(),
                rounded: false,
            });
        };
        let (from, to) = (period.index(first), period.index(last));
        let labels: Vec<String> = (from..=to).map(|i| period.label(i)).collect();
        let rows = kinds
            .iter()
            .zip(&latest)
            .map(|(kind, subjects)| {
                let mut counts = vec![0u64; labels.len()];
                for &day in subjects.values() {
                    counts[(period.index(day) - from) as usize] += 1;
                }
                let published = publish(&Table { rows: vec![kind.name().to_owned()], columns: labels.clone(), counts: vec![counts] });
                v1::SignalCountRow {
                    kind: kind.name().to_owned(),
                    cells: published.cells[0].iter().map(|c| c.text()).collect(),
                    total: published.row_totals[0].text(),
                }
            })
            .collect();
        Ok(v1::SignalCountsResponse { period_labels: labels, rows, legend: LEGEND.to_owned(), rounded: false })
    }

    /// A cohort of the partnership's children (by case type, or by a
    /// signal about a child) and how many had each kind of outcome event
    /// from the partnership's agencies in the 12 months after they entered
    /// it. Every count is published with small-number suppression and
    /// rounded down to a multiple of 5, as reports over time are: cohorts
    /// of overlapping windows cannot be subtracted to reveal a small
    /// number. Shares are worked out from the published counts only.
    pub fn cohort(&self, partnership: &[String], request: &v1::CohortRequest) -> Result<v1::CohortResponse, EngineError> {
        enum Entry {
            CaseType(CaseType),
            Signal(SignalKind),
        }
        let bad = || {
            EngineError::InvalidRequest(
                "cohort is case_type:CSA, case_type:CSE, case_type:HSB, or signal: with revictimisation, victim-hsb-overlap, victim-as-offender or classification-conflict".to_owned(),
            )
        };
        let entry = match request.cohort.split_once(':') {
            Some(("case_type", name)) => {
                Entry::CaseType([CaseType::Csa, CaseType::Cse, CaseType::Hsb].into_iter().find(|t| t.name().eq_ignore_ascii_case(name.trim())).ok_or_else(bad)?)
            }
            Some(("signal", name)) => match SignalKind::parse(name.trim()) {
                Some(kind) if !matches!(kind, SignalKind::SharedPerpetrator | SignalKind::Network) => Entry::Signal(kind),
                _ => return Err(bad()),
            },
            _ => return Err(bad()),
        };
        let (since, until) = window_days(request.since.as_ref(), request.until.as_ref())?;
        let in_window = |day: i32| since.is_none_or(|s| day >= s) && until.is_none_or(|u| day <= u);
        let today = i32::try_from(crate::audit::now_ms() / 86_400_000).unwrap_or(i32::MAX);
        let mut guard = self.lock_state()?;
        let (described, mut entered) = match entry {
            Entry::Signal(kind) => {
                let mut entered: HashMap<u64, i32> = HashMap::new();
                for signal in settled_book(&mut guard, partnership, false).iter().filter(|s| s.kind == kind) {
                    let day = entered.entry(signal.subject).or_insert(signal.last_day);
                    *day = (*day).min(signal.last_day);
                }
                (format!("children with a {} signal, from the day of its latest evidence", kind.name()), entered)
            }
            Entry::CaseType(case_type) => {
                let state = &*guard;
                let scope = Scope::new(&state.facts, partnership);
                let view = ScopedView { profiles: state.linker.profiles(), facts: &state.facts, scope: &scope };
                let entered = braid_signals::case_type_cohort(&state.facts, &view, case_type, |a| scope.allows(a));
                (format!("children (victims, or displaying HSB) in a {} case, from its event date", case_type.name()), entered)
            }
        };
        let state = &*guard;
        let scope = Scope::new(&state.facts, partnership);
        let view = ScopedView { profiles: state.linker.profiles(), facts: &state.facts, scope: &scope };
        // Children only (a conflict raised through a perpetrator is about
        // the perpetrator), and dated: a child whose record in the
        // partnership names them as a victim or as displaying HSB.
        let child = |key: u64| {
            view.members(key).into_iter().any(|m| state.facts.involvement(m).is_some_and(|i| i.identified && (i.role.is_victim() || i.role == Role::Hsb)))
        };
        entered.retain(|&key, day| *day != 0 && in_window(*day) && child(key));
        let counts = braid_signals::cohort_outcomes(&state.facts, &view, &entered, |a| scope.allows(a), today);
        drop(guard);
        let published = |count: u64| round_text(&if (1..5).contains(&count) { "<5".to_owned() } else { count.to_string() });
        let children = published(counts.children);
        // A share from rounded counts is known only within the range the
        // rounding leaves (a shown 10 is 10 to 14): that range is shown.
        let share = |shown: &str| match (shown.parse::<u64>(), children.parse::<u64>()) {
            (Ok(part), Ok(whole)) if part > 0 && whole > 0 => {
                let spread = ROUNDING_BASE - 1;
                let low = part * 100 / (whole + spread);
                let high = ((part + spread).min(whole + spread) * 100).div_ceil(whole).min(100);
                if low == high {
                    format!("{low}%")
                } else {
                    format!("{low}–{high}%")
                }
            }
            _ => String::new(),
        };
        let rows: Vec<v1::CohortRow> = counts
            .with
            .iter()
            .map(|&(kind, count)| (kind.name().to_owned(), published(count)))
            .chain(std::iter::once(("any outcome".to_owned(), published(counts.any))))
            .map(|(outcome, shown)| v1::CohortRow { share: share(&shown), outcome, children: shown })
            .collect();
        Ok(v1::CohortResponse {
            cohort: described,
            children,
            followed_up: published(counts.followed_up),
            rows,
            legend: format!(
                "<5: between 1 and 4 children; {ROUNDED_LEGEND}; a child is counted under every kind of outcome they had, so the kinds add up to more than `any outcome`; a share is the range of values the published counts allow"
            ),
            rounded: true,
        })
    }

    /// A snapshot of what reports need from memory (every live identified
    /// involvement's profile key, the agencies, the partnership's scope),
    /// taken under the lock so that the store can then be read without it.
    fn snapshot(&self, partnership: &[String]) -> Result<Snapshot, EngineError> {
        let guard = self.lock_state()?;
        let view = ProfileView(guard.linker.profiles());
        let scope = Scope::new(&guard.facts, partnership);
        // People are counted only through involvements that carry an
        // identity: an unidentified perpetrator cannot be told apart from
        // another.
        let mut keys = HashMap::new();
        for record in guard.facts.records() {
            for &id in &record.involvements {
                if guard.facts.involvement(id).is_some_and(|i| i.identified) {
                    keys.insert(id, view.key(id));
                }
            }
        }
        Ok((keys, guard.facts.agencies().to_vec(), scope.allowed))
    }

    /// Distinct profiles counted by one or two dimensions (single-choice or
    /// whole-number template items, `case_type` or a period; one of them
    /// may be a multi-choice item), with disclosure control. Answers come
    /// from the partnership's records; each profile is counted once, under
    /// its latest known answer, except by a multi-choice item: there, in
    /// every category any of its records ticks (a known answer anywhere
    /// outweighs "not known"), so the categories overlap and the totals
    /// count distinct profiles.
    ///
    /// Over time (a date window, or a period dimension), counts of 5 or more
    /// are rounded down to a multiple of 5 (after suppression), so that two
    /// reports of nested windows, or a report by period beside one over a
    /// window, cannot be subtracted to reveal a small number.
    pub fn panel_report(
        &self,
        partnership: &[String],
        by: &[String],
        population: Population,
        window: (Option<&v1::Date>, Option<&v1::Date>),
    ) -> Result<v1::ReportResponse, EngineError> {
        let mut response = self.report_exact(partnership, by, population, window)?;
        // Over time (a window, or a period dimension) every count is
        // rounded: an exact table by period beside a rounded one over a
        // window would let the window's rounding be undone.
        if window.0.is_some() || window.1.is_some() || by.iter().any(|b| b.starts_with("period:")) {
            for row in &mut response.rows {
                round_all(&mut row.cells);
            }
            round_all(&mut response.row_totals);
            round_all(&mut response.column_totals);
            response.total = round_text(&response.total);
            response.legend = rounded_legend(&response.legend);
            response.rounded = true;
        }
        Ok(response)
    }

    /// [`Engine::panel_report`] before rounding.
    fn report_exact(
        &self,
        partnership: &[String],
        by: &[String],
        population: Population,
        window: (Option<&v1::Date>, Option<&v1::Date>),
    ) -> Result<v1::ReportResponse, EngineError> {
        if by.is_empty() || by.len() > 2 {
            return Err(EngineError::InvalidRequest("a report is by one or two template items (or case_type, agency, agency_type, or period:…)".to_owned()));
        }
        let (since, until) = window_days(window.0, window.1)?;
        let windowed = since.is_some() || until.is_some();
        let in_window = |day: i32| (!windowed || day != 0) && since.is_none_or(|s| day >= s) && until.is_none_or(|u| day <= u);
        let template = Template::standard();
        // Each dimension: its category labels and how to read an answer
        // (a period's labels come from the data, below).
        let mut dimensions: Vec<(Vec<String>, Option<&braid_template::Field>)> = Vec::new();
        let mut periods: Vec<Option<Period>> = Vec::new();
        // Which dimension, if any, is a multi-choice item.
        let mut multi: Option<usize> = None;
        // Which dimension, if any, is the agency (or its type).
        let mut by_agency: Option<(usize, AgencyDimension)> = None;
        for id in by {
            periods.push(None);
            if let Some(kind) = AgencyDimension::parse(id) {
                if let Some((other, _)) = by_agency {
                    return Err(EngineError::InvalidRequest(format!(
                        "`{}` and `{id}` are both agency dimensions: a report by agency (or agency type) may cross it with a template item, case_type or a period",
                        by[other]
                    )));
                }
                by_agency = Some((dimensions.len(), kind));
                dimensions.push((Vec::new(), None));
                continue;
            }
            if let Some(unit) = id.strip_prefix("period:") {
                let period = Period::parse(unit)
                    .ok_or_else(|| EngineError::InvalidRequest(format!("`{id}`: a period is period:month, period:quarter or period:year")))?;
                *periods.last_mut().expect("pushed") = Some(period);
                dimensions.push((Vec::new(), None));
                continue;
            }
            if id == "case_type" {
                dimensions.push((vec!["CSA".into(), "CSE".into(), "HSB".into()], None));
                continue;
            }
            let field = template.field(id).map_err(|_| EngineError::InvalidRequest(format!("`{id}` is not a template item (or case_type)")))?;
            let labels = match field.kind {
                FieldKind::Single => field.categories.iter().filter(|c| !c.not_known).map(|c| c.label.clone()).collect(),
                FieldKind::Integer => field_bands(field).into_iter().map(|(_, _, label)| label).collect(),
                FieldKind::Multi => {
                    if let Some(other) = multi {
                        return Err(EngineError::InvalidRequest(format!(
                            "`{}` and `{id}` are both multi-choice items: a report may cross a multi-choice item with a single-choice or whole-number item, case_type or a period, not with another multi-choice item",
                            by[other]
                        )));
                    }
                    // Each person's categories are a 64-bit set, with
                    // "Not known" and "Not recorded" after them.
                    if field.categories.len() > 60 {
                        return Err(EngineError::InvalidRequest(format!("`{id}` has more categories than a report can count by (60)")));
                    }
                    multi = Some(dimensions.len());
                    field.categories.iter().filter(|c| !c.not_known).map(|c| c.label.clone()).collect()
                }
                FieldKind::Text => {
                    return Err(EngineError::InvalidRequest(format!(
                        "`{id}` is a free-text item: it has no categories to count by; report by a single-choice, multi-choice or whole-number item"
                    )))
                }
            };
            dimensions.push((labels, Some(field)));
        }
        let (keys, agencies, allowed) = self.snapshot(partnership)?;
        let in_scope = |agency: &str| agencies.iter().position(|(code, _)| code == agency).is_some_and(|n| allowed.get(n).copied().unwrap_or(false));
        // By agency: the partnership's agencies (or their types) as the
        // groups, and each record's group. Records from outside the
        // partnership are never read (above), so never counted.
        let groups: Vec<String> = match by_agency.map(|(_, kind)| kind) {
            None => Vec::new(),
            Some(AgencyDimension::Agency) => partnership.to_vec(),
            Some(AgencyDimension::AgencyType) => partnership
                .iter()
                .filter_map(|code| agencies.iter().find(|(c, _)| c == code))
                .map(|(_, agency_type)| if agency_type.is_empty() { "agency".to_owned() } else { agency_type.clone() })
                .collect::<BTreeSet<String>>()
                .into_iter()
                .collect(),
        };
        // Types that merge several of the partnership's agencies would let
        // a panel subtract this report from the one by agency and find how
        // many children two agencies of one type share (A + B − type): by
        // type only where each type is one agency.
        if matches!(by_agency.map(|(_, kind)| kind), Some(AgencyDimension::AgencyType)) {
            let in_partnership = partnership.iter().filter(|code| agencies.iter().any(|(c, _)| c == *code)).count();
            if groups.len() < in_partnership {
                return Err(EngineError::InvalidRequest(
                    "agency_type: this partnership has several agencies of one type; beside the report by agency, a report by type would show how many children they share, so report by agency instead".to_owned(),
                ));
            }
        }
        // Each person's groups are a 64-bit set.
        if groups.len() > 60 {
            return Err(EngineError::InvalidRequest("agency: a partnership of more than 60 agencies cannot be reported by agency".to_owned()));
        }
        let group_of = |agency: &str| -> usize {
            match by_agency.map(|(_, kind)| kind) {
                Some(AgencyDimension::Agency) => partnership.iter().position(|a| a == agency).unwrap_or(0),
                Some(AgencyDimension::AgencyType) => {
                    let agency_type =
                        agencies.iter().find(|(c, _)| c == agency).map(|(_, t)| if t.is_empty() { "agency" } else { t.as_str() }).unwrap_or("agency");
                    groups.iter().position(|g| g == agency_type).unwrap_or(0)
                }
                None => 0,
            }
        };
        // Per profile and group (agency or type) that knows it: its answers
        // from that group's records alone, and its first case there.
        let mut per_group: PerGroup = HashMap::new();
        let mut group_first: HashMap<(u64, usize), i32> = HashMap::new();
        // Per profile: answers per dimension, and its first case's day in
        // the window.
        let mut answers: HashMap<u64, Vec<Vec<(i32, Answer)>>> = HashMap::new();
        let mut first_day: HashMap<u64, i32> = HashMap::new();
        self.store.for_each_record(|agency, _, stored| {
            if !in_scope(agency) {
                return Ok(());
            }
            let record = v1::CaseRecord::decode(stored.record.as_slice()).map_err(|_| braid_store::Error::Corrupt("record"))?;
            let day = record_day(&record);
            if is_outcome(&record) || !in_window(day) {
                return Ok(());
            }
            let group = group_of(agency);
            for (involvement, id) in record.involvements.iter().zip(&stored.involvement_ids) {
                let Some(role) = Role::from_number(involvement.role) else { continue };
                let Some(&key) = keys.get(id) else { continue };
                if !population.counts(role) {
                    continue;
                }
                let first = first_day.entry(key).or_insert(day);
                *first = (*first).min(day);
                let mut entry: Vec<Vec<(i32, Answer)>> = vec![Vec::new(); dimensions.len()];
                for (d, (labels, field)) in dimensions.iter().enumerate() {
                    if periods[d].is_some() || by_agency.is_some_and(|(a, _)| a == d) {
                        continue;
                    }
                    let answer = match field {
                        None => CaseType::from_number(record.case_type).map(|c| Answer::Category(c as usize)),
                        Some(field) => {
                            let wire = record.fields.iter().chain(&involvement.fields).find(|f| f.field_id == field.id);
                            match wire.and_then(to_value) {
                                Some(Value::Single { code, .. }) => match field.category(code) {
                                    Some(c) if c.not_known => Some(Answer::NotKnown),
                                    Some(c) => labels.iter().position(|l| *l == c.label).map(Answer::Category),
                                    None => None,
                                },
                                Some(Value::NotKnown) => Some(Answer::NotKnown),
                                Some(Value::Integer(n)) => {
                                    field_bands(field).iter().position(|(low, high, _)| (*low..=*high).contains(&n)).map(Answer::Category)
                                }
                                // Every category ticked, each an answer;
                                // "not known" ticked alone is not known.
                                Some(Value::Multi { codes, .. }) => {
                                    let ticked: Vec<Answer> = codes
                                        .iter()
                                        .filter_map(|&code| field.category(code))
                                        .filter(|c| !c.not_known)
                                        .filter_map(|c| labels.iter().position(|l| *l == c.label).map(Answer::Category))
                                        .collect();
                                    if ticked.is_empty() {
                                        Some(Answer::NotKnown)
                                    } else {
                                        entry[d].extend(ticked.into_iter().map(|answer| (day, answer)));
                                        None
                                    }
                                }
                                _ => None,
                            }
                        }
                    };
                    if let Some(answer) = answer {
                        entry[d].push((day, answer));
                    }
                }
                if by_agency.is_some() {
                    let first = group_first.entry((key, group)).or_insert(day);
                    *first = (*first).min(day);
                    let mine = per_group.entry((key, group)).or_insert_with(|| vec![Vec::new(); dimensions.len()]);
                    for (d, found) in entry.iter().enumerate() {
                        mine[d].extend_from_slice(found);
                    }
                }
                let all = answers.entry(key).or_insert_with(|| vec![Vec::new(); dimensions.len()]);
                for (d, found) in entry.into_iter().enumerate() {
                    all[d].extend(found);
                }
            }
            Ok(())
        })?;
        if first_day.is_empty() && (windowed || periods.iter().any(Option::is_some)) {
            return Err(EngineError::NotFound("no case of the partnership falls in that window".to_owned()));
        }
        // A period's rows: every period from the first case's to the last's
        // (empty ones included), each person under their first.
        // (By agency, each profile is under the period of its first case at
        // each agency, which may be later than its first case anywhere.)
        let days: Vec<i32> = if by_agency.is_some() { group_first.values().copied().collect() } else { first_day.values().copied().collect() };
        let (earliest, latest) = (days.iter().copied().min().unwrap_or(0), days.iter().copied().max().unwrap_or(0));
        for (d, period) in periods.iter().enumerate() {
            if let Some(period) = period {
                let (first, last) = (period.index(earliest), period.index(latest));
                dimensions[d].0 = (first..=last).map(|i| period.label(i)).collect();
            }
        }
        // Template items get "Not known" and "Not recorded"; the case type
        // and the period are always recorded.
        let with_gaps = |(labels, field): &(Vec<String>, Option<&braid_template::Field>)| {
            let mut out = labels.to_vec();
            if field.is_some() {
                out.push("Not known".to_owned());
                out.push("Not recorded".to_owned());
            }
            out
        };
        if let Some((a, _)) = by_agency {
            dimensions[a].0.clone_from(&groups);
            let other = (dimensions.len() > 1).then(|| (1 - a, with_gaps(&dimensions[1 - a])));
            let column = |d: usize, key: u64, group: usize, per_dimension: &[Vec<(i32, Answer)>], size: usize| -> usize {
                match &periods[d] {
                    Some(period) => (period.index(group_first[&(key, group)]) - period.index(earliest)) as usize,
                    None => resolve(&per_dimension[d], dimensions[d].0.len()).min(size - 1),
                }
            };
            return Ok(agency_report(by, a, &dimensions, other, multi, population, &per_group, column));
        }
        let rows = with_gaps(&dimensions[0]);
        let columns = dimensions.get(1).map(with_gaps).unwrap_or_else(|| vec!["profiles".to_owned()]);
        if rows.is_empty() || columns.is_empty() {
            return Err(EngineError::NotFound("no case of the partnership falls in that window".to_owned()));
        }
        let position = |d: usize, key: u64, per_dimension: &[Vec<(i32, Answer)>], size: usize| match &periods[d] {
            Some(period) => (period.index(first_day[&key]) - period.index(earliest)) as usize,
            None => resolve(&per_dimension[d], dimensions[d].0.len()).min(size - 1),
        };
        if let Some(m) = multi {
            return Ok(multi_report(by, m, &dimensions, population, &answers, |d, key, per_dimension, size| position(d, key, per_dimension, size)));
        }
        let mut counts = vec![vec![0u64; columns.len()]; rows.len()];
        for (&key, per_dimension) in &answers {
            let r = position(0, key, per_dimension, rows.len()).min(rows.len() - 1);
            let c = if dimensions.len() > 1 { position(1, key, per_dimension, columns.len()).min(columns.len() - 1) } else { 0 };
            counts[r][c] += 1;
        }
        let published = publish(&Table { rows, columns, counts });
        let text = |cells: &[braid_signals::report::Cell]| cells.iter().map(|c| c.text()).collect::<Vec<_>>();
        Ok(v1::ReportResponse {
            rows_by: by[0].clone(),
            columns_by: by.get(1).cloned().unwrap_or_default(),
            row_labels: published.rows.clone(),
            column_labels: published.columns.clone(),
            rows: published.cells.iter().map(|row| v1::TableRow { cells: text(row) }).collect(),
            row_totals: text(&published.row_totals),
            column_totals: text(&published.column_totals),
            total: published.total.text(),
            legend: LEGEND.to_owned(),
            population: population.name().to_owned(),
            rows_overlap: false,
            columns_overlap: false,
            answers_per_agency: false,
            rounded: false,
        })
    }

    /// Per agency and template item: known, not known and missing answers
    /// where the item applies (per case for case items, per victim or
    /// perpetrator for A and B items).
    pub fn completeness(&self, agencies: &[String]) -> Result<v1::CompletenessResponse, EngineError> {
        let template = Template::standard();
        let items = |wanted: fn(Section) -> bool| -> Vec<&str> { template.fields().iter().filter(|f| wanted(f.section)).map(|f| f.id.as_str()).collect() };
        let case_items = items(Section::is_case_level);
        let victim_items = items(|s| s == Section::Victim);
        let perpetrator_items = items(|s| s == Section::Perpetrator);
        let mut per_agency: BTreeMap<String, (String, u64, Completeness)> = BTreeMap::new();
        for agency in agencies {
            per_agency.insert(agency.clone(), (String::new(), 0, Completeness::default()));
        }
        self.store.for_each_record(|agency, _, stored| {
            let Some((agency_type, records, completeness)) = per_agency.get_mut(agency) else { return Ok(()) };
            agency_type.clone_from(&stored.agency_type);
            let record = v1::CaseRecord::decode(stored.record.as_slice()).map_err(|_| braid_store::Error::Corrupt("record"))?;
            if is_outcome(&record) {
                return Ok(());
            }
            *records += 1;
            let case_values: Vec<(String, Value)> = record.fields.iter().filter_map(|f| Some((f.field_id.clone(), to_value(f)?))).collect();
            let case_answers: braid_template::Answers = case_values.iter().map(|(id, v)| (id.as_str(), v)).collect();
            completeness.record(template, case_items.iter().copied(), &case_answers);
            for involvement in &record.involvements {
                let Some(role) = Role::from_number(involvement.role) else { continue };
                let own: Vec<(String, Value)> = involvement.fields.iter().filter_map(|f| Some((f.field_id.clone(), to_value(f)?))).collect();
                let mut answers = case_answers.clone();
                answers.extend(own.iter().map(|(id, v)| (id.as_str(), v)));
                let section = if role.is_victim() { &victim_items } else { &perpetrator_items };
                completeness.record(template, section.iter().copied(), &answers);
            }
            Ok(())
        })?;
        let mut answer = Vec::with_capacity(per_agency.len());
        for (agency, (agency_type, records, completeness)) in per_agency {
            // Items its system holds, as its newest upload declared: every
            // declared item is listed, answered or not.
            let held = self.items_held(&agency)?;
            let items = template
                .fields()
                .iter()
                .filter_map(|field| {
                    let held = crate::uploads::held_as(held.as_ref(), &field.id);
                    let counts = completeness.fields.get(&field.id);
                    if counts.is_none() && held.is_empty() {
                        return None;
                    }
                    let counts = counts.copied().unwrap_or_default();
                    Some(v1::ItemCompleteness {
                        field_id: field.id.clone(),
                        item: field.item.clone(),
                        known: counts.known,
                        not_known: counts.not_known,
                        missing: counts.missing,
                        held: held.to_owned(),
                        ..Default::default()
                    })
                })
                .collect();
            answer.push(v1::AgencyCompleteness { agency, agency_type, records, items });
        }
        Ok(v1::CompletenessResponse { agencies: answer })
    }

    /// Children (profiles with a victim or HSB record) known to each pair
    /// of the partnership's agencies, with small counts suppressed, and
    /// further cells withheld so that no small number of children (say,
    /// those known to one agency but not another) can be worked out from
    /// the others.
    pub fn interconnectedness(&self, partnership: &[String]) -> Result<v1::InterconnectednessResponse, EngineError> {
        let guard = self.lock_state()?;
        let view = ProfileView(guard.linker.profiles());
        let columns: Vec<(String, Option<u16>)> = partnership.iter().map(|a| (a.clone(), guard.facts.find_agency(a))).collect();
        // Dense by profile key (an involvement id): the partnership's
        // agencies that know the profile, and whether it is a child's.
        let bound = guard.facts.id_bound();
        let mut agencies_of = vec![0u64; bound];
        let mut child = vec![false; bound];
        for record in guard.facts.records() {
            let Some(column) = columns.iter().position(|(_, n)| *n == Some(record.agency)) else { continue };
            for &id in &record.involvements {
                let Some(involvement) = guard.facts.involvement(id) else { continue };
                let Some(key) = usize::try_from(view.key(id)).ok().filter(|&k| k < bound && involvement.identified) else { continue };
                agencies_of[key] |= 1 << column;
                child[key] |= involvement.role.is_victim() || involvement.role == Role::Hsb;
            }
        }
        drop(guard);
        // Each child's agencies; small counts, and any that subtracting
        // or combining cells would give away, are suppressed (without the
        // lock: this can take a moment for a large partnership).
        let children: Vec<u64> = agencies_of.iter().zip(&child).filter(|(_, c)| **c).map(|(&mask, _)| mask).collect();
        let published = braid_signals::report::publish_overlaps(&children, columns.len());
        Ok(v1::InterconnectednessResponse {
            agencies: columns.into_iter().map(|(code, _)| code).collect(),
            rows: published
                .iter()
                .map(|row| v1::TableRow {
                    cells: row.iter().map(|c| c.text()).collect(),
                })
                .collect(),
            legend: "children known to both agencies (the diagonal: known to the agency); <5: between 1 and 4; *: withheld so that no small number of children (such as those known to one agency but not another) can be worked out from the other cells; where every cell off the diagonal is *, only each agency's own count is shown".to_owned(),
        })
    }
}

/// A person's rows by a multi-choice item of `categories` categories:
/// every category their records tick; else "Not known" (bit
/// `categories`) where one said so, else "Not recorded" (the next bit).
fn ticked_mask(answers: &[(i32, Answer)], categories: usize) -> u64 {
    let mut mask = 0u64;
    let mut not_known = false;
    for (_, answer) in answers {
        match answer {
            Answer::Category(c) if *c < categories => mask |= 1 << c,
            _ => not_known = true,
        }
    }
    if mask == 0 {
        mask = 1 << if not_known { categories } else { categories + 1 };
    }
    mask
}

/// A report by a multi-choice item (dimension `m`), alone or crossed with
/// one other dimension: each profile in every category its records tick
/// (else "Not known" if one said so, else "Not recorded"), and under one
/// value of the other dimension (`position`). Published with the
/// disclosure control for overlapping categories; rows are by the first
/// dimension asked for, whichever is the multi-choice one.
fn multi_report(
    by: &[String],
    m: usize,
    dimensions: &[(Vec<String>, Option<&braid_template::Field>)],
    population: Population,
    answers: &HashMap<u64, Vec<Vec<(i32, Answer)>>>,
    position: impl Fn(usize, u64, &[Vec<(i32, Answer)>], usize) -> usize,
) -> v1::ReportResponse {
    let categories = dimensions[m].0.len();
    let mut rows = dimensions[m].0.clone();
    rows.push("Not known".to_owned());
    rows.push("Not recorded".to_owned());
    let other = (dimensions.len() > 1).then_some(1 - m);
    let columns = match other {
        Some(d) => {
            let mut labels = dimensions[d].0.clone();
            if dimensions[d].1.is_some() {
                labels.push("Not known".to_owned());
                labels.push("Not recorded".to_owned());
            }
            labels
        }
        None => vec!["profiles".to_owned()],
    };
    let mut people: Vec<(u64, usize)> = answers
        .iter()
        .map(|(&key, per_dimension)| {
            let mask = ticked_mask(&per_dimension[m], categories);
            let column = other.map_or(0, |d| position(d, key, per_dimension, columns.len()).min(columns.len() - 1));
            (mask, column)
        })
        .collect();
    // The same people in the same order whatever the map's order.
    people.sort_unstable();
    let published =
        braid_signals::report::publish_multi(&braid_signals::report::Multi { rows, alone: (1 << categories) | (1 << (categories + 1)), columns, people });
    overlap_response(published, m == 1, by, population, braid_signals::report::MULTI_LEGEND, false)
}

/// A table whose rows overlap (a multi-choice item's categories, or the
/// agencies that know a person) as the panel receives it: turned round when
/// that dimension was asked for second.
fn overlap_response(
    published: braid_signals::report::Published,
    transposed: bool,
    by: &[String],
    population: Population,
    legend: &str,
    answers_per_agency: bool,
) -> v1::ReportResponse {
    let text = |cells: &[braid_signals::report::Cell]| cells.iter().map(|c| c.text()).collect::<Vec<_>>();
    let (row_labels, column_labels, body, row_totals, column_totals) = if transposed {
        let body = (0..published.columns.len()).map(|c| published.cells.iter().map(|row| row[c]).collect::<Vec<_>>()).collect::<Vec<_>>();
        (published.columns, published.rows, body, published.column_totals, published.row_totals)
    } else {
        (published.rows, published.columns, published.cells, published.row_totals, published.column_totals)
    };
    v1::ReportResponse {
        rows_by: by[0].clone(),
        columns_by: by.get(1).cloned().unwrap_or_default(),
        row_labels,
        column_labels,
        rows: body.iter().map(|row| v1::TableRow { cells: text(row) }).collect(),
        row_totals: text(&row_totals),
        column_totals: text(&column_totals),
        total: published.total.text(),
        legend: legend.to_owned(),
        population: population.name().to_owned(),
        rows_overlap: !transposed,
        columns_overlap: transposed,
        answers_per_agency,
        rounded: false,
    }
}

/// A profile's answers per report dimension, each with its day.
type Answers = Vec<Vec<(i32, Answer)>>;

/// Per (profile, agency or agency type): its answers from that group's
/// records alone.
type PerGroup = HashMap<(u64, usize), Answers>;

/// A report dimension that is who holds the records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AgencyDimension {
    /// Each of the partnership's agencies.
    Agency,
    /// Each type of agency in the partnership (children's social care,
    /// police, …).
    AgencyType,
}

impl AgencyDimension {
    fn parse(text: &str) -> Option<AgencyDimension> {
        match text {
            "agency" => Some(AgencyDimension::Agency),
            "agency_type" => Some(AgencyDimension::AgencyType),
            _ => None,
        }
    }
}

/// A report by agency (or agency type, dimension `a`), alone or crossed
/// with one other dimension. Each profile is under every group whose
/// records (in the window, in the population) name it, and, crossed, under
/// that group's own answer: its latest known answer in that group's
/// records (else "Not known" or "Not recorded"), every category they tick
/// for a multi-choice item, the period of its first case there. So one
/// child may be CSA under children's social care and CSE under police:
/// each agency's own habits. The row totals (children each group knows)
/// and the total (distinct children) are the one-way report by agency; the
/// other dimension has no totals here.
#[allow(clippy::too_many_arguments)]
fn agency_report(
    by: &[String],
    a: usize,
    dimensions: &[(Vec<String>, Option<&braid_template::Field>)],
    other: Option<(usize, Vec<String>)>,
    multi: Option<usize>,
    population: Population,
    per_group: &PerGroup,
    column: impl Fn(usize, u64, usize, &[Vec<(i32, Answer)>], usize) -> usize,
) -> v1::ReportResponse {
    let groups = dimensions[a].0.clone();
    // Each profile's groups, in a fixed order whatever the map's.
    let mut by_profile: BTreeMap<u64, Vec<(usize, &Answers)>> = BTreeMap::new();
    for (&(key, group), per_dimension) in per_group {
        by_profile.entry(key).or_default().push((group, per_dimension));
    }
    for groups in by_profile.values_mut() {
        groups.sort_unstable_by_key(|&(group, _)| group);
    }
    let Some((d, columns)) = other else {
        let mut people: Vec<(u64, usize)> = by_profile.values().map(|groups| (groups.iter().fold(0u64, |mask, &(g, _)| mask | 1 << g), 0)).collect();
        people.sort_unstable();
        let published =
            braid_signals::report::publish_multi(&braid_signals::report::Multi { rows: groups, alone: 0, columns: vec!["profiles".to_owned()], people });
        // By agency alone: who is known to which agencies, one count each.
        return overlap_response(published, false, by, population, braid_signals::report::AGENCY_LEGEND, false);
    };
    let size = columns.len();
    let categories = dimensions[d].0.len();
    let is_multi = multi == Some(d);
    let people: Vec<Vec<(usize, u64)>> = by_profile
        .iter()
        .map(|(&key, groups)| {
            groups
                .iter()
                .map(|&(group, per_dimension)| {
                    let mask = if is_multi {
                        ticked_mask(&per_dimension[d], categories)
                    } else {
                        // Past 64 columns the table shows only its margins
                        // (far past the groups its search can take), so
                        // the bit only has to be a valid one.
                        1 << column(d, key, group, per_dimension, size).min(size - 1).min(63)
                    };
                    (group, mask)
                })
                .collect()
        })
        .collect();
    let published = braid_signals::report::publish_by_agency(&braid_signals::report::ByAgency {
        rows: groups,
        columns,
        one: !is_multi,
        alone: if is_multi { (1 << categories) | (1 << (categories + 1)) } else { 0 },
        people,
    });
    overlap_response(published, a == 1, by, population, braid_signals::report::AGENCY_LEGEND, true)
}

/// How many days make a month for freshness (a mean Gregorian month).
const DAYS_PER_MONTH: f64 = 30.436_875;

/// One agency's freshness counts: live records, current concerns, current
/// concerns unchanged for the window, records changed at least once.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FreshnessCounts {
    pub(crate) records: u64,
    pub(crate) current: u64,
    pub(crate) current_unchanged: u64,
    pub(crate) changed: u64,
    pub(crate) reclassified: u64,
}

impl FreshnessCounts {
    /// The counts as published: 1–4 as `<5`; a count that is part of
    /// another (current of records, unchanged of current, changed of
    /// records, reclassified of changed) withheld as `*` where the
    /// difference would be 1 to 4.
    pub(crate) fn published(&self) -> [String; 5] {
        let small = |v: u64| (1..=4).contains(&v);
        let mut cells =
            [self.records, self.current, self.current_unchanged, self.changed, self.reclassified]
                .map(|v| if small(v) { "<5".to_owned() } else { v.to_string() });
        let within = [
            (1, 0, self.records - self.current),
            (2, 1, self.current - self.current_unchanged),
            (3, 0, self.records - self.changed),
            (4, 3, self.changed - self.reclassified),
        ];
        for (part, whole, difference) in within {
            // Only an exact whole gives an exact difference away.
            let exact = cells[whole] != "<5" && cells[whole] != "*";
            if small(difference) && exact && cells[part] != "<5" {
                cells[part] = "*".to_owned();
            }
        }
        // Once a whole is withheld, its part must not pin it either
        // (current → unchanged, changed → reclassified).
        for (whole, part) in [(1, 2), (3, 4)] {
            if cells[whole] == "*" && cells[part] != "<5" && cells[part] != "0" {
                cells[part] = "*".to_owned();
            }
        }
        cells
    }
}

impl Engine {
    /// When each of the partnership's agencies last sent a change, and how
    /// current its records are (read from the store, without the lock).
    pub fn freshness(&self, partnership: &[String], months: u32) -> Result<v1::FreshnessResponse, EngineError> {
        let months = if months == 0 { 6 } else { months.min(240) };
        let now = crate::audit::now_ms();
        let window_ms = (f64::from(months) * DAYS_PER_MONTH * 86_400_000.0) as u64;
        let mut rows: Vec<(String, String, u64, FreshnessCounts)> =
            partnership.iter().map(|a| (a.clone(), String::new(), 0, FreshnessCounts::default())).collect();
        self.store.for_each_record(|agency, _, stored| {
            let Some(row) = rows.iter_mut().find(|row| row.0 == agency) else { return Ok(()) };
            let record = v1::CaseRecord::decode(stored.record.as_slice()).map_err(|_| braid_store::Error::Corrupt("record"))?;
            row.1.clone_from(&stored.agency_type);
            row.2 = row.2.max(stored.stored_ms);
            // An outcome event is a change from the agency, not a record
            // of a case.
            if is_outcome(&record) {
                return Ok(());
            }
            let current = record_facts(&record, |_| false).concern == Concern::Current;
            let counts = &mut row.3;
            counts.records += 1;
            counts.current += u64::from(current);
            counts.current_unchanged += u64::from(current && stored.stored_ms != 0 && now.saturating_sub(stored.stored_ms) >= window_ms);
            counts.changed += u64::from(stored.changes > 0);
            counts.reclassified += u64::from(stored.changes > 0 && stored.history.iter().any(|version| version.case_type != record.case_type));
            Ok(())
        })?;
        Ok(v1::FreshnessResponse {
            agencies: rows
                .into_iter()
                .map(|(agency, agency_type, last_ms, counts)| {
                    let [records, current, current_unchanged, changed, reclassified] = counts.published();
                    v1::AgencyFreshness {
                        agency,
                        agency_type,
                        last_change: (last_ms > 0).then(|| wire_date(i32::try_from(last_ms / 86_400_000).unwrap_or(0))),
                        records,
                        current,
                        current_unchanged,
                        changed,
                        reclassified,
                    }
                })
                .collect(),
            months,
            legend: format!(
                "records per agency; current: concern status Current; unchanged: of those, not changed for {months} months or more; changed: re-sent with changed content at least once; reclassified: of those, with a changed case type; <5: between 1 and 4; *: withheld so that no <5 can be worked out by subtraction"
            ),
        })
    }
}

/// The items a disagreement report looks at unless asked for others.
const DISAGREEMENT_ITEMS: [&str; 4] = ["victim.sex", "victim.ethnicity", "victim.disabilities", "case_type"];

/// Most items one disagreement report may ask about.
const MOST_DISAGREEMENT_ITEMS: usize = 32;

/// What one agency's records say of one child on one item: each answer
/// with its day (single choice, case type), or the categories ticked
/// (multi-choice).
#[derive(Debug, Default, Clone)]
struct Said {
    answers: Vec<(i32, Answer)>,
    ticked: u64,
}

impl Engine {
    /// Per item and pair of the partnership's agencies: distinct children
    /// (profiles with a victim record at both) whose records from the two
    /// agencies give different known answers — each agency's latest known
    /// answer, or for a multi-choice item the set of categories its records
    /// tick; "not known" and no answer disagree with nothing. Only the
    /// partnership's records are read.
    ///
    /// Disclosure control: every count of 1 to 4 is published as `<5`, and
    /// that is all that is needed here, because nothing else in the reply
    /// is a sum, a difference or a bound of these counts: there are no
    /// totals (no children per agency, per pair or per item, no "agree"
    /// counts), and no two rows count nested groups of children. Whatever
    /// the other rows say, a count shown `<5` can be any of 1 to 4: take
    /// the children it counts and add or remove one known to those two
    /// agencies alone, with one answer at one and another at the other, on
    /// that item alone — that changes this row and no other. (Rows of one
    /// child across pairs are linked only through children known to three
    /// agencies or more, which such a child need not be.) Setting this
    /// reply beside a report by agency crossed with the same item is
    /// another matter: see the README.
    /// Over a date window, rounded as [`Engine::panel_report`] is.
    pub fn disagreements(&self, partnership: &[String], request: &v1::DisagreementsRequest) -> Result<v1::DisagreementsResponse, EngineError> {
        let mut response = self.disagreements_exact(partnership, request)?;
        if request.since.is_some() || request.until.is_some() {
            for row in &mut response.rows {
                row.children = round_text(&row.children);
            }
            response.legend = rounded_legend(&response.legend);
            response.rounded = true;
        }
        Ok(response)
    }

    fn disagreements_exact(&self, partnership: &[String], request: &v1::DisagreementsRequest) -> Result<v1::DisagreementsResponse, EngineError> {
        let template = Template::standard();
        let ids: Vec<String> = if request.items.is_empty() { DISAGREEMENT_ITEMS.iter().map(|&i| i.to_owned()).collect() } else { request.items.clone() };
        if ids.len() > MOST_DISAGREEMENT_ITEMS {
            return Err(EngineError::InvalidRequest(format!("items: at most {MOST_DISAGREEMENT_ITEMS} in one report")));
        }
        // Each item: its template field (none for the case type).
        let mut items: Vec<Option<&braid_template::Field>> = Vec::new();
        for id in &ids {
            if id == "case_type" {
                items.push(None);
                continue;
            }
            let field = template.field(id).map_err(|_| EngineError::InvalidRequest(format!("items: `{id}` is not a template item (or case_type)")))?;
            if !matches!(field.kind, FieldKind::Single | FieldKind::Multi) {
                return Err(EngineError::InvalidRequest(format!(
                    "items: `{id}` is not a single-choice or multi-choice item; records disagree only on categories"
                )));
            }
            if field.kind == FieldKind::Multi && field.categories.len() > 64 {
                return Err(EngineError::InvalidRequest(format!("items: `{id}` has more categories than can be compared (64)")));
            }
            items.push(Some(field));
        }
        let (since, until) = window_days(request.since.as_ref(), request.until.as_ref())?;
        let windowed = since.is_some() || until.is_some();
        let in_window = |day: i32| (!windowed || day != 0) && since.is_none_or(|s| day >= s) && until.is_none_or(|u| day <= u);
        let (keys, agencies, allowed) = self.snapshot(partnership)?;
        let in_scope = |agency: &str| agencies.iter().position(|(code, _)| code == agency).is_some_and(|n| allowed.get(n).copied().unwrap_or(false));
        // Per (profile, agency of the partnership): what its records say,
        // item by item.
        let mut said: HashMap<(u64, usize), Vec<Said>> = HashMap::new();
        self.store.for_each_record(|agency, _, stored| {
            let Some(position) = partnership.iter().position(|a| a == agency).filter(|_| in_scope(agency)) else { return Ok(()) };
            let record = v1::CaseRecord::decode(stored.record.as_slice()).map_err(|_| braid_store::Error::Corrupt("record"))?;
            let day = record_day(&record);
            if is_outcome(&record) || !in_window(day) {
                return Ok(());
            }
            for (involvement, id) in record.involvements.iter().zip(&stored.involvement_ids) {
                if !Role::from_number(involvement.role).is_some_and(Role::is_victim) {
                    continue;
                }
                let Some(&key) = keys.get(id) else { continue };
                let entry = said.entry((key, position)).or_insert_with(|| vec![Said::default(); items.len()]);
                for (item, field) in items.iter().enumerate() {
                    let Some(field) = field else {
                        if let Some(case_type) = CaseType::from_number(record.case_type) {
                            entry[item].answers.push((day, Answer::Category(case_type as usize)));
                        }
                        continue;
                    };
                    let wire = involvement.fields.iter().chain(&record.fields).find(|f| f.field_id == field.id);
                    match wire.and_then(to_value) {
                        Some(Value::Single { code, .. }) => match field.category(code) {
                            Some(c) if c.not_known => entry[item].answers.push((day, Answer::NotKnown)),
                            Some(_) => entry[item].answers.push((day, Answer::Category(code as usize))),
                            None => {}
                        },
                        Some(Value::Multi { codes, .. }) => {
                            for code in codes {
                                if let Some(index) = field.categories.iter().position(|c| c.code == code && !c.not_known) {
                                    entry[item].ticked |= 1 << index;
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            Ok(())
        })?;
        // Per profile, its agencies in order; then each pair's answers.
        let mut by_profile: BTreeMap<u64, Vec<(usize, &Vec<Said>)>> = BTreeMap::new();
        for (&(key, agency), per_item) in &said {
            by_profile.entry(key).or_default().push((agency, per_item));
        }
        let pairs: Vec<(usize, usize)> = (0..partnership.len()).flat_map(|a| (a + 1..partnership.len()).map(move |b| (a, b))).collect();
        let mut counts = vec![vec![0u64; pairs.len()]; items.len()];
        // An agency's answer: its latest known category (codes and case
        // types are small numbers: `resolve` is told there are plenty), or
        // the categories its records tick; none when it gives no known one.
        let known = |field: Option<&braid_template::Field>, said: &Said| -> Option<u64> {
            match field {
                Some(f) if f.kind == FieldKind::Multi => (said.ticked != 0).then_some(said.ticked),
                _ => {
                    let most = usize::MAX / 4;
                    let answer = resolve(&said.answers, most);
                    (answer < most).then_some(answer as u64)
                }
            }
        };
        for agencies_of in by_profile.values_mut() {
            agencies_of.sort_unstable_by_key(|&(agency, _)| agency);
            for (item, field) in items.iter().enumerate() {
                for (i, &(a, said_a)) in agencies_of.iter().enumerate() {
                    for &(b, said_b) in &agencies_of[i + 1..] {
                        let (Some(x), Some(y)) = (known(*field, &said_a[item]), known(*field, &said_b[item])) else { continue };
                        if x != y {
                            if let Some(p) = pairs.iter().position(|&pair| pair == (a, b)) {
                                counts[item][p] += 1;
                            }
                        }
                    }
                }
            }
        }
        let mut rows = Vec::new();
        for (item, field) in items.iter().enumerate() {
            for (p, &(a, b)) in pairs.iter().enumerate() {
                let n = counts[item][p];
                rows.push(v1::Disagreement {
                    item: ids[item].clone(),
                    item_number: field.map(|f| f.item.clone()).unwrap_or_default(),
                    agency_a: partnership[a].clone(),
                    agency_b: partnership[b].clone(),
                    children: if (1..=4).contains(&n) { "<5".to_owned() } else { n.to_string() },
                });
            }
        }
        Ok(v1::DisagreementsResponse {
            rows,
            legend: "children whose records at the two agencies give different known answers (each agency's latest known answer; for a multi-choice item, the categories its records tick); not known or not recorded is no disagreement; <5: between 1 and 4".to_owned(),
            rounded: false,
        })
    }
}

#[cfg(test)]
mod freshness_tests {
    use super::FreshnessCounts;

    #[test]
    fn nested_counts_never_give_a_small_difference_away() {
        let c = |records, current, current_unchanged, changed, reclassified| FreshnessCounts { records, current, current_unchanged, changed, reclassified };
        assert_eq!(c(40, 20, 10, 0, 0).published(), ["40", "20", "10", "0", "0"]);
        assert_eq!(c(40, 38, 10, 0, 0).published(), ["40", "*", "*", "0", "0"], "2 not current would follow");
        assert_eq!(c(40, 20, 17, 40, 40).published(), ["40", "20", "*", "40", "40"], "3 current and changed would follow");
        assert_eq!(c(3, 3, 0, 0, 0).published(), ["<5", "<5", "0", "0", "0"]);
        assert_eq!(c(9, 9, 9, 7, 7).published(), ["9", "9", "9", "*", "*"], "2 unchanged would follow, and reclassified would pin changed");
        assert_eq!(c(40, 20, 10, 12, 7).published(), ["40", "20", "10", "12", "7"]);
        assert_eq!(c(40, 20, 10, 12, 10).published(), ["40", "20", "10", "12", "*"], "2 changed but not reclassified would follow");
        assert_eq!(c(40, 20, 10, 12, 3).published(), ["40", "20", "10", "12", "<5"]);
    }
}
