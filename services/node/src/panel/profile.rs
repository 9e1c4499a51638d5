//! A linked profile as a partnership sees it.

use super::*;

impl Engine {
    /// One profile as the panel of `partnership` sees it: its records in
    /// scope (newest first) with their answers, confidence and history,
    /// what is held outside counted, its outcome events and its signals.
    fn render_profile(&self, state: &State, partnership: &[String], scope: &Scope, key: u64) -> Result<v1::PanelProfile, EngineError> {
        let template = Template::standard();
        let profiles = state.linker.profiles().sealed();
        // The partnership's records that hold together by themselves (see
        // `ScopedView`), newest first and at most MAX_PROFILE_RECORDS of
        // them; the records held outside that they were linked to only
        // counted, and the outcome events attached to them.
        let view = ScopedView::new(profiles, &state.facts, scope);
        let all: Vec<u64> = view.every_member(key);
        let part: HashSet<u64> = view.members(key).into_iter().collect();
        let mut outside: BTreeMap<String, u32> = BTreeMap::new();
        let mut members: Vec<(i32, u64)> = Vec::new();
        for &member in &all {
            let Some((_, facts)) = state.facts.with_record(member) else { continue };
            if !scope.allows(facts.agency) {
                *outside.entry(agency_type(&state.facts, facts.agency)).or_default() += 1;
            } else if part.contains(&member) {
                members.push((facts.day, member));
            }
        }
        members.sort_unstable_by_key(|&(day, id)| (std::cmp::Reverse(day), id));
        let not_shown = members.len().saturating_sub(MAX_PROFILE_RECORDS);
        members.truncate(MAX_PROFILE_RECORDS);
        let members: Vec<u64> = members.into_iter().map(|(_, id)| id).collect();
        let mut out = v1::PanelProfile { profile_id: profile_id(key), records_not_shown: not_shown as u32, ..Default::default() };
        // Derived perpetrator answers for the records shown, the profile
        // walked once, through the partnership's view.
        let derived = braid_signals::derive_profile(&SignalConfig::default(), &state.facts, &view, &members);
        for Shown { member, derived, involvement, facts, agency, mut stored_record } in shown_records(&self.store, &state.facts, &members, derived)? {
            let record = crate::record::take_case_record(&mut stored_record)?;
            let position = stored_record.involvement_ids.iter().position(|id| *id == member);
            let mut fields: Vec<v1::FieldLabel> = record.fields.iter().filter_map(|f| label(template, f)).collect();
            if let Some(own) = position.and_then(|p| record.involvements.get(p)) {
                fields.extend(own.fields.iter().filter_map(|f| label(template, f)));
            }
            let confidence = super::record_band(&view, member);
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
                agency: agency.to_owned(),
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
        profile_outcomes(state, scope, &all, &mut out);
        // This profile's signals: the partnership's book's when it is
        // settled; otherwise worked out now, for this profile alone, through
        // the partnership's view (a query about one person never waits for
        // every change noted since the last listing).
        let view = ScopedView::new(state.linker.profiles().sealed(), &state.facts, scope);
        match state.signals.books.get(&partnership_key(partnership)).filter(|book| !book.has_pending()) {
            Some(book) => {
                for signal in book.profile(key) {
                    out.signals.push(self.render_signal(state, scope, &view, signal, false)?);
                }
            }
            None => {
                for signal in braid_signals::signals_now(&SignalConfig::default(), &state.facts, &view, key) {
                    out.signals.push(self.render_signal(state, scope, &view, &signal, false)?);
                }
            }
        }
        Ok(out)
    }

    /// The profiles of a record's people, or one profile, as a panel of
    /// `partnership` (agency codes) sees them.
    pub fn panel_profile(&self, partnership: &[String], subject: &PanelSubject) -> Result<Vec<v1::PanelProfile>, EngineError> {
        // Answered at once, from the profiles as last sealed, even while a
        // change re-links some of them in slices: the signals' facts change
        // only when a change is sealed, so the answer is the one before it.
        let guard = self.lock_state_unfenced()?;
        let state = &*guard;
        let scope = Scope::new(&state.facts, partnership);
        let keys = self.subject_keys(state, &scope, partnership, subject)?;
        keys.into_iter().map(|key| self.render_profile(state, partnership, &scope, key)).collect()
    }
}

/// One record shown in a profile: the member, its derived answers, its
/// facts, its agency's code and the record as stored.
struct Shown<'s> {
    member: u64,
    derived: Vec<braid_signals::Derived>,
    involvement: &'s braid_signals::InvolvementFacts,
    facts: &'s braid_signals::RecordFacts,
    agency: &'s str,
    stored_record: braid_store::StoredRecord,
}

/// The records of `members` (with their `derived` answers, in the same
/// order), read from the store in one batch; a member without facts or a
/// stored record is left out.
fn shown_records<'s>(
    store: &braid_store::Store,
    facts: &'s Facts,
    members: &[u64],
    derived: Vec<Vec<braid_signals::Derived>>,
) -> Result<Vec<Shown<'s>>, EngineError> {
    let known: Vec<_> = members
        .iter()
        .zip(derived)
        .filter_map(|(&member, derived)| {
            let (involvement, record) = facts.with_record(member)?;
            Some((member, derived, involvement, record, facts.agencies()[usize::from(record.agency)].0.as_str()))
        })
        .collect();
    let keys: Vec<(&str, &str)> = known.iter().map(|&(_, _, _, record, agency)| (agency, record.record_ref.as_str())).collect();
    let stored = store.records(&keys)?;
    Ok(known
        .into_iter()
        .zip(stored)
        .filter_map(|((member, derived, involvement, facts, agency), stored)| {
            Some(Shown { member, derived, involvement, facts, agency, stored_record: stored? })
        })
        .collect())
}

/// A profile's outcome events from the partnership's agencies, newest
/// first, at most [`MAX_PROFILE_RECORDS`] of them (the rest counted).
fn profile_outcomes(state: &State, scope: &Scope, all: &[u64], out: &mut v1::PanelProfile) {
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
}
