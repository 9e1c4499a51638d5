//! Panel queries: linked profiles, signals, networks, reports, completeness
//! and interconnectedness, for one partnership at a time.
//!
//! A profile is visible to a partnership when one of its records comes from
//! one of the partnership's agencies. Records from other agencies are only
//! counted, by agency type; identities and pseudonyms never leave the node,
//! and link confidence is given as a band, never a score.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::OnceLock;

use braid_linkage::Sealed;
use braid_proto::v1;
use braid_signals::network::neighbourhood;
use braid_signals::report::{publish, resolve, round_text, Answer, Table, LEGEND, ROUNDED_LEGEND, ROUNDING_BASE, UNION_ROUNDED_LEGEND};
use braid_signals::{CaseType, Concern, Facts, OutcomeKind, Profiles, RecordFacts, Role, Signal, SignalBook, SignalConfig, SignalKind};
use braid_template::{Completeness, Date, FieldKind, Section, Template, Value};

use crate::engine::{parse_profile_id, profile_id, Engine, EngineError, State};
use crate::record::answer_value;
use crate::validate::to_value;
use braid_store::{BodyDate, BodyInvolvement, BodyValue, RecordBody};

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

fn day_of(date: Option<&v1::Date>) -> Option<i32> {
    i32::try_from(date?.days_since_epoch()?).ok()
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
pub(crate) fn is_outcome(record: &RecordBody) -> bool {
    record.outcome != 0
}

/// A record's date for signals and reports: when the abuse started, or
/// else when the case was referred.
fn record_day(record: &RecordBody) -> i32 {
    let day = |date: Option<BodyDate>| i32::try_from(crate::record::body_day(date)?).ok();
    day(record.incident_start).or_else(|| day(record.referral_date)).unwrap_or(0)
}

pub(crate) fn wire_date(day: impl Into<i64>) -> v1::Date {
    v1::Date::from_days_since_epoch(day.into())
}

fn category(fields: &[BodyValue], id: &str) -> Option<Value> {
    fields.iter().find(|f| f.field_id == id).and_then(answer_value)
}

/// Reads what the signals need from a (validated) record. `identified`
/// says whether involvement `i` carries any identity.
pub(crate) fn record_facts(record: &RecordBody, identified: impl Fn(usize) -> bool) -> PreparedFacts {
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
            let role = Role::in_case_from_number(involvement.role).unwrap_or(Role::Perpetrator);
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

/// The linker's profiles, as last sealed, as the signals see them.
pub(crate) struct ProfileView<'a>(pub(crate) Sealed<'a>);

impl Profiles for ProfileView<'_> {
    fn key(&self, id: u64) -> u64 {
        self.0.smallest_member(id)
    }
    fn members(&self, id: u64) -> Vec<u64> {
        self.0.members(id).collect()
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

    /// Notes involvements that moved between profiles (see
    /// [`SignalBook::note_moved`]), in every book.
    pub(crate) fn note_moved(&mut self, moved: &[u64]) {
        for book in self.books.values_mut() {
            book.note_moved(moved.iter().copied());
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
    let view = ScopedView::new(linker.profiles().sealed(), facts, &scope);
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
fn suppress_completeness(mut response: v1::CompletenessResponse) -> v1::CompletenessResponse {
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
    facts.agencies().get(usize::from(agency)).map_or("agency", |(_, agency_type)| type_name(agency_type)).to_owned()
}

/// An agency's type as panels read it: "agency" where it declared none.
fn type_name(agency_type: &str) -> &str {
    if agency_type.is_empty() {
        "agency"
    } else {
        agency_type
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

/// The link band of a record that is the only one of its part.
const ONLY_RECORD: &str = "only record";

/// The weakest link of a signal whose records each stand alone.
const NO_LINK: &str = "none: each record stands alone";

/// A link's band, from its strength (see [`braid_signals::Facts::links`]).
fn confidence_band(strength: f32) -> &'static str {
    if strength >= braid_signals::OWN_ID_LINK {
        "agency's own id"
    } else if strength >= 0.99 {
        "very high"
    } else if strength >= 0.9 {
        "high"
    } else {
        "moderate"
    }
}

/// The band of a record's link into its part of a profile, from the
/// partnership's own records (`scoped`): the best join between it and
/// another of them, either way round; a signal's records and a profile's
/// show the same.
fn record_band(scoped: &ScopedView<'_>, id: u64) -> &'static str {
    scoped.part_link(id).map_or(ONLY_RECORD, confidence_band)
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
        // Profiles as the partnership sees them: the parts its own records
        // hold together.
        let view = ScopedView::new(state.linker.profiles().sealed(), &state.facts, scope);
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
                let profiles = state.linker.profiles().sealed();
                // A profile's key may be an outcome event's child.
                let live = state.facts.involvement(id).is_some() || state.facts.outcome(id).is_some();
                let parts = if live && profiles.is_alive(id) { view.keys_around(id) } else { Vec::new() };
                match parts.as_slice() {
                    // A part's own id.
                    _ if parts.contains(&id) => Ok(vec![id]),
                    // The linked profile's id (as an admin's export names
                    // it), where the partnership sees that profile whole.
                    [only] if profiles.smallest_member(id) == id => Ok(vec![*only]),
                    _ => Err(EngineError::NotFound("no profile with that id is visible to the partnership".to_owned())),
                }
            }
        }
    }

    /// A record a signal rests on, its link band from the partnership's own
    /// records (`scoped`).
    fn signal_record(&self, state: &State, scoped: &ScopedView<'_>, id: u64) -> Option<v1::SignalRecord> {
        let (involvement, record) = state.facts.with_record(id)?;
        Some(v1::SignalRecord {
            agency: state.facts.agencies()[usize::from(record.agency)].0.clone(),
            record_ref: record.record_ref.clone(),
            role: involvement.role.number(),
            case_type: record.case_type.number(),
            date: Some(wire_date(record.day)),
            link: record_band(scoped, id).to_owned(),
        })
    }

    fn render_signal(&self, state: &State, scope: &Scope, scoped: &ScopedView<'_>, signal: &Signal, full: bool) -> Result<v1::PanelSignal, EngineError> {
        let view = ProfileView(state.linker.profiles().sealed());
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
                out.records.extend(self.signal_record(state, scoped, id));
            }
        }
        out.records_not_shown = inside.saturating_sub(out.records.len() as u32);
        // Over every record it rests on, not only those shown, from the
        // partnership's own joins (worked out when the signal was, through
        // the partnership's view).
        out.weakest_link = signal.weakest_link.map_or(NO_LINK, confidence_band).to_owned();
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
    /// Signals visible to the partnership, newest evidence first.
    pub fn panel_signals(&self, partnership: &[String], request: &v1::SignalsRequest) -> Result<v1::SignalsResponse, EngineError> {
        let kinds: Vec<SignalKind> = request
            .kinds
            .iter()
            .map(|k| {
                SignalKind::parse(k).ok_or_else(|| {
                    let names: Vec<&str> = SignalKind::ALL.iter().map(|k| k.name()).collect();
                    EngineError::InvalidRequest(format!("unknown signal kind `{}`; kinds are {}", braid_template::quote(k), names.join(", ")))
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
            return Err(EngineError::Internal("the partnership's signals could not be made"));
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
        let scoped = ScopedView::new(state.linker.profiles().sealed(), &state.facts, &scope);
        let signals = matched.into_iter().skip(offset).map(|s| self.render_signal(state, &scope, &scoped, s, request.full)).collect::<Result<_, _>>()?;
        Ok(v1::SignalsResponse { signals, matched: total })
    }

    /// The victim–perpetrator neighbourhood of a profile.
    pub fn panel_network(&self, partnership: &[String], subject: &PanelSubject, depth: u32, max_people: usize) -> Result<v1::NetworkResponse, EngineError> {
        // Profiles as last sealed: answered at once, even while a change
        // re-links some of them.
        let guard = self.lock_state_unfenced()?;
        let state = &*guard;
        let scope = Scope::new(&state.facts, partnership);
        let keys = self.subject_keys(state, &scope, partnership, subject)?;
        let view = ProfileView(state.linker.profiles().sealed());
        // Walked through the partnership's records only: roles and edges
        // come from them, never from records held elsewhere.
        let scoped = ScopedView::new(state.linker.profiles().sealed(), &state.facts, &scope);
        // A record names several people; its victim is the natural centre.
        let center = keys
            .iter()
            .copied()
            .find(|&k| scoped.members(k).iter().any(|&m| state.facts.involvement(m).is_some_and(|i| i.role.is_victim())))
            .or_else(|| keys.first().copied())
            .ok_or_else(|| EngineError::NotFound("the record names nobody".to_owned()))?;
        let is_visible = |key: u64| visible(&state.facts, &view, &scope, key);
        let found = neighbourhood(&state.facts, &scoped, center, depth, max_people, &is_visible);
        let mut outside_number = 0;
        let nodes = found
            .nodes
            .iter()
            .map(|node| {
                let agencies: BTreeSet<String> = scoped
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
                    Some((_, record)) if scope.allows(record.agency) => out.records.extend(self.signal_record(state, &scoped, id)),
                    Some(_) => out.outside_records += 1,
                    None => {}
                }
            }
            edges.push(out);
        }
        Ok(v1::NetworkResponse { nodes, edges, truncated: found.truncated })
    }
}

mod counts;
mod freshness;
mod profile;
mod report;
mod scoped;
pub(crate) use scoped::ScopedView;
