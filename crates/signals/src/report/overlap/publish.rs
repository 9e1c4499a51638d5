//! The published tables: a matrix of overlaps, a multi-choice item's
//! categories, and a report by agency.

use super::*;

/// Publishes the matrix of people known to each pair of `groups` groups
/// (diagonal: known to the group), from each person's set of groups as a
/// bit mask (bit g: known to group g; bits from `groups` on are ignored).
/// Symmetric: cell (a, b) reads as (b, a). See the module documentation for
/// what is withheld and why.
pub fn publish_overlaps(masks: &[u64], groups: usize) -> Vec<Vec<Cell>> {
    // How many people there are is no secret: a one-way report of the same
    // children gives it (with three groups, the matrix and that total pin
    // the people known to all three). So the search is run with one more
    // group holding everyone, its count published, and every small count
    // is proved uncertain to an attacker who knows it.
    let groups = groups.min(63);
    let everyone = bit(groups);
    let real = everyone - 1;
    let shape = Shape::everyone_and(everyone, real, 0);
    let masks: Vec<u64> = masks.iter().filter(|&&m| m & real != 0).map(|&m| (m & real) | everyone).collect();
    let mut o = Overlaps::shaped(&masks, groups + 1, shape);
    o.watched = real;
    let off_diagonal: Vec<(usize, usize)> = (0..groups).flat_map(|a| (a + 1..groups).map(move |b| (a, b))).collect();
    let status = o.protect(o.primary(), &off_diagonal).unwrap_or_else(|| o.diagonal_only());
    status.into_iter().take(groups).map(|row| row.into_iter().take(groups).collect()).collect()
}

/// People by the categories of a multi-choice item (rows: a person may be
/// in several), as one column or split by a dimension each person has
/// exactly one value of (columns: a single-choice item, the case type, a
/// period).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Multi {
    /// Row labels: the item's categories, then those a person can only be
    /// in on their own (not known, not recorded).
    pub rows: Vec<String>,
    /// The rows a person is only ever in on their own (bit r: row r).
    pub alone: u64,
    /// Column labels: one column counts everyone; more split them.
    pub columns: Vec<String>,
    /// Each person: their rows (bit r: row r; at least one, and a row of
    /// `alone` only on its own) and their column.
    pub people: Vec<(u64, usize)>,
}

/// Most groups (rows, columns and one for everyone) a table by a
/// multi-choice item is checked with; past it, only the margins are shown.
pub(super) const MOST_GROUPS: usize = 40;

/// A one-way table by a multi-choice item as published: each row's cell,
/// whether its `*` can stand for any count, and the total.
pub(super) struct MultiOneWay {
    cells: Vec<Cell>,
    open: Vec<bool>,
    total: Cell,
}

/// Publishes the number of people in each row (of `rows`) and the number
/// of people, from each person's rows: counts of 1 to 4 as `<5`, the
/// total never withheld, and rows withheld (`*`) until no count of 1 to 4
/// of the people in one set of rows and none of another can be worked out
/// (those in every row of a set and none of another, for up to three rows,
/// and those in exactly one set of rows; "not in row A" included, as the
/// total gives it). Where that cannot be done, every row is `*` and only
/// the total is shown.
pub(super) fn multi_one_way(rows: usize, alone: u64, masks: &[u64]) -> MultiOneWay {
    let people = masks.len() as u64;
    let fallback = MultiOneWay { cells: vec![Cell::Withheld; rows], open: vec![true; rows], total: crate::report::primary(people) };
    if rows + 1 > MOST_GROUPS {
        return fallback;
    }
    let everyone = bit(rows);
    let row_groups = everyone - 1;
    let shape = Shape::everyone_and(everyone, row_groups, alone);
    let masks: Vec<u64> = masks.iter().map(|&m| (m & row_groups) | everyone).collect();
    let mut o = Overlaps::shaped(&masks, rows + 1, shape);
    o.watched = row_groups;
    // Only the diagonal is published: the cells, and everyone's count.
    let mut status = o.primary();
    for (a, row) in status.iter_mut().enumerate() {
        for (b, cell) in row.iter_mut().enumerate().filter(|&(b, _)| b != a) {
            *cell = Cell::Withheld;
            o.open[a][b] = true;
        }
    }
    let eligible: Vec<(usize, usize)> = (0..rows).map(|r| (r, r)).collect();
    match o.protect(status, &eligible) {
        Some(status) => {
            let cells: Vec<Cell> = (0..rows).map(|r| status[r][r]).collect();
            // A table withheld whole says nothing of any row.
            let whole = rows > 0 && cells.iter().all(|&c| c == Cell::Withheld);
            MultiOneWay { open: vec![whole; rows], cells, total: status[rows][rows] }
        }
        None => fallback,
    }
}

/// Publishes a table of people by the categories of a multi-choice item:
/// rows count the people with each category (a person may be in several),
/// the total counts each person once. With columns, each column's cells
/// count that column's people per row, the row totals are the one-column
/// table exactly as published on its own, the column totals are the
/// one-way table of the column dimension exactly as [`crate::report::publish`]
/// shows it, and the total is the same.
///
/// The rows and columns are groups of the matrix of [`publish_overlaps`]
/// (with one more group holding everyone): a row total is a group's own
/// count, a cell the people in both a row and a column. The same search
/// proves, for every count of 1 to 4 of the people in every row and column
/// of one set and none of another (up to three, or exactly one set),
/// that a second assignment of people to rows and columns fits everything
/// published and gives it another value — an attacker knowing that each
/// person is in one column, at least one row, and "not known" or "not
/// recorded" only on their own. Counts of one column's own people alone
/// are the column dimension's one-way table's business, and protected
/// there. Where that cannot be done, every cell is `*` (standing for any
/// count) and the margins are shown.
pub fn publish_multi(table: &Multi) -> crate::report::Published {
    let rows = table.rows.len();
    let columns = table.columns.len();
    let masks: Vec<u64> = table.people.iter().map(|&(m, _)| m).collect();
    let by_rows = multi_one_way(rows, table.alone, &masks);
    let mut out = crate::report::Published {
        rows: table.rows.clone(),
        columns: table.columns.clone(),
        cells: by_rows.cells.iter().map(|&c| vec![c]).collect(),
        row_totals: by_rows.cells.clone(),
        column_totals: vec![by_rows.total],
        total: by_rows.total,
    };
    if columns <= 1 {
        return out;
    }
    let mut column_counts = vec![0u64; columns];
    for &(_, c) in &table.people {
        column_counts[c.min(columns - 1)] += 1;
    }
    let by_columns = crate::report::one_way(&column_counts);
    out.column_totals = by_columns.cells.clone();
    out.cells = vec![vec![Cell::Withheld; columns]; rows];
    let n = rows + columns + 1;
    if n > MOST_GROUPS {
        return out;
    }
    let everyone = bit(rows + columns);
    let row_groups = bit(rows) - 1;
    let column_groups = (everyone - 1) & !row_groups;
    let shape = Shape {
        families: vec![
            Family { groups: everyone, one: true, alone: 0 },
            Family { groups: row_groups, one: false, alone: table.alone },
            Family { groups: column_groups, one: true, alone: 0 },
        ],
        nests: Vec::new(),
    };
    let masks: Vec<u64> = table.people.iter().map(|&(m, c)| (m & row_groups) | bit(rows + c.min(columns - 1)) | everyone).collect();
    let mut o = Overlaps::shaped(&masks, n, shape);
    o.watched = row_groups;
    o.scopes = vec![o.everyone(), row_groups | everyone];
    // Published: the margins as their one-way tables show them, everyone's
    // count, and the cells; nothing else (people in two rows, say).
    let mut status = vec![vec![Cell::Withheld; n]; n];
    o.open = vec![vec![true; n]; n];
    for (r, (&cell, &open)) in by_rows.cells.iter().zip(&by_rows.open).enumerate() {
        status[r][r] = cell;
        o.open[r][r] = open;
    }
    for c in 0..columns {
        let g = rows + c;
        status[g][g] = by_columns.cells[c];
        o.open[g][g] = by_columns.floors[c] == 0;
    }
    status[n - 1][n - 1] = crate::report::primary(table.people.len() as u64);
    o.open[n - 1][n - 1] = false;
    // The margins alone may give some counts away (the column dimension's
    // one-way table shows "not in column c" as the total less c) or leave
    // some unproved: the cells are not there to protect those, so they
    // are left out, and the cells must give nothing more away.
    let small: Vec<Protected> = o.protected().into_iter().filter(|&q| (1..=4).contains(&o.value(q))).collect();
    for q in small {
        if o.spent() {
            return out;
        }
        if !o.uncertain(&status, q, false) && !o.uncertain(&status, q, true) {
            o.skip.insert(q);
        }
    }
    o.tried.set(0);
    let mut eligible = Vec::new();
    for (r, values) in o.values.iter().take(rows).enumerate() {
        for c in 0..columns {
            let g = rows + c;
            let cell = crate::report::primary(values[g]);
            (status[r][g], status[g][r]) = (cell, cell);
            (o.open[r][g], o.open[g][r]) = (false, false);
            eligible.push((r, g));
        }
    }
    if let Some(status) = o.protect(status, &eligible) {
        out.cells = (0..rows).map(|r| (0..columns).map(|c| status[r][rows + c]).collect()).collect();
    }
    out
}

/// People by a group they may be several of (the partnership's agencies,
/// or agency types) crossed with each group's own answer: the cell (r, c)
/// counts the people whose records from group `r` answer `c` (each group's
/// latest known answer, its own "not known" or "not recorded"; or, for a
/// multi-choice item, every category that group's records tick). A person
/// is in every row whose group knows them, and in one column per row (or,
/// when not `one`, at least one, a column of `alone` only on its own), so
/// the same person may be in one column under one agency and in another
/// under the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ByAgency {
    /// Row labels: the agencies (or types).
    pub rows: Vec<String>,
    /// Column labels: the other dimension's categories, with not known and
    /// not recorded where it has them.
    pub columns: Vec<String>,
    /// Whether each row's people have exactly one column (a single-choice
    /// item, the case type, a period).
    pub one: bool,
    /// The columns only ever held on their own within a row (bit c).
    pub alone: u64,
    /// Each person: (row, their columns in that row as bits), one entry per
    /// row that knows them, and at least one.
    pub people: Vec<Vec<(usize, u64)>>,
}

/// The search over a report by agency: agency r is group r, its column c
/// group `rows + r * columns + c`, everyone the last of `n`; each agency's
/// row proved as a table of its own.
fn by_agency_overlaps(table: &ByAgency, n: usize, column_bits: u64) -> Overlaps {
    let (rows, columns) = (table.rows.len(), table.columns.len());
    let cell = |r: usize, c: usize| rows + r * columns + c;
    let everyone = bit(n - 1);
    let cell_groups = (everyone - 1) & !(bit(rows) - 1);
    let shape = Shape {
        families: vec![Family { groups: everyone, one: true, alone: 0 }, Family { groups: cell_groups, one: false, alone: 0 }],
        nests: (0..rows)
            .map(|r| Nest { whole: r, parts: column_bits << cell(r, 0), one: table.one, alone: (table.alone & column_bits) << cell(r, 0) })
            .collect(),
    };
    let masks: Vec<u64> = table
        .people
        .iter()
        .map(|person| {
            person
                .iter()
                .filter(|&&(r, cols)| r < rows && cols & column_bits != 0)
                .fold(everyone, |mask, &(r, cols)| mask | bit(r) | (cols & column_bits) << cell(r, 0))
        })
        .collect();
    let mut o = Overlaps::shaped(&masks, n, shape);
    o.watched = everyone - 1;
    let agency_groups = |r: usize| bit(r) | column_bits << cell(r, 0);
    o.local = (0..rows).map(|r| column_bits << cell(r, 0)).collect();
    o.scopes = (0..rows).map(|r| agency_groups(r) | everyone).chain([(bit(rows) - 1) | everyone]).collect();
    // Each agency's row is a table of its own, proved cell by cell: more
    // work than one table by a multi-choice item.
    o.work = WORK * 10;
    o
}

/// Publishes a table by agency crossed with each agency's own answers. The
/// row totals (people each agency knows) and the total (distinct people)
/// are the one-way table by agency exactly as [`publish_multi`] shows it
/// with one column; the other dimension has no totals here (a person may
/// be in several of its columns, one per agency, and "people some agency
/// puts in column c" is no report's margin, so it is not published to be
/// set against one). The cells are withheld (`*`) until no count of 1 to 4
/// can be worked out — of the people in every cell of one set and none of
/// another (up to three groups, the cells among them of one agency; or
/// exactly one set of one agency's groups), "in A's column c but not
/// A's column d", "known to A and B but not in A's column c" (from the row
/// totals) and the like — with the same search as [`publish_overlaps`],
/// the attacker knowing the table's shape: each agency's people are in
/// exactly one of its columns (or at least one, for a multi-choice item),
/// and a person is in an agency's row exactly when in one of its cells.
/// Statements joining two agencies' answers ("CSA at A and CSE at B") are
/// not what this table publishes, and the brute-force attacker of the
/// tests, which tries every statement, finds none pinned down. Where
/// single cells cannot do it, a whole row is withheld (its `*` standing
/// for any count); where that cannot either, or the table has more than
/// 40 groups (agencies × (columns + 1) + 1), every cell is `*` and the row
/// totals and the total are shown.
pub fn publish_by_agency(table: &ByAgency) -> crate::report::Published {
    let rows = table.rows.len();
    let columns = table.columns.len();
    let column_bits = if columns >= 64 { u64::MAX } else { bit(columns) - 1 };
    let agencies_of: Vec<u64> = table
        .people
        .iter()
        .map(|person| person.iter().filter(|&&(r, cols)| r < rows && cols & column_bits != 0).fold(0, |mask, &(r, _)| mask | bit(r)))
        .collect();
    let by_rows = multi_one_way(rows, 0, &agencies_of);
    let mut out = crate::report::Published {
        rows: table.rows.clone(),
        columns: table.columns.clone(),
        cells: vec![vec![Cell::Withheld; columns]; rows],
        row_totals: by_rows.cells.clone(),
        column_totals: Vec::new(),
        total: by_rows.total,
    };
    let n = rows * (columns + 1) + 1;
    if n > MOST_GROUPS || rows == 0 || columns == 0 {
        return out;
    }
    // Groups: agency r is group r; its column c is group cell(r, c);
    // everyone is the last.
    let cell = |r: usize, c: usize| rows + r * columns + c;
    let mut o = by_agency_overlaps(table, n, column_bits);
    // Published: the row totals as the one-way table by agency shows them,
    // everyone's count, and the cells; nothing else.
    let mut status = vec![vec![Cell::Withheld; n]; n];
    o.open = vec![vec![true; n]; n];
    for (r, (&total, &open)) in by_rows.cells.iter().zip(&by_rows.open).enumerate() {
        status[r][r] = total;
        o.open[r][r] = open;
    }
    status[n - 1][n - 1] = crate::report::primary(table.people.len() as u64);
    o.open[n - 1][n - 1] = false;
    // Unlike a table by a multi-choice item, nothing is left to the
    // margins: a count about a cell that the row totals and the total
    // alone would pin down is protected here too (with more withheld, or
    // the whole body), which costs nothing but cells.
    o.tried.set(0);
    // Where withholding single cells cannot protect a row (social care
    // knows 6: 5 CSE and 1 CSA; withholding the 5 leaves "5 or more" and
    // so gives the 1 away), the whole row is withheld, zeros included (its
    // `*` then stands for any count), the row with a `<5` and the fewest
    // people first, and the rest tried again.
    let mut whole_rows = vec![false; rows];
    loop {
        let mut trial = status.clone();
        let mut eligible = Vec::new();
        for (r, &whole) in whole_rows.iter().enumerate() {
            for c in 0..columns {
                let g = cell(r, c);
                if whole {
                    trial[g][g] = Cell::Withheld;
                    o.open[g][g] = true;
                } else {
                    trial[g][g] = crate::report::primary(o.values[g][g]);
                    o.open[g][g] = false;
                    eligible.push((g, g));
                }
            }
        }
        o.tried.set(0);
        if let Some(trial) = o.protect(trial, &eligible) {
            out.cells = (0..rows).map(|r| (0..columns).map(|c| trial[cell(r, c)][cell(r, c)]).collect()).collect();
            return out;
        }
        let next = (0..rows)
            .filter(|&r| !whole_rows[r])
            .filter(|&r| (0..columns).any(|c| (1..=4).contains(&o.values[cell(r, c)][cell(r, c)])))
            .min_by_key(|&r| (o.values[r][r], r));
        match next {
            Some(r) => whole_rows[r] = true,
            None => return out,
        }
    }
}
