//! Counts over time: signal counts by period and outcome cohorts.

use super::*;

impl Engine {
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
                let view = ScopedView::new(state.linker.profiles().sealed(), &state.facts, &scope);
                let entered = braid_signals::case_type_cohort(&state.facts, &view, case_type, |a| scope.allows(a));
                (format!("children (victims, or displaying HSB) in a {} case, from its event date", case_type.name()), entered)
            }
        };
        let state = &*guard;
        let scope = Scope::new(&state.facts, partnership);
        let view = ScopedView::new(state.linker.profiles().sealed(), &state.facts, &scope);
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
}
