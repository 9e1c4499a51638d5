//! How current each agency's records are, and where agencies disagree.

use super::*;

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
        self.store.for_each_record(|agency, _, mut stored| {
            let Some(row) = rows.iter_mut().find(|row| row.0 == agency) else { return Ok(()) };
            let record = crate::record::take_body(&mut stored)?;
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

    /// [`Engine::disagreements`] before rounding.
    fn disagreements_exact(&self, partnership: &[String], request: &v1::DisagreementsRequest) -> Result<v1::DisagreementsResponse, EngineError> {
        let ids: Vec<String> = if request.items.is_empty() { DISAGREEMENT_ITEMS.iter().map(|&i| i.to_owned()).collect() } else { request.items.clone() };
        if ids.len() > MOST_DISAGREEMENT_ITEMS {
            return Err(EngineError::InvalidRequest(format!("items: at most {MOST_DISAGREEMENT_ITEMS} in one report")));
        }
        let items = disagreement_items(&ids)?;
        let (since, until) = window_days(request.since.as_ref(), request.until.as_ref())?;
        let windowed = since.is_some() || until.is_some();
        let in_window = |day: i32| (!windowed || day != 0) && since.is_none_or(|s| day >= s) && until.is_none_or(|u| day <= u);
        let (keys, agencies, allowed) = self.snapshot(partnership)?;
        let in_scope = |agency: &str| agencies.iter().position(|(code, _)| code == agency).is_some_and(|n| allowed.get(n).copied().unwrap_or(false));
        // Per (profile, agency of the partnership): what its records say,
        // item by item.
        let mut said: HashMap<(u64, usize), Vec<Said>> = HashMap::new();
        self.store.for_each_record(|agency, _, mut stored| {
            let Some(position) = partnership.iter().position(|a| a == agency).filter(|_| in_scope(agency)) else { return Ok(()) };
            let record = crate::record::take_body(&mut stored)?;
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
                note_said(entry, &record, involvement, day, &items);
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

/// Each item of a disagreements report: its template field (none for the
/// case type); only single- and multi-choice items can disagree.
fn disagreement_items(ids: &[String]) -> Result<Vec<Option<&'static braid_template::Field>>, EngineError> {
    let template = Template::standard();
    // Each item: its template field (none for the case type).
    let mut items: Vec<Option<&braid_template::Field>> = Vec::new();
    for id in ids {
        if id == "case_type" {
            items.push(None);
            continue;
        }
        let field = template
            .field(id)
            .map_err(|_| EngineError::InvalidRequest(format!("items: `{}` is not a template item (or case_type)", braid_template::quote(id))))?;
        if !matches!(field.kind, FieldKind::Single | FieldKind::Multi) {
            return Err(EngineError::InvalidRequest(format!("items: `{id}` is not a single-choice or multi-choice item; records disagree only on categories")));
        }
        if field.kind == FieldKind::Multi && field.categories.len() > 64 {
            return Err(EngineError::InvalidRequest(format!("items: `{id}` has more categories than can be compared (64)")));
        }
        items.push(Some(field));
    }
    Ok(items)
}

/// Adds what one victim involvement's record says, item by item, to
/// `entry`: its known category or "not known" with the day, or the
/// categories it ticks.
fn note_said(entry: &mut [Said], record: &RecordBody, involvement: &BodyInvolvement, day: i32, items: &[Option<&braid_template::Field>]) {
    for (item, field) in items.iter().enumerate() {
        let Some(field) = field else {
            if let Some(case_type) = CaseType::from_number(record.case_type) {
                entry[item].answers.push((day, Answer::Category(case_type as usize)));
            }
            continue;
        };
        let stored = involvement.fields.iter().chain(&record.fields).find(|f| f.field_id == field.id);
        match stored.and_then(answer_value) {
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
