use rand::{Rng, SeedableRng};

use rand_chacha::ChaCha8Rng;

use super::*;

fn table(counts: Vec<Vec<u64>>) -> Table {
    Table {
        rows: (0..counts.len()).map(|r| format!("r{r}")).collect(),
        columns: (0..counts[0].len()).map(|c| format!("c{c}")).collect(),
        counts,
    }
}

fn allows(cell: Cell, value: u64) -> bool {
    match cell {
        Cell::Count(n) => n == value,
        Cell::Small => (1..=4).contains(&value),
        Cell::Withheld => value >= 5,
    }
}

/// A brute-force attacker that knows what `<5` and `*` mean: it searches
/// for whole tables (cells, row and column totals, grand total) consistent
/// with what was published.
struct Attacker {
    /// Domain (low, high) of every entry: cells row by row, row totals,
    /// column totals, grand total.
    domains: Vec<(u64, u64)>,
    /// Each: parts that add up to a total.
    equations: Vec<(Vec<usize>, usize)>,
}

impl Attacker {
    fn new(published: &Published, cap: u64) -> Attacker {
        let rows = published.rows.len();
        let columns = published.columns.len();
        let domain = |cell: Cell| match cell {
            Cell::Count(n) => (n, n),
            Cell::Small => (1, 4),
            Cell::Withheld => (5, cap),
        };
        let mut domains: Vec<(u64, u64)> = published
            .cells
            .iter()
            .flatten()
            .map(|c| domain(*c))
            .collect();
        domains.extend(published.row_totals.iter().map(|c| domain(*c)));
        domains.extend(published.column_totals.iter().map(|c| domain(*c)));
        domains.push(domain(published.total));
        let cells = rows * columns;
        let mut equations = Vec::new();
        for r in 0..rows {
            equations.push(((0..columns).map(|c| r * columns + c).collect(), cells + r));
        }
        for c in 0..columns {
            equations.push((
                (0..rows).map(|r| r * columns + c).collect(),
                cells + rows + c,
            ));
        }
        equations.push((
            (0..rows).map(|r| cells + r).collect(),
            cells + rows + columns,
        ));
        Attacker { domains, equations }
    }

    /// Narrows domains until stable; false when some domain empties.
    fn narrow(&self, d: &mut [(u64, u64)]) -> bool {
        loop {
            let mut changed = false;
            for (parts, total) in &self.equations {
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
                return true;
            }
        }
    }

    /// Whether some whole table fits the domains.
    fn feasible(&self, mut d: Vec<(u64, u64)>) -> bool {
        if !self.narrow(&mut d) {
            return false;
        }
        let open = (0..d.len())
            .filter(|&p| d[p].0 < d[p].1)
            .min_by_key(|&p| d[p].1 - d[p].0);
        match open {
            None => self
                .equations
                .iter()
                .all(|(parts, total)| parts.iter().map(|&p| d[p].0).sum::<u64>() == d[*total].0),
            Some(p) => (d[p].0..=d[p].1).any(|v| {
                let mut branch = d.clone();
                branch[p] = (v, v);
                self.feasible(branch)
            }),
        }
    }

    /// The values entry `p` can take in some consistent table.
    fn values(&self, p: usize) -> Vec<u64> {
        (self.domains[p].0..=self.domains[p].1)
            .filter(|&v| {
                let mut d = self.domains.clone();
                d[p] = (v, v);
                self.feasible(d)
            })
            .collect()
    }
}

#[test]
fn no_small_count_can_be_worked_out_from_any_total() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let palette = [0, 0, 1, 2, 3, 4, 5, 6, 7, 9];
    let mut checked_small = 0;
    for round in 0..300 {
        let rows = rng.gen_range(1..=3);
        let columns = rng.gen_range(1..=3);
        let counts: Vec<Vec<u64>> = (0..rows)
            .map(|_| {
                (0..columns)
                    .map(|_| palette[rng.gen_range(0..palette.len())])
                    .collect()
            })
            .collect();
        let t = table(counts.clone());
        let published = publish(&t);
        // Shown counts are the truth.
        for r in 0..rows {
            for c in 0..columns {
                assert!(
                    allows(published.cells[r][c], counts[r][c]),
                    "round {round}: {counts:?} → {published:?}"
                );
            }
        }
        let grand: u64 = counts.iter().flatten().sum();
        let attacker = Attacker::new(&published, grand + 5);
        let entries: Vec<Cell> = published
            .cells
            .iter()
            .flatten()
            .chain(&published.row_totals)
            .chain(&published.column_totals)
            .chain(std::iter::once(&published.total))
            .copied()
            .collect();
        for (p, cell) in entries.iter().enumerate() {
            if *cell == Cell::Small {
                checked_small += 1;
                let values = attacker.values(p);
                assert!(values.len() >= 2, "round {round}: entry {p} of {counts:?} is recoverable as {values:?} from {published:?}");
            }
        }
        // Small counts are never shown as they are.
        for value in published
            .cells
            .iter()
            .flatten()
            .chain(&published.row_totals)
            .chain(&published.column_totals)
        {
            if let Cell::Count(n) = value {
                assert!(!(1..=4).contains(n));
            }
        }
    }
    assert!(
        checked_small > 200,
        "the rounds exercised suppression ({checked_small} small cells)"
    );
}

#[test]
fn a_single_small_cell_takes_a_partner_and_large_tables_are_left_alone() {
    let published = publish(&table(vec![vec![3], vec![40], vec![25]]));
    assert_eq!(published.cells[0][0], Cell::Small);
    assert_eq!(
        published.cells[2][0],
        Cell::Withheld,
        "the smallest other cell protects it"
    );
    assert_eq!(published.cells[1][0], Cell::Count(40));
    assert_eq!(published.total, Cell::Count(68));
    let published = publish(&table(vec![vec![10, 20], vec![30, 0]]));
    assert!(published
        .cells
        .iter()
        .flatten()
        .all(|c| matches!(c, Cell::Count(_))));
    assert_eq!(published.total.text(), "60");
}

#[test]
fn resolving_takes_the_latest_known_answer() {
    assert_eq!(
        resolve(
            &[
                (10, Answer::Category(0)),
                (20, Answer::Category(2)),
                (30, Answer::NotKnown)
            ],
            3
        ),
        2
    );
    assert_eq!(resolve(&[(10, Answer::NotKnown)], 3), 3);
    assert_eq!(resolve(&[], 3), 4);
}

#[test]
fn secondary_suppression_withholds_little_and_keeps_the_totals() {
    // Two small counts in the "not recorded" row: the cheapest protection
    // is the two cells above them that close the rectangle.
    let p = publish(&table(vec![
        vec![85, 9, 11, 0, 0],
        vec![200, 20, 22, 0, 0],
        vec![0, 0, 0, 0, 0],
        vec![0, 0, 0, 0, 0],
        vec![14, 2, 1, 0, 0],
    ]));
    let withheld: Vec<(usize, usize)> = (0..5)
        .flat_map(|r| (0..5).map(move |c| (r, c)))
        .filter(|&(r, c)| p.cells[r][c] == Cell::Withheld)
        .collect();
    assert_eq!(withheld, vec![(0, 1), (0, 2)]);
    assert_eq!((p.cells[4][1], p.cells[4][2]), (Cell::Small, Cell::Small));
    assert_eq!(p.total, Cell::Count(364));
    assert!(p
        .row_totals
        .iter()
        .chain(&p.column_totals)
        .all(|c| matches!(c, Cell::Count(_))));
}
