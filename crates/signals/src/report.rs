//! Counts of distinct profiles with disclosure control.
//!
//! Every count from 1 to 4 is published as `<5` (primary suppression).
//! Totals would then give small counts away (a row total minus the shown
//! cells), so further cells are withheld (`*`, secondary suppression) until
//! no `<5` can be worked out from any row, column or grand total: neither
//! by bounds reasoning (propagating what each total allows each hidden
//! entry, knowing `<5` means 1–4 and `*` means 5 or more) nor by combining
//! totals linearly. Zeros are shown: a zero discloses no one.

/// What a panel sees of one count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    /// Shown as is (0 or at least 5, or not protecting anything).
    Count(u64),
    /// 1 to 4, shown as `<5`.
    Small,
    /// Withheld so that a `<5` cannot be worked out from totals.
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

/// What the markers mean, for printing under a table.
pub const LEGEND: &str =
    "<5: between 1 and 4 people; *: withheld so that no <5 can be worked out from the totals";

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

/// The table's entries as one list: cells row by row, then row totals,
/// column totals and the grand total; and the equations that hold between
/// them (each: entries that add up to a total).
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
    /// (parts, total) for every row, column and the two margins. With one
    /// column the row totals are the cells themselves (and likewise with
    /// one row): they are published as the cells are and take part in no
    /// equation of their own.
    fn equations(&self) -> Vec<(Vec<usize>, usize)> {
        let mut out = Vec::new();
        if self.columns > 1 {
            for r in 0..self.rows {
                out.push((
                    (0..self.columns).map(|c| self.cell(r, c)).collect(),
                    self.row_total(r),
                ));
            }
            out.push((
                (0..self.rows).map(|r| self.row_total(r)).collect(),
                self.total(),
            ));
        }
        if self.rows > 1 || self.columns == 1 {
            for c in 0..self.columns {
                out.push((
                    (0..self.rows).map(|r| self.cell(r, c)).collect(),
                    self.column_total(c),
                ));
            }
            out.push((
                (0..self.columns).map(|c| self.column_total(c)).collect(),
                self.total(),
            ));
        }
        out
    }

    /// The entry a mirrored total copies, if it is one.
    fn mirror_of(&self, position: usize) -> Option<usize> {
        let cells = self.rows * self.columns;
        if self.columns == 1 && (cells..cells + self.rows).contains(&position) {
            return Some(self.cell(position - cells, 0));
        }
        if self.rows == 1
            && self.columns > 1
            && (cells + self.rows..cells + self.rows + self.columns).contains(&position)
        {
            return Some(self.cell(0, position - cells - self.rows));
        }
        None
    }
}

/// Bounds an attacker can place on every entry from the published table.
fn bounds(values: &[u64], status: &[Cell], equations: &[(Vec<usize>, usize)]) -> Vec<(u64, u64)> {
    let ceiling = values
        .iter()
        .copied()
        .max()
        .unwrap_or(0)
        .saturating_mul(4)
        .max(64);
    let mut b: Vec<(u64, u64)> = status
        .iter()
        .zip(values)
        .map(|(cell, &value)| match cell {
            Cell::Count(_) => (value, value),
            Cell::Small => (1, 4),
            Cell::Withheld => (5, ceiling),
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
        if rows[r]
            .iter()
            .enumerate()
            .all(|(c, v)| c == col || v.abs() < 1e-9)
        {
            out.push(hidden[col]);
        }
    }
    out
}

/// Whether an attacker could work out entry `position` exactly.
fn determined(
    values: &[u64],
    status: &[Cell],
    equations: &[(Vec<usize>, usize)],
    position: usize,
) -> bool {
    let b = bounds(values, status, equations);
    if b[position].0 == b[position].1 {
        return true;
    }
    let hidden: Vec<usize> = (0..status.len())
        .filter(|&p| status[p] != Cell::Count(values[p]))
        .collect();
    linearly_determined(&hidden, equations).contains(&position)
}

/// The first `<5` entry an attacker could work out, if any.
fn exposed(values: &[u64], status: &[Cell], equations: &[(Vec<usize>, usize)]) -> Option<usize> {
    let b = bounds(values, status, equations);
    if let Some(p) = (0..status.len()).find(|&p| status[p] == Cell::Small && b[p].0 == b[p].1) {
        return Some(p);
    }
    let hidden: Vec<usize> = (0..status.len())
        .filter(|&p| status[p] != Cell::Count(values[p]))
        .collect();
    linearly_determined(&hidden, equations)
        .into_iter()
        .find(|&p| status[p] == Cell::Small)
}

/// Publishes a table: primary suppression of 1–4, then secondary
/// suppression until no `<5` can be recovered from the totals.
pub fn publish(table: &Table) -> Published {
    let layout = Layout {
        rows: table.rows.len(),
        columns: table.columns.len(),
    };
    let mut values = vec![0u64; layout.len()];
    for r in 0..layout.rows {
        for c in 0..layout.columns {
            let v = table
                .counts
                .get(r)
                .and_then(|row| row.get(c))
                .copied()
                .unwrap_or(0);
            values[layout.cell(r, c)] = v;
            values[layout.row_total(r)] += v;
            values[layout.column_total(c)] += v;
            values[layout.total()] += v;
        }
    }
    let equations = layout.equations();
    let mut status: Vec<Cell> = values
        .iter()
        .map(|&v| {
            if (1..=4).contains(&v) {
                Cell::Small
            } else {
                Cell::Count(v)
            }
        })
        .collect();
    let interior = layout.rows * layout.columns;
    while let Some(position) = exposed(&values, &status, &equations) {
        // Withhold the smallest shown non-zero entry that, on its own,
        // makes the exposed entry uncertain again (interior cells before
        // totals); failing that, the smallest in an equation that holds the
        // exposed entry, and go round again.
        let shown = |p: usize, status: &[Cell]| {
            status[p] == Cell::Count(values[p]) && values[p] > 0 && layout.mirror_of(p).is_none()
        };
        let order = |p: usize| (p >= interior, values[p], p);
        let mut fixes: Vec<usize> = (0..status.len())
            .filter(|&p| shown(p, &status))
            .filter(|&p| {
                let mut trial = status.clone();
                trial[p] = Cell::Withheld;
                !determined(&values, &trial, &equations, position)
            })
            .collect();
        fixes.sort_by_key(|&p| order(p));
        let next = fixes.first().copied().or_else(|| {
            equations
                .iter()
                .filter(|(parts, total)| *total == position || parts.contains(&position))
                .flat_map(|(parts, total)| parts.iter().copied().chain(std::iter::once(*total)))
                .filter(|&p| shown(p, &status))
                .min_by_key(|&p| order(p))
        });
        match next {
            Some(p) => status[p] = Cell::Withheld,
            // Nothing left to withhold next to it: withhold everything shown.
            None => {
                for p in 0..status.len() {
                    if shown(p, &status) {
                        status[p] = Cell::Withheld;
                    }
                }
                break;
            }
        }
    }
    for p in 0..status.len() {
        if let Some(source) = layout.mirror_of(p) {
            status[p] = status[source];
        }
    }
    Published {
        rows: table.rows.clone(),
        columns: table.columns.clone(),
        cells: (0..layout.rows)
            .map(|r| {
                (0..layout.columns)
                    .map(|c| status[layout.cell(r, c)])
                    .collect()
            })
            .collect(),
        row_totals: (0..layout.rows)
            .map(|r| status[layout.row_total(r)])
            .collect(),
        column_totals: (0..layout.columns)
            .map(|c| status[layout.column_total(c)])
            .collect(),
        total: status[layout.total()],
    }
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
