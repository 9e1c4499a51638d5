//! Reports over the template's items, by agency and by period.

use super::*;

impl Engine {
    /// A snapshot of what reports need from memory (every live identified
    /// involvement's profile key, the agencies, the partnership's scope),
    /// taken under the lock so that the store can then be read without it.
    pub(super) fn snapshot(&self, partnership: &[String]) -> Result<Snapshot, EngineError> {
        let guard = self.lock_state()?;
        let scope = Scope::new(&guard.facts, partnership);
        // People as the partnership sees them: the parts its own records
        // hold together (records outside it are never read here).
        let view = ScopedView::new(guard.linker.profiles().sealed(), &guard.facts, &scope);
        // People are counted only through involvements that carry an
        // identity: an unidentified perpetrator cannot be told apart from
        // another.
        let mut keys = HashMap::new();
        for record in guard.facts.records() {
            if !scope.allows(record.agency) {
                continue;
            }
            for &id in &record.involvements {
                if guard.facts.involvement(id).is_some_and(|i| i.identified) {
                    keys.insert(id, view.key(id));
                }
            }
        }
        drop(view);
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
    /// window, cannot be subtracted to reveal a small number; and so are a
    /// report of everyone's, so that it cannot be subtracted from the
    /// victims' and harmers' reports.
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
        // window would let the window's rounding be undone. So is a report
        // of everyone: victims + harmers − everyone, cell by cell, would
        // give the exact number of people who are both.
        let over_time = window.0.is_some() || window.1.is_some() || by.iter().any(|b| b.starts_with("period:"));
        let union = population == Population::All;
        if over_time || union {
            for row in &mut response.rows {
                round_all(&mut row.cells);
            }
            round_all(&mut response.row_totals);
            round_all(&mut response.column_totals);
            response.total = round_text(&response.total);
            if over_time {
                response.legend = rounded_legend(&response.legend);
            }
            if union {
                response.legend = format!("{}; {UNION_ROUNDED_LEGEND}", response.legend);
            }
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
        let Dimensions { mut dimensions, periods, multi, by_agency } = report_dimensions(by)?;
        let (keys, agencies, allowed) = self.snapshot(partnership)?;
        let in_scope = |agency: &str| agencies.iter().position(|(code, _)| code == agency).is_some_and(|n| allowed.get(n).copied().unwrap_or(false));
        // By agency: the partnership's agencies (or their types) as the
        // groups, and each record's group. Records from outside the
        // partnership are never read (above), so never counted.
        let groups = report_groups(partnership, &agencies, by_agency.map(|(_, kind)| kind))?;
        let group_of = |agency: &str| group_index(by_agency.map(|(_, kind)| kind), partnership, &agencies, &groups, agency);
        let mut scanned = Scanned::default();
        self.store.for_each_record(|agency, _, mut stored| {
            if !in_scope(agency) {
                return Ok(());
            }
            let record = crate::record::take_body(&mut stored)?;
            let day = record_day(&record);
            if is_outcome(&record) || !in_window(day) {
                return Ok(());
            }
            let group = group_of(agency);
            for (involvement, id) in record.involvements.iter().zip(&stored.involvement_ids) {
                let Some(role) = Role::in_case_from_number(involvement.role) else { continue };
                let Some(&key) = keys.get(id) else { continue };
                if !population.counts(role) {
                    continue;
                }
                let entry = involvement_answers(&record, involvement, day, &dimensions, |d| periods[d].is_some() || by_agency.is_some_and(|(a, _)| a == d));
                scanned.add(key, by_agency.is_some().then_some(group), day, entry);
            }
            Ok(())
        })?;
        let Scanned { per_group, group_first, answers, first_day } = scanned;
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
        Ok(plain_report(by, Table { rows, columns, counts }, population))
    }

    /// [`Engine::completeness`] as a panel may see it: small numbers
    /// suppressed (an agency sees its own unsuppressed).
    pub fn panel_completeness(&self, agencies: &[String]) -> Result<v1::CompletenessResponse, EngineError> {
        self.completeness(agencies).map(super::suppress_completeness)
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
        self.store.for_each_record(|agency, _, mut stored| {
            let Some((agency_type, records, completeness)) = per_agency.get_mut(agency) else { return Ok(()) };
            agency_type.clone_from(&stored.agency_type);
            let record = crate::record::take_body(&mut stored)?;
            if is_outcome(&record) {
                return Ok(());
            }
            *records += 1;
            let case_values: Vec<(String, Value)> = record.fields.iter().filter_map(|f| Some((f.field_id.clone(), answer_value(f)?))).collect();
            let case_answers: braid_template::Answers = case_values.iter().map(|(id, v)| (id.as_str(), v)).collect();
            completeness.record(template, case_items.iter().copied(), &case_answers);
            for involvement in &record.involvements {
                let Some(role) = Role::in_case_from_number(involvement.role) else { continue };
                let own: Vec<(String, Value)> = involvement.fields.iter().filter_map(|f| Some((f.field_id.clone(), answer_value(f)?))).collect();
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
        let scope = Scope::new(&guard.facts, partnership);
        let view = ScopedView::new(guard.linker.profiles().sealed(), &guard.facts, &scope);
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

/// The group (agency or agency type) of a record held by `agency`, in a
/// report by agency or agency type.
fn group_index(kind: Option<AgencyDimension>, partnership: &[String], agencies: &[(String, String)], groups: &[String], agency: &str) -> usize {
    match kind {
        Some(AgencyDimension::Agency) => partnership.iter().position(|a| a == agency).unwrap_or(0),
        Some(AgencyDimension::AgencyType) => {
            let agency_type = agencies.iter().find(|(c, _)| c == agency).map_or("agency", |(_, t)| type_name(t));
            groups.iter().position(|g| g == agency_type).unwrap_or(0)
        }
        None => 0,
    }
}

/// A dimension's labels as a table shows them: template items get "Not
/// known" and "Not recorded"; the case type and the period are always
/// recorded.
fn with_gaps((labels, field): &(Vec<String>, Option<&braid_template::Field>)) -> Vec<String> {
    let mut out = labels.to_vec();
    if field.is_some() {
        out.push("Not known".to_owned());
        out.push("Not recorded".to_owned());
    }
    out
}

/// What a report's scan of the records found.
#[derive(Default)]
struct Scanned {
    /// Per profile and group (agency or type) that knows it: its answers
    /// from that group's records alone.
    per_group: PerGroup,
    /// Per profile and group: its first case's day there.
    group_first: HashMap<(u64, usize), i32>,
    /// Per profile: answers per dimension.
    answers: HashMap<u64, Answers>,
    /// Per profile: its first case's day in the window.
    first_day: HashMap<u64, i32>,
}

impl Scanned {
    /// Adds one involvement's answers, dated `day`, to profile `key` (and
    /// to its `group`, in a report by agency).
    fn add(&mut self, key: u64, group: Option<usize>, day: i32, entry: Answers) {
        let first = self.first_day.entry(key).or_insert(day);
        *first = (*first).min(day);
        if let Some(group) = group {
            let first = self.group_first.entry((key, group)).or_insert(day);
            *first = (*first).min(day);
            let mine = self.per_group.entry((key, group)).or_insert_with(|| vec![Vec::new(); entry.len()]);
            for (d, found) in entry.iter().enumerate() {
                mine[d].extend_from_slice(found);
            }
        }
        let all = self.answers.entry(key).or_insert_with(|| vec![Vec::new(); entry.len()]);
        for (d, found) in entry.into_iter().enumerate() {
            all[d].extend(found);
        }
    }
}

/// A report's dimensions as asked for: each one's category labels and how
/// to read an answer (a period's labels come from the data), which is a
/// period, which (if any) is a multi-choice item and which (if any) is the
/// agency or its type.
struct Dimensions {
    dimensions: Vec<(Vec<String>, Option<&'static braid_template::Field>)>,
    periods: Vec<Option<Period>>,
    multi: Option<usize>,
    by_agency: Option<(usize, AgencyDimension)>,
}

/// Reads a report's dimensions, refusing what cannot be counted by.
fn report_dimensions(by: &[String]) -> Result<Dimensions, EngineError> {
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
            let period = Period::parse(unit).ok_or_else(|| {
                EngineError::InvalidRequest(format!("`{}`: a period is period:month, period:quarter or period:year", braid_template::quote(id)))
            })?;
            *periods.last_mut().expect("pushed") = Some(period);
            dimensions.push((Vec::new(), None));
            continue;
        }
        if id == "case_type" {
            dimensions.push((CaseType::ALL.iter().map(|c| c.name().to_owned()).collect(), None));
            continue;
        }
        let field =
            template.field(id).map_err(|_| EngineError::InvalidRequest(format!("`{}` is not a template item (or case_type)", braid_template::quote(id))))?;
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
    Ok(Dimensions { dimensions, periods, multi, by_agency })
}

/// The groups of a report by agency (the partnership's agencies) or by
/// agency type (their types, refused where a type merges several of its
/// agencies); none otherwise.
fn report_groups(partnership: &[String], agencies: &[(String, String)], kind: Option<AgencyDimension>) -> Result<Vec<String>, EngineError> {
    let groups: Vec<String> = match kind {
        None => Vec::new(),
        Some(AgencyDimension::Agency) => partnership.to_vec(),
        Some(AgencyDimension::AgencyType) => partnership
            .iter()
            .filter_map(|code| agencies.iter().find(|(c, _)| c == code))
            .map(|(_, agency_type)| type_name(agency_type).to_owned())
            .collect::<BTreeSet<String>>()
            .into_iter()
            .collect(),
    };
    // Types that merge several of the partnership's agencies would let
    // a panel subtract this report from the one by agency and find how
    // many children two agencies of one type share (A + B − type): by
    // type only where each type is one agency.
    if matches!(kind, Some(AgencyDimension::AgencyType)) {
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
    Ok(groups)
}

/// One involvement's answers per report dimension (a case type, a
/// single-choice category or whole-number band, every category a
/// multi-choice answer ticks, or "not known"), each dated `day`;
/// dimensions `from_elsewhere` (a period, the agency) are left empty.
fn involvement_answers(
    record: &RecordBody,
    involvement: &BodyInvolvement,
    day: i32,
    dimensions: &[(Vec<String>, Option<&braid_template::Field>)],
    from_elsewhere: impl Fn(usize) -> bool,
) -> Answers {
    let mut entry: Vec<Vec<(i32, Answer)>> = vec![Vec::new(); dimensions.len()];
    for (d, (labels, field)) in dimensions.iter().enumerate() {
        if from_elsewhere(d) {
            continue;
        }
        let answer = match field {
            None => CaseType::from_number(record.case_type).map(|c| Answer::Category(c as usize)),
            Some(field) => {
                let stored = record.fields.iter().chain(&involvement.fields).find(|f| f.field_id == field.id);
                match stored.and_then(answer_value) {
                    Some(Value::Single { code, .. }) => match field.category(code) {
                        Some(c) if c.not_known => Some(Answer::NotKnown),
                        Some(c) => labels.iter().position(|l| *l == c.label).map(Answer::Category),
                        None => None,
                    },
                    Some(Value::NotKnown) => Some(Answer::NotKnown),
                    Some(Value::Integer(n)) => field_bands(field).iter().position(|(low, high, _)| (*low..=*high).contains(&n)).map(Answer::Category),
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
    entry
}

/// A report by one or two dimensions whose categories do not overlap, as
/// published with disclosure control.
fn plain_report(by: &[String], table: Table, population: Population) -> v1::ReportResponse {
    let published = publish(&table);
    let text = |cells: &[braid_signals::report::Cell]| cells.iter().map(|c| c.text()).collect::<Vec<_>>();
    v1::ReportResponse {
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
