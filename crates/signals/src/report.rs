//! Counts of distinct profiles with disclosure control.
//!
//! Every count from 1 to 4 is published as `<5` (primary suppression).
//! Totals would then give small counts away (a row total minus the shown
//! cells), so further cells are withheld (`*`, secondary suppression) until
//! no count from 1 to 4 can be worked out from the rows, columns and
//! totals, knowing `<5` means 1–4 and `*` means 5 or more. That is checked
//! quickly first (bounds each total places on each hidden entry, and
//! combining totals linearly), then exactly: for every count of 1 to 4 a
//! search finds a second table of whole numbers that fits everything
//! published and gives that count another value (one unit moved around a
//! rectangle of hidden cells, else a bounded search; a count for which none
//! is found is treated as exposed). Zeros are shown: a zero discloses no
//! one.
//!
//! One-way and two-way reports of the same people agree, so that holding
//! both gives nothing away that either withheld. A one-way table (one
//! dimension) is published on its own: its grand total as it is (`<5` when
//! 1–4, never `*`, because every report on the same people shows it), its
//! cells with primary and secondary suppression among the cells. A two-way
//! table takes its row totals from the one-way table of its row dimension,
//! its column totals from the one-way table of its column dimension (the
//! same function, so the same result), the same grand total, and then
//! withholds interior cells only: a margin reads exactly as the one-way
//! table shows it.
//!
//! Where withholding single cells cannot protect a table without touching
//! its margins (4 girls and 4 boys: a total of 8 gives both away; or a row
//! whose only non-zero cell is known from its total), a whole row or column
//! of the body is withheld, zeros included, and as a last resort the whole
//! body. A `*` in a row or column of a two-way table's body that is all
//! `*`, or in a one-way table or a margin that is all `*`, says nothing
//! about the count behind it, not even that it is 5 or more; anywhere else
//! it stands for 5 or more (and the checks assume an attacker knows which
//! is which).
//!
//! [`publish_overlaps`] does the same for a matrix of people known to pairs
//! of groups (agencies), where differences such as "known to A but not B"
//! are protected as well.

mod overlap;

pub use overlap::{publish_by_agency, publish_multi, publish_overlaps, ByAgency, Multi};

/// What a panel sees of one count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    /// Shown as is (0 or at least 5, or not protecting anything).
    Count(u64),
    /// 1 to 4, shown as `<5`.
    Small,
    /// Withheld so that a `<5` cannot be worked out from totals: 5 or more,
    /// unless its whole row or column (or body, or margin) is withheld.
    Withheld,
}

impl Cell {
    /// As printed: the count, `<5` or `*`.
    pub fn text(&self) -> String {
        match self {
            Cell::Count(n) => n.to_string(),
            Cell::Small => "<5".to_owned(),
            Cell::Withheld => "*".to_owned(),
        }
    }
}

/// Counts over time (a date window or by period) are rounded down to a
/// multiple of this.
pub const ROUNDING_BASE: u64 = 5;

/// What rounding means, added to a legend when a report is over a window.
pub const ROUNDED_LEGEND: &str = "counts over time (a date window or by period) are rounded down to a multiple of 5 (5 to 9 shown as 5, 10 to 14 as 10), so that reports of overlapping windows (January to September, then January to October) cannot be subtracted to reveal a small number";

/// What a report of everyone's rounding means: it counts the union of two
/// populations a panel can also ask for.
pub const UNION_ROUNDED_LEGEND: &str = "counts of everyone (victims and harmers together) are rounded down to a multiple of 5, so that they cannot be subtracted from the victims' and the harmers' reports to reveal the few people who are both";

/// A published count as a report over a date window shows it: 0 and `<5`
/// as they are, 5 or more rounded down to a multiple of [`ROUNDING_BASE`]
/// (so no count of 5 or more reads as `<5` or 0). Every shown count then
/// stands for five possible values, and two reports of nested windows
/// differ by a range of values, never by an exact small number. (Rounding
/// to the nearest 5 leaves only three values, 5 to 7, behind a shown 5, and
/// the attacker test pins differences through them; rounding down does
/// not.)
pub fn round_count(count: u64) -> u64 {
    if count < ROUNDING_BASE {
        count
    } else {
        count / ROUNDING_BASE * ROUNDING_BASE
    }
}

/// [`round_count`] on a published cell's text (`12`, `<5` or `*`):
/// markers are kept as they are.
pub fn round_text(text: &str) -> String {
    match text.parse::<u64>() {
        Ok(count) => round_count(count).to_string(),
        Err(_) => text.to_owned(),
    }
}

/// What the markers mean, for printing under a table.
pub const LEGEND: &str = "<5: between 1 and 4 people; *: withheld so that no <5 can be worked out from the totals (where a whole row or column is *, it could hide any number, 0 included)";

/// What the markers mean in a table by a multi-choice item, for printing
/// under it.
pub const MULTI_LEGEND: &str = "<5: between 1 and 4 people; *: withheld so that no <5, and no small number of people with one category but not another, can be worked out from the other cells and totals (where a whole row, column or table is *, it could hide any number, 0 included); a person is counted in every category their records tick, so those categories add up to more than the distinct people in the totals";

/// What the markers mean in a table by agency (or agency type), for
/// printing under it.
pub const AGENCY_LEGEND: &str = "<5: between 1 and 4 people; *: withheld so that no <5, and no small number of people known to one agency but not another, or with one answer at one agency but not another, can be worked out from the other cells and totals (where a whole row or table is *, it could hide any number, 0 included); a person is counted under every agency whose records name them, so the agencies add up to more than the distinct people in the total";

/// A table of counts to publish: rows by one dimension, columns by another
/// (one column when there is a single dimension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// Row category labels.
    pub rows: Vec<String>,
    /// Column category labels.
    pub columns: Vec<String>,
    /// `counts[row][column]`.
    pub counts: Vec<Vec<u64>>,
}

/// A table as published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// Row category labels.
    pub rows: Vec<String>,
    /// Column category labels.
    pub columns: Vec<String>,
    /// `cells[row][column]`.
    pub cells: Vec<Vec<Cell>>,
    /// One per row.
    pub row_totals: Vec<Cell>,
    /// One per column.
    pub column_totals: Vec<Cell>,
    /// The grand total.
    pub total: Cell,
}

/// A count as primary suppression shows it.
fn primary(value: u64) -> Cell {
    if (1..=4).contains(&value) {
        Cell::Small
    } else {
        Cell::Count(value)
    }
}

/// The entries of a two-way table as one list: cells row by row, then row
/// totals, column totals and the grand total; and the equations that hold
/// between them (each: entries that add up to a total).
struct Layout {
    rows: usize,
    columns: usize,
}

impl Layout {
    fn cell(&self, r: usize, c: usize) -> usize {
        r * self.columns + c
    }
    fn row_total(&self, r: usize) -> usize {
        self.rows * self.columns + r
    }
    fn column_total(&self, c: usize) -> usize {
        self.rows * self.columns + self.rows + c
    }
    fn total(&self) -> usize {
        self.rows * self.columns + self.rows + self.columns
    }
    fn len(&self) -> usize {
        self.total() + 1
    }
    /// (parts, total) for every row, column and the two margins.
    fn equations(&self) -> Vec<(Vec<usize>, usize)> {
        let mut out = Vec::new();
        for r in 0..self.rows {
            out.push(((0..self.columns).map(|c| self.cell(r, c)).collect(), self.row_total(r)));
        }
        for c in 0..self.columns {
            out.push(((0..self.rows).map(|r| self.cell(r, c)).collect(), self.column_total(c)));
        }
        out.push(((0..self.rows).map(|r| self.row_total(r)).collect(), self.total()));
        out.push(((0..self.columns).map(|c| self.column_total(c)).collect(), self.total()));
        out
    }

    /// Moves that keep every total, through entry `p`: one more in a cell,
    /// one fewer in another cell of its row and of its column, and one more
    /// where those cross (a rectangle); for a row total, one more in a cell
    /// of its row and one fewer in the same column of another row, with
    /// the two row totals (and likewise for a column total).
    fn moves(&self, p: usize) -> Vec<Vec<(usize, i64)>> {
        let (rows, columns) = (self.rows, self.columns);
        let mut out = Vec::new();
        if p < rows * columns {
            let (r, c) = (p / columns, p % columns);
            for r2 in (0..rows).filter(|&r2| r2 != r) {
                for c2 in (0..columns).filter(|&c2| c2 != c) {
                    out.push(vec![(p, 1), (self.cell(r, c2), -1), (self.cell(r2, c), -1), (self.cell(r2, c2), 1)]);
                }
            }
        } else if p < self.column_total(0) {
            let r = p - self.row_total(0);
            for r2 in (0..rows).filter(|&r2| r2 != r) {
                for c in 0..columns {
                    out.push(vec![(p, 1), (self.cell(r, c), 1), (self.cell(r2, c), -1), (self.row_total(r2), -1)]);
                }
            }
        } else if p < self.total() {
            let c = p - self.column_total(0);
            for c2 in (0..columns).filter(|&c2| c2 != c) {
                for r in 0..rows {
                    out.push(vec![(p, 1), (self.cell(r, c), 1), (self.cell(r, c2), -1), (self.column_total(c2), -1)]);
                }
            }
        }
        out
    }
}

/// Bounds an attacker can place on every entry from the published table.
/// `floors[p]`: the least a `*` at `p` can stand for (5, or 0 in a row or
/// column withheld whole).
fn bounds(values: &[u64], floors: &[u64], status: &[Cell], equations: &[(Vec<usize>, usize)]) -> Vec<(u64, u64)> {
    let ceiling = values.iter().copied().max().unwrap_or(0).saturating_mul(4).max(64);
    let mut b: Vec<(u64, u64)> = status
        .iter()
        .zip(values)
        .zip(floors)
        .map(|((cell, &value), &floor)| match cell {
            Cell::Count(_) => (value, value),
            Cell::Small => (1, 4),
            Cell::Withheld => (floor, ceiling),
        })
        .collect();
    for _ in 0..64 {
        let mut changed = false;
        for (parts, total) in equations {
            // total = sum(parts): each side bounds the other.
            let low: u64 = parts.iter().map(|&p| b[p].0).sum();
            let high: u64 = parts.iter().map(|&p| b[p].1).sum();
            let t = b[*total];
            let new_t = (t.0.max(low), t.1.min(high));
            if new_t != t {
                b[*total] = new_t;
                changed = true;
            }
            for &p in parts {
                let others_low = low - b[p].0;
                let others_high = high - b[p].1;
                let lo = b[p].0.max(b[*total].0.saturating_sub(others_high));
                let hi = b[p].1.min(b[*total].1.saturating_sub(others_low));
                if (lo, hi) != b[p] && lo <= hi {
                    b[p] = (lo, hi);
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    b
}

/// Hidden entries whose value follows from a linear combination of the
/// totals, whatever the values.
fn linearly_determined(hidden: &[usize], equations: &[(Vec<usize>, usize)]) -> Vec<usize> {
    let column = |entry: usize| hidden.iter().position(|&h| h == entry);
    // Each equation over the hidden entries: +1 for parts, -1 for the total.
    let mut rows: Vec<Vec<f64>> = Vec::new();
    for (parts, total) in equations {
        let mut row = vec![0.0; hidden.len()];
        for &p in parts {
            if let Some(i) = column(p) {
                row[i] += 1.0;
            }
        }
        if let Some(i) = column(*total) {
            row[i] -= 1.0;
        }
        if row.iter().any(|v| *v != 0.0) {
            rows.push(row);
        }
    }
    // Reduced row echelon form.
    let mut pivots = Vec::new();
    let mut rank = 0;
    for col in 0..hidden.len() {
        let Some(pivot) = (rank..rows.len()).find(|&r| rows[r][col].abs() > 1e-9) else {
            continue;
        };
        rows.swap(rank, pivot);
        let scale = rows[rank][col];
        for v in rows[rank].iter_mut() {
            *v /= scale;
        }
        for r in 0..rows.len() {
            if r != rank && rows[r][col].abs() > 1e-9 {
                let factor = rows[r][col];
                let pivot_row = rows[rank].clone();
                for (value, pivot) in rows[r].iter_mut().zip(&pivot_row) {
                    *value -= factor * pivot;
                }
            }
        }
        pivots.push(col);
        rank += 1;
    }
    // A hidden entry is determined when a row of the reduced form names it
    // alone.
    let mut out = Vec::new();
    for (r, &col) in pivots.iter().enumerate() {
        if rows[r].iter().enumerate().all(|(c, v)| c == col || v.abs() < 1e-9) {
            out.push(hidden[col]);
        }
    }
    out
}

/// Most search nodes spent looking for a second table (below); past it, a
/// count is taken as worked out.
const SEARCH_BUDGET: usize = 20_000;

/// The strongest attacker, for one entry: searches for a whole table of
/// non-negative whole numbers consistent with everything published (shown
/// counts, `<5`, `*` and every total) in which the entry has another value
/// than its true one. Finding one proves the entry cannot be worked out;
/// not finding one within the budget is taken as the entry being exposed.
struct Search<'a> {
    equations: &'a [(Vec<usize>, usize)],
    truth: &'a [u64],
    budget: usize,
}

impl Search<'_> {
    /// Narrows domains along the equations; false when one empties.
    fn narrow(&self, d: &mut [(u64, u64)]) -> bool {
        for _ in 0..200 {
            let mut changed = false;
            for (parts, total) in self.equations {
                let low: u64 = parts.iter().map(|&p| d[p].0).sum();
                let high: u64 = parts.iter().map(|&p| d[p].1).sum();
                let t = (d[*total].0.max(low), d[*total].1.min(high));
                if t.0 > t.1 {
                    return false;
                }
                if t != d[*total] {
                    d[*total] = t;
                    changed = true;
                }
                for &p in parts {
                    let lo = d[p].0.max(t.0.saturating_sub(high - d[p].1));
                    let hi = d[p].1.min(t.1.saturating_sub(low - d[p].0));
                    if lo > hi {
                        return false;
                    }
                    if (lo, hi) != d[p] {
                        d[p] = (lo, hi);
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        true
    }

    /// Whether some whole table fits the domains; `None` when the budget
    /// ran out before an answer.
    fn feasible(&mut self, mut d: Vec<(u64, u64)>) -> Option<bool> {
        if self.budget == 0 {
            return None;
        }
        self.budget -= 1;
        if !self.narrow(&mut d) {
            return Some(false);
        }
        let Some(p) = (0..d.len()).filter(|&p| d[p].0 < d[p].1).min_by_key(|&p| d[p].1 - d[p].0) else {
            return Some(self.equations.iter().all(|(parts, total)| parts.iter().map(|&p| d[p].0).sum::<u64>() == d[*total].0));
        };
        // Stay at the true value first: a second table usually differs
        // from the true one in a few entries only.
        let (lo, hi) = d[p];
        let t = self.truth[p].clamp(lo, hi);
        let mut branches = vec![(t, t)];
        if t > lo {
            branches.push((lo, t - 1));
        }
        if t < hi {
            branches.push((t + 1, hi));
        }
        let mut unknown = false;
        for branch in branches {
            let mut next = d.clone();
            next[p] = branch;
            match self.feasible(next) {
                Some(true) => return Some(true),
                Some(false) => {}
                None => unknown = true,
            }
        }
        if unknown {
            None
        } else {
            Some(false)
        }
    }
}

/// A table's entries, the equations between them, and moves that keep
/// every equation (each: entries and how much they change), by the entry
/// they move.
struct Problem<'a> {
    values: &'a [u64],
    equations: Vec<(Vec<usize>, usize)>,
    moves: Moves<'a>,
}

/// Moves through an entry that keep every equation.
type Moves<'a> = Box<dyn Fn(usize) -> Vec<Vec<(usize, i64)>> + 'a>;

impl Problem<'_> {
    /// What an attacker knows of each entry from its marker alone.
    fn domains(&self, floors: &[u64], status: &[Cell]) -> Vec<(u64, u64)> {
        // Every entry is part of the grand total, the largest value.
        let cap = self.values.iter().copied().max().unwrap_or(0).max(4);
        status
            .iter()
            .zip(self.values)
            .zip(floors)
            .map(|((cell, &value), &floor)| match cell {
                Cell::Count(_) => (value, value),
                Cell::Small => (1, 4),
                Cell::Withheld => (floor, cap.max(floor)),
            })
            .collect()
    }

    /// Entries an attacker could work out exactly by bounds or linearly
    /// (quick, and not every way there is).
    fn determined(&self, floors: &[u64], status: &[Cell]) -> Vec<bool> {
        let b = bounds(self.values, floors, status, &self.equations);
        let mut out: Vec<bool> = b.iter().map(|(lo, hi)| lo == hi).collect();
        let hidden: Vec<usize> = (0..status.len()).filter(|&p| status[p] != Cell::Count(self.values[p])).collect();
        for p in linearly_determined(&hidden, &self.equations) {
            out[p] = true;
        }
        out
    }

    /// Whether a whole table consistent with the publication gives entry
    /// `position` another value than its true one: first one move away
    /// from the true table, else by search.
    fn uncertain(&self, floors: &[u64], status: &[Cell], position: usize) -> bool {
        let domains = self.domains(floors, status);
        let fits = |p: usize, delta: i64| {
            let v = self.values[p] as i64 + delta;
            v >= 0 && (domains[p].0..=domains[p].1).contains(&(v as u64))
        };
        let one_move = (self.moves)(position).iter().any(|step| [1, -1].iter().any(|sign| step.iter().all(|&(p, delta)| fits(p, sign * delta))));
        if one_move {
            return true;
        }
        let mut search = Search { equations: &self.equations, truth: self.values, budget: SEARCH_BUDGET };
        let mut narrowed = domains;
        if !search.narrow(&mut narrowed) {
            return false;
        }
        let (lo, hi) = narrowed[position];
        let v = self.values[position];
        let mut others: Vec<u64> = (lo..=hi).filter(|&w| w != v).collect();
        others.sort_by_key(|&w| w.abs_diff(v));
        others.into_iter().any(|w| {
            let mut d = narrowed.clone();
            d[position] = (w, w);
            search.feasible(d) == Some(true)
        })
    }

    /// The first count from 1 to 4 an attacker could work out, if any.
    fn exposed(&self, floors: &[u64], status: &[Cell]) -> Option<usize> {
        let small: Vec<usize> = (0..status.len()).filter(|&p| (1..=4).contains(&self.values[p])).collect();
        let known = self.determined(floors, status);
        small.iter().copied().find(|&p| known[p]).or_else(|| small.iter().copied().find(|&p| !self.uncertain(floors, status, p)))
    }

    /// Whether entry `position` is safe with `status` and `floors`.
    fn safe(&self, floors: &[u64], status: &[Cell], position: usize) -> bool {
        !self.determined(floors, status)[position] && self.uncertain(floors, status, position)
    }

    /// Secondary suppression: withholds shown non-zero entries among
    /// `eligible` until no count from 1 to 4 can be worked out; the other
    /// entries keep the status they came with. Where withholding single
    /// entries cannot do it, a whole group (a row or a column of the body)
    /// is withheld, zeros included, and its `*`s then stand for any count
    /// (`floors` 0). The last resort is every group.
    fn protect(&self, floors: &mut [u64], status: &mut [Cell], eligible: &[bool], groups: &[Vec<usize>]) {
        let values = self.values;
        while let Some(position) = self.exposed(floors, status) {
            // Withhold the smallest shown non-zero entry that, on its own,
            // makes the exposed entry uncertain again; failing that, the
            // smallest in an equation that holds the exposed entry, else
            // the smallest anywhere, and go round again.
            let shown = |p: usize, status: &[Cell]| eligible[p] && status[p] == Cell::Count(values[p]) && values[p] > 0;
            let order = |p: usize| (values[p], p);
            let mut candidates: Vec<usize> = (0..status.len()).filter(|&p| shown(p, status)).collect();
            candidates.sort_by_key(|&p| order(p));
            let next = candidates
                .iter()
                .copied()
                .find(|&p| {
                    let mut trial = status.to_vec();
                    trial[p] = Cell::Withheld;
                    self.safe(floors, &trial, position)
                })
                .or_else(|| {
                    self.equations
                        .iter()
                        .filter(|(parts, total)| *total == position || parts.contains(&position))
                        .flat_map(|(parts, total)| parts.iter().copied().chain(std::iter::once(*total)))
                        .filter(|&p| shown(p, status))
                        .min_by_key(|&p| order(p))
                })
                .or_else(|| candidates.first().copied());
            if let Some(p) = next {
                status[p] = Cell::Withheld;
                continue;
            }
            // No single entry left: withhold a whole group, the one with
            // the fewest people that makes the exposed entry uncertain,
            // else one that holds it, else any.
            let open: Vec<usize> = (0..groups.len()).filter(|&g| groups[g].iter().any(|&p| floors[p] != 0)).collect();
            let withhold = |g: usize, status: &mut [Cell], floors: &mut [u64]| {
                for &p in &groups[g] {
                    status[p] = Cell::Withheld;
                    floors[p] = 0;
                }
            };
            let people = |g: usize| (groups[g].iter().map(|&p| values[p]).sum::<u64>(), g);
            let mut by_people = open.clone();
            by_people.sort_by_key(|&g| people(g));
            let next = by_people
                .iter()
                .copied()
                .find(|&g| {
                    let (mut trial, mut trial_floors) = (status.to_vec(), floors.to_vec());
                    withhold(g, &mut trial, &mut trial_floors);
                    self.safe(&trial_floors, &trial, position)
                })
                .or_else(|| by_people.iter().copied().find(|&g| groups[g].contains(&position)))
                .or_else(|| by_people.first().copied());
            match next {
                Some(g) => withhold(g, status, floors),
                // Every group is withheld: nothing in the body is shown.
                None => return,
            }
        }
    }
}

/// A one-way table as published: its cells, its total, and what a `*`
/// among its cells can stand for at least.
struct OneWay {
    cells: Vec<Cell>,
    total: Cell,
    floors: Vec<u64>,
}

/// Publishes one dimension: the total as it is (never `*`), the cells with
/// primary and secondary suppression among themselves, or all `*` where
/// that cannot protect them.
fn one_way(counts: &[u64]) -> OneWay {
    let k = counts.len();
    let mut values = counts.to_vec();
    values.push(counts.iter().sum());
    let mut status: Vec<Cell> = values.iter().map(|&v| primary(v)).collect();
    let mut floors = vec![5; k + 1];
    let mut eligible = vec![true; k + 1];
    eligible[k] = false;
    let problem = Problem {
        values: &values,
        equations: vec![((0..k).collect(), k)],
        // One more in a cell, one fewer in another.
        moves: Box::new(move |p| {
            if p >= k {
                return Vec::new();
            }
            (0..k).filter(|&q| q != p).map(|q| vec![(p, 1), (q, -1)]).collect()
        }),
    };
    problem.protect(&mut floors, &mut status, &eligible, &[(0..k).collect()]);
    OneWay { cells: status[..k].to_vec(), total: status[k], floors: floors[..k].to_vec() }
}

/// Publishes a table: primary suppression of 1–4, then secondary
/// suppression until no `<5` can be recovered from the totals. A table with
/// one row or one column is a one-way table; a two-way table's margins are
/// the one-way tables of its two dimensions, as published on their own.
pub fn publish(table: &Table) -> Published {
    let (rows, columns) = (table.rows.len(), table.columns.len());
    let count = |r: usize, c: usize| table.counts.get(r).and_then(|row| row.get(c)).copied().unwrap_or(0);
    let mut out = Published {
        rows: table.rows.clone(),
        columns: table.columns.clone(),
        cells: vec![Vec::new(); rows],
        row_totals: vec![Cell::Count(0); rows],
        column_totals: vec![Cell::Count(0); columns],
        total: Cell::Count(0),
    };
    if rows == 0 || columns == 0 {
        out.cells = vec![vec![Cell::Count(0); columns]; rows];
        return out;
    }
    if columns == 1 || rows == 1 {
        let body: Vec<u64> = if columns == 1 { (0..rows).map(|r| count(r, 0)).collect() } else { (0..columns).map(|c| count(0, c)).collect() };
        let one = one_way(&body);
        if columns == 1 {
            out.cells = one.cells.iter().map(|&c| vec![c]).collect();
            out.row_totals = one.cells;
            out.column_totals = vec![one.total];
        } else {
            out.cells = vec![one.cells.clone()];
            out.column_totals = one.cells;
            out.row_totals = vec![one.total];
        }
        out.total = one.total;
        return out;
    }
    let layout = Layout { rows, columns };
    let mut values = vec![0u64; layout.len()];
    for r in 0..rows {
        for c in 0..columns {
            let v = count(r, c);
            values[layout.cell(r, c)] = v;
            values[layout.row_total(r)] += v;
            values[layout.column_total(c)] += v;
            values[layout.total()] += v;
        }
    }
    let by_rows = one_way(&values[layout.row_total(0)..layout.row_total(0) + rows]);
    let by_columns = one_way(&values[layout.column_total(0)..layout.column_total(0) + columns]);
    let mut status: Vec<Cell> = values.iter().map(|&v| primary(v)).collect();
    let mut floors = vec![5u64; layout.len()];
    for r in 0..rows {
        status[layout.row_total(r)] = by_rows.cells[r];
        floors[layout.row_total(r)] = by_rows.floors[r];
    }
    for c in 0..columns {
        status[layout.column_total(c)] = by_columns.cells[c];
        floors[layout.column_total(c)] = by_columns.floors[c];
    }
    status[layout.total()] = by_rows.total;
    let interior = rows * columns;
    let eligible: Vec<bool> = (0..layout.len()).map(|p| p < interior).collect();
    let groups: Vec<Vec<usize>> = (0..rows)
        .map(|r| (0..columns).map(|c| layout.cell(r, c)).collect())
        .chain((0..columns).map(|c| (0..rows).map(|r| layout.cell(r, c)).collect()))
        .collect();
    let problem = Problem { values: &values, equations: layout.equations(), moves: Box::new(|p| layout.moves(p)) };
    problem.protect(&mut floors, &mut status, &eligible, &groups);
    out.cells = (0..rows).map(|r| (0..columns).map(|c| status[layout.cell(r, c)]).collect()).collect();
    out.row_totals = (0..rows).map(|r| status[layout.row_total(r)]).collect();
    out.column_totals = (0..columns).map(|c| status[layout.column_total(c)]).collect();
    out.total = status[layout.total()];
    out
}

/// One profile's answer to a report dimension, from one of its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// A category, by its index among the dimension's categories.
    Category(usize),
    /// Recorded as not known.
    NotKnown,
}

/// One value per profile: the most recent record's known answer, else "not
/// known" if any record said so, else not recorded. `answers` are (day,
/// answer) from the profile's records. Returns an index into the
/// dimension's categories, `categories` for not known and `categories + 1`
/// for not recorded.
pub fn resolve(answers: &[(i32, Answer)], categories: usize) -> usize {
    let latest = answers
        .iter()
        .filter_map(|(day, answer)| match answer {
            Answer::Category(c) => Some((*day, *c)),
            Answer::NotKnown => None,
        })
        .max_by_key(|(day, c)| (*day, std::cmp::Reverse(*c)));
    match latest {
        Some((_, c)) => c.min(categories),
        None if answers.iter().any(|(_, a)| *a == Answer::NotKnown) => categories,
        None => categories + 1,
    }
}

#[cfg(test)]
mod tests;
