use std::collections::BTreeSet;

use rand::{Rng, SeedableRng};

use rand_chacha::ChaCha8Rng;

use super::*;
use crate::report::Published;

/// What the markers allow a cell, as an attacker reads them: `*` is 5 or
/// more, unless every cell off the diagonal is `*` (then any count).
fn domains(published: &[Vec<Cell>], cap: u64) -> Vec<Vec<(u64, u64)>> {
    let n = published.len();
    let diagonal_only = n > 1 && (0..n).all(|a| (0..n).all(|b| a == b || published[a][b] == Cell::Withheld));
    published
        .iter()
        .enumerate()
        .map(|(a, row)| {
            row.iter()
                .enumerate()
                .map(|(b, cell)| match cell {
                    Cell::Count(v) => (*v, *v),
                    Cell::Small => (1, 4),
                    Cell::Withheld if diagonal_only && a != b => (0, cap),
                    Cell::Withheld => (5, cap),
                })
                .collect()
        })
        .collect()
}

/// A brute-force attacker: every count of people per set of groups (every
/// non-empty set) that yields a matrix the markers allow.
struct Attacker {
    n: usize,
    domains: Vec<Vec<(u64, u64)>>,
    /// Sets of groups, in the order they are filled in.
    sets: Vec<u64>,
    /// Per set: the cells (a <= b) a person known to it counts in.
    cells_of: Vec<Vec<(usize, usize)>>,
    /// Per cell: after which set its value is final.
    closes_after: Vec<Vec<usize>>,
}

impl Attacker {
    fn new(published: &[Vec<Cell>], cap: u64) -> Attacker {
        let n = published.len();
        let sets: Vec<u64> = (1..(1u64 << n)).rev().collect();
        let cells_of: Vec<Vec<(usize, usize)>> = sets
            .iter()
            .map(|&s| {
                let members: Vec<usize> = (0..n).filter(|&g| s & (1 << g) != 0).collect();
                members.iter().flat_map(|&a| members.iter().filter(move |&&b| b >= a).map(move |&b| (a, b))).collect()
            })
            .collect();
        let mut closes_after = vec![Vec::new(); sets.len()];
        for a in 0..n {
            for b in a..n {
                let last = (0..sets.len()).rev().find(|&i| cells_of[i].contains(&(a, b))).expect("some set");
                closes_after[last].push(a * n + b);
            }
        }
        Attacker { n, domains: domains(published, cap), sets, cells_of, closes_after }
    }

    /// Runs through every consistent assignment, calling `seen` with the
    /// counts per set (in `sets` order); stops when `seen` says so.
    fn explore(&self, seen: &mut dyn FnMut(&[u64]) -> bool) {
        let n = self.n;
        let mut sums = vec![0u64; n * n];
        let mut counts = vec![0u64; self.sets.len()];
        self.fill(0, &mut sums, &mut counts, seen);
        let _ = n;
    }

    fn fill(&self, i: usize, sums: &mut [u64], counts: &mut [u64], seen: &mut dyn FnMut(&[u64]) -> bool) -> bool {
        let n = self.n;
        if i == self.sets.len() {
            return seen(counts);
        }
        let most = self.cells_of[i].iter().map(|&(a, b)| self.domains[a][b].1 - sums[a * n + b]).min().unwrap_or(0);
        for k in 0..=most {
            for &(a, b) in &self.cells_of[i] {
                sums[a * n + b] += k;
            }
            counts[i] = k;
            let closed_ok = self.closes_after[i].iter().all(|&c| {
                let (a, b) = (c / n, c % n);
                sums[c] >= self.domains[a][b].0
            });
            let stop = closed_ok && self.fill(i + 1, sums, counts, seen);
            for &(a, b) in &self.cells_of[i] {
                sums[a * n + b] -= k;
            }
            if stop {
                return true;
            }
        }
        counts[i] = 0;
        false
    }
}

/// The value of a protected count under counts per set.
fn value_of(q: Protected, sets: &[u64], counts: &[u64]) -> u64 {
    sets.iter().zip(counts).filter(|(&s, _)| q.counts(s)).map(|(_, &k)| k).sum()
}

/// Every count of the people known to all groups of one set and to none
/// of another (with up to four groups: every count of people by which
/// groups know them, exact sets, statements about some groups, and the
/// cells) from 1 to 4 that the attacker pins down.
fn pinned(masks: &[u64], n: usize, published: &[Vec<Cell>]) -> Vec<(Protected, u64)> {
    let truth = Overlaps::new(masks, n);
    let cap = truth.values.iter().enumerate().map(|(a, row)| row[a]).sum::<u64>() + 5;
    let attacker = Attacker::new(published, cap);
    let everyone = (1u64 << n) - 1;
    let mut watched: Vec<Protected> =
        (1..=everyone).flat_map(|all| subsets(everyone & !all).chain(std::iter::once(0)).map(move |none| Protected { all, none })).collect();
    watched.retain(|&q| (1..=4).contains(&truth.value(q)));
    let mut values: Vec<BTreeSet<u64>> = vec![BTreeSet::new(); watched.len()];
    let mut solutions = 0;
    attacker.explore(&mut |counts| {
        solutions += 1;
        for (q, seen) in watched.iter().zip(values.iter_mut()) {
            if seen.len() < 2 {
                seen.insert(value_of(*q, &attacker.sets, counts));
            }
        }
        values.iter().all(|seen| seen.len() >= 2)
    });
    assert!(solutions > 0, "the truth itself fits what was published");
    watched.into_iter().zip(values).filter(|(_, seen)| seen.len() < 2).map(|(q, _)| (q, truth.value(q))).collect()
}

fn masks_of(people: &[(u64, u64)]) -> Vec<u64> {
    people.iter().flat_map(|&(mask, k)| std::iter::repeat_n(mask, k as usize)).collect()
}

fn check(masks: &[u64], n: usize, context: &str) -> Vec<Vec<Cell>> {
    let published = publish_overlaps(masks, n);
    let truth = Overlaps::new(masks, n);
    for (a, row) in published.iter().enumerate() {
        for (b, &cell) in row.iter().enumerate() {
            assert_eq!(cell, published[b][a], "{context}: symmetric");
            let v = truth.values[a][b];
            match cell {
                Cell::Count(shown) => assert!(shown == v && !(1..=4).contains(&v), "{context}"),
                Cell::Small => assert!((1..=4).contains(&v), "{context}"),
                Cell::Withheld => assert!(a != b, "{context}: the diagonal is always shown"),
            }
        }
    }
    let found = pinned(masks, n, &published);
    assert!(found.is_empty(), "{context}: {found:?} pinned down from {published:?}");
    published
}

#[test]
fn two_groups_never_give_away_those_known_to_one_only() {
    // A knows 7, B knows 5, both know 5: A only = 2.
    let masks = masks_of(&[(0b11, 5), (0b01, 2)]);
    let published = check(&masks, 2, "nested");
    assert_eq!(published[0][0], Cell::Count(7));
    assert_eq!(published[1][1], Cell::Count(5));
    assert_eq!(published[0][1], Cell::Withheld);
    // Large differences on both sides: everything shown.
    let masks = masks_of(&[(0b11, 20), (0b01, 9), (0b10, 6)]);
    let published = check(&masks, 2, "large");
    assert_eq!(published[0][1], Cell::Count(20));
}

#[test]
fn statements_about_three_groups_give_nothing_away() {
    // Groups A, B, C, D (bits 0 to 3). Known to C but neither A nor B: 2,
    // pinned down by the matrix with primary suppression only (and no
    // exact set or pair of groups is).
    let masks = masks_of(&[(0b0101, 6), (0b0100, 2), (0b0111, 5), (0b1110, 3), (0b0110, 2), (0b1000, 3)]);
    let truth = Overlaps::new(&masks, 4);
    let c_only = Protected { all: 0b0100, none: 0b0011 };
    assert_eq!(pinned(&masks, 4, &truth.primary()), vec![(c_only, 2)]);
    check(&masks, 4, "C but neither A nor B");
}

#[test]
fn subtracting_and_combining_cells_gives_nothing_away() {
    // A and B are both inside C and C knows 3 more: C only = 18 − |A ∪ B|
    // = 18 − (10 + 10 − 5) = 3, although every cell and every difference
    // of two cells is 0 or at least 5.
    let masks = masks_of(&[(0b111, 5), (0b101, 5), (0b110, 5), (0b100, 3)]);
    let published = check(&masks, 3, "C only");
    assert!((0..3).any(|a| (0..3).any(|b| published[a][b] == Cell::Withheld)), "something is withheld: {published:?}");
}

#[test]
fn no_small_count_can_be_worked_out_from_the_matrix() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut small = 0;
    let mut withheld = 0;
    let mut diagonal_only = 0;
    let mut naive_leaks = 0;
    for round in 0..250 {
        let n = rng.gen_range(2..=if round % 3 == 0 { 4 } else { 3 });
        // A few typical sets of groups with many people each, and some
        // people anywhere: nesting, overlaps and small remainders.
        let typical: Vec<u64> = (0..rng.gen_range(1..=3)).map(|_| rng.gen_range(1..(1u64 << n))).collect();
        let mut people: Vec<(u64, u64)> = typical.iter().map(|&m| (m, [0, 1, 2, 3, 5, 6][rng.gen_range(0..6)])).collect();
        for _ in 0..rng.gen_range(0..=if n == 4 { 3 } else { 4 }) {
            people.push((rng.gen_range(1..(1u64 << n)), rng.gen_range(1..=2)));
        }
        let masks = masks_of(&people);
        let context = format!("round {round}: {n} groups, {people:?}");
        let published = check(&masks, n, &context);
        let truth = Overlaps::new(&masks, n);
        small += truth.protected().into_iter().filter(|&q| (1..=4).contains(&truth.value(q))).count();
        let naive = truth.primary();
        if !pinned(&masks, n, &naive).is_empty() {
            naive_leaks += 1;
        }
        let hidden = (0..n).flat_map(|a| (a + 1..n).map(move |b| (a, b))).filter(|&(a, b)| published[a][b] == Cell::Withheld).count();
        if hidden > 0 {
            withheld += 1;
        }
        if n > 1 && hidden == n * (n - 1) / 2 {
            diagonal_only += 1;
        }
    }
    assert!(small > 500, "the rounds exercised suppression ({small} small counts)");
    assert!(naive_leaks > 40, "primary suppression alone gives counts away ({naive_leaks} matrices)");
    assert!(withheld > 20 && diagonal_only < withheld, "{withheld} matrices with *, {diagonal_only} diagonal only");
}

#[test]
fn the_diagonal_alone_gives_nothing_away() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for round in 0..60 {
        let n = rng.gen_range(2..=3);
        let people: Vec<(u64, u64)> = (0..rng.gen_range(1..=5)).map(|_| (rng.gen_range(1..(1u64 << n)), rng.gen_range(1..=4))).collect();
        let masks = masks_of(&people);
        let truth = Overlaps::new(&masks, n);
        let published: Vec<Vec<Cell>> =
            (0..n).map(|a| (0..n).map(|b| if a == b { super::super::primary(truth.values[a][a]) } else { Cell::Withheld }).collect()).collect();
        assert_eq!(published, truth.diagonal_only());
        let found = pinned(&masks, n, &published);
        assert!(found.is_empty(), "round {round}: {people:?}: {found:?}");
    }
}

#[test]
fn a_realistic_matrix_keeps_its_diagonal_and_nearly_every_pair() {
    // Four agencies, a few hundred children, every combination common.
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let reach = [0.7, 0.8, 0.4, 0.3];
    let masks: Vec<u64> = (0..400)
        .map(|_| {
            let mut m = 0;
            for (g, p) in reach.iter().enumerate() {
                if rng.gen_bool(*p) {
                    m |= 1 << g;
                }
            }
            m
        })
        .filter(|&m| m != 0)
        .collect();
    let published = publish_overlaps(&masks, 4);
    // Every agency's own count, and all but at most one pair: the people
    // known to exactly C and D (about 3) must stay uncertain to someone who
    // also knows how many children there are.
    assert!((0..4).all(|a| matches!(published[a][a], Cell::Count(_))), "{published:?}");
    let withheld = (0..4).flat_map(|a| (a + 1..4).map(move |b| (a, b))).filter(|&(a, b)| !matches!(published[a][b], Cell::Count(_))).count();
    assert!(withheld <= 1, "{published:?}");
}

#[test]
fn the_number_of_children_does_not_pin_those_known_to_all_three() {
    // 20 known to each agency alone, 10 to each pair alone, 2 to all three:
    // 92 children. With every cell exact, a one-way report's total would
    // give those known to all three: 92 - 3 x 42 + 3 x 12 = 2.
    let mut masks = Vec::new();
    for (mask, n) in [(0b001u64, 20), (0b010, 20), (0b100, 20), (0b011, 10), (0b101, 10), (0b110, 10), (0b111, 2)] {
        masks.extend(std::iter::repeat_n(mask, n));
    }
    let published = publish_overlaps(&masks, 3);
    let exact = published.iter().flatten().all(|c| matches!(c, Cell::Count(_)));
    assert!(!exact, "every cell exact would pin the 2 known to all three: {published:?}");
}

/// Everything a table by a multi-choice item publishes, as an attacker
/// reads it: each published count (a row, a cell, a column or the total)
/// as the people it counts — those in row `r` (and column `c`) — and what
/// its marker allows. `<5` is 1–4; `*` is 5 or more, except where the
/// reader cannot tell: a margin or a one-column table that is all `*`, or a
/// row or column of the body that is all `*` (then any count).
struct MultiAttacker {
    /// Every set a person can be in: (rows, column).
    sets: Vec<(u64, usize)>,
    /// Each published count: the sets it adds up, and its (low, high).
    counts: Vec<(Vec<usize>, (u64, u64))>,
}

impl MultiAttacker {
    fn new(p: &Published, rows: usize, alone: u64, columns: usize, cap: u64) -> MultiAttacker {
        let mut sets = Vec::new();
        for mask in 1..(1u64 << rows) {
            if mask & alone == 0 || mask.count_ones() == 1 {
                for c in 0..columns.max(1) {
                    sets.push((mask, c));
                }
            }
        }
        let all = |cells: &[Cell]| !cells.is_empty() && cells.iter().all(|&c| c == Cell::Withheld);
        let domain = |cell: Cell, open: bool| match cell {
            Cell::Count(v) => (v, v),
            Cell::Small => (1, 4),
            Cell::Withheld if open => (0, cap),
            Cell::Withheld => (5, cap),
        };
        let select = |keep: &dyn Fn(u64, usize) -> bool| -> Vec<usize> { (0..sets.len()).filter(|&i| keep(sets[i].0, sets[i].1)).collect() };
        let mut counts = Vec::new();
        let rows_open = all(&p.row_totals);
        for r in 0..rows {
            counts.push((select(&|m, _| m & (1 << r) != 0), domain(p.row_totals[r], rows_open)));
        }
        counts.push((select(&|_, _| true), domain(p.total, false)));
        if columns > 1 {
            let columns_open = all(&p.column_totals);
            for c in 0..columns {
                counts.push((select(&|_, col| col == c), domain(p.column_totals[c], columns_open)));
            }
            for r in 0..rows {
                for c in 0..columns {
                    let column: Vec<Cell> = (0..rows).map(|r| p.cells[r][c]).collect();
                    let open = all(&p.cells[r]) || all(&column);
                    counts.push((select(&|m, col| m & (1 << r) != 0 && col == c), domain(p.cells[r][c], open)));
                }
            }
        }
        MultiAttacker { sets, counts }
    }

    /// Runs through every count of people per set that fits every
    /// published count, until `seen` says stop.
    fn explore(&self, seen: &mut dyn FnMut(&[u64]) -> bool) {
        // Per set: the published counts it is part of, and after which set
        // each count is complete.
        let mut part_of = vec![Vec::new(); self.sets.len()];
        let mut closes = vec![Vec::new(); self.sets.len()];
        for (k, (parts, _)) in self.counts.iter().enumerate() {
            for &i in parts {
                part_of[i].push(k);
            }
            if let Some(&last) = parts.iter().max() {
                closes[last].push(k);
            }
        }
        let mut sums = vec![0u64; self.counts.len()];
        let mut values = vec![0u64; self.sets.len()];
        self.fill(0, &part_of, &closes, &mut sums, &mut values, seen);
    }

    fn fill(
        &self,
        i: usize,
        part_of: &[Vec<usize>],
        closes: &[Vec<usize>],
        sums: &mut [u64],
        values: &mut [u64],
        seen: &mut dyn FnMut(&[u64]) -> bool,
    ) -> bool {
        if i == self.sets.len() {
            return seen(values);
        }
        let most = part_of[i].iter().map(|&k| self.counts[k].1 .1 - sums[k]).min().unwrap_or(0);
        for v in 0..=most {
            for &k in &part_of[i] {
                sums[k] += v;
            }
            values[i] = v;
            let fits = closes[i].iter().all(|&k| sums[k] >= self.counts[k].1 .0);
            let stop = fits && self.fill(i + 1, part_of, closes, sums, values, seen);
            for &k in &part_of[i] {
                sums[k] -= v;
            }
            if stop {
                return true;
            }
        }
        values[i] = 0;
        false
    }
}

/// Every count of the people in every row and column of one set and none
/// of another, from 1 to 4, that an attacker holding the table pins down:
/// groups are the rows, then the columns (when there are several); counts
/// about columns alone are left to the column dimension's own one-way
/// table, except each column's own count.
fn multi_pinned(people: &[(u64, usize)], rows: usize, alone: u64, columns: usize, p: &Published) -> Vec<(u64, u64, u64)> {
    let columns_here = if columns > 1 { columns } else { 0 };
    let n = rows + columns_here;
    let group_mask = |(m, c): (u64, usize)| {
        if columns_here > 0 {
            m | 1 << (rows + c)
        } else {
            m
        }
    };
    let row_groups = (1u64 << rows) - 1;
    let everyone = (1u64 << n) - 1;
    let statements: Vec<(u64, u64)> = (1..=everyone)
        .flat_map(|all| subsets(everyone & !all).chain(std::iter::once(0)).map(move |none| (all, none)))
        .filter(|&(all, none)| (all | none) & row_groups != 0 || (none == 0 && all.count_ones() == 1))
        .collect();
    let count = |(all, none): (u64, u64), people: &mut dyn Iterator<Item = (u64, u64)>| -> u64 {
        people.filter(|&(mask, _)| mask & all == all && mask & none == 0).map(|(_, k)| k).sum()
    };
    let truth: Vec<u64> = statements.iter().map(|&q| count(q, &mut people.iter().map(|&p| (group_mask(p), 1)))).collect();
    let watched: Vec<usize> = (0..statements.len()).filter(|&i| (1..=4).contains(&truth[i])).collect();
    let cap = people.len() as u64 + 5;
    let attacker = MultiAttacker::new(p, rows, alone, columns, cap);
    let masks: Vec<u64> = attacker.sets.iter().map(|&s| group_mask(s)).collect();
    let mut seen: Vec<BTreeSet<u64>> = vec![BTreeSet::new(); watched.len()];
    let mut solutions = 0;
    attacker.explore(&mut |values| {
        solutions += 1;
        for (&i, seen) in watched.iter().zip(seen.iter_mut()) {
            if seen.len() < 2 {
                let v = count(statements[i], &mut masks.iter().copied().zip(values.iter().copied()));
                seen.insert(v);
            }
        }
        seen.iter().all(|s| s.len() >= 2)
    });
    assert!(solutions > 0, "the truth itself fits what was published");
    watched.iter().zip(&seen).filter(|(_, s)| s.len() < 2).map(|(&i, _)| (statements[i].0, statements[i].1, truth[i])).collect()
}

/// Publishes a table by a multi-choice item and checks it: shown counts
/// are true, markers allow the truth, the margins are the one-way tables
/// as published on their own, the total is never withheld, and no count
/// of 1 to 4 is pinned down.
fn check_multi(people: &[(u64, usize)], rows: usize, alone: u64, columns: usize, context: &str) -> Published {
    let table =
        Multi { rows: (0..rows).map(|r| format!("r{r}")).collect(), alone, columns: (0..columns).map(|c| format!("c{c}")).collect(), people: people.to_vec() };
    let p = publish_multi(&table);
    let context = format!("{context} → {p:?}");
    let fits = |cell: Cell, v: u64| match cell {
        Cell::Count(shown) => shown == v && !(1..=4).contains(&v),
        Cell::Small => (1..=4).contains(&v),
        Cell::Withheld => true,
    };
    let in_row = |r: usize| people.iter().filter(move |&&(m, _)| m & (1 << r) != 0);
    for r in 0..rows {
        assert!(fits(p.row_totals[r], in_row(r).count() as u64), "{context}");
        for c in 0..columns {
            let v = in_row(r).filter(|&&(_, col)| columns <= 1 || col == c).count() as u64;
            assert!(fits(p.cells[r][c], v), "{context}: cell {r}, {c}");
        }
    }
    assert_eq!(p.total, super::super::primary(people.len() as u64), "{context}");
    // The margins read as the one-way tables do.
    let alone_table = Multi { columns: vec!["all".to_owned()], people: people.iter().map(|&(m, _)| (m, 0)).collect(), ..table.clone() };
    let one = publish_multi(&alone_table);
    assert_eq!(p.row_totals, one.row_totals, "{context}");
    assert_eq!(p.total, one.total, "{context}");
    if columns > 1 {
        let by_column = super::super::publish(&super::super::Table {
            rows: table.columns.clone(),
            columns: vec!["all".to_owned()],
            counts: (0..columns).map(|c| vec![people.iter().filter(|&&(_, col)| col == c).count() as u64]).collect(),
        });
        let column_of: Vec<Cell> = by_column.cells.iter().map(|row| row[0]).collect();
        assert_eq!(p.column_totals, column_of, "{context}");
        assert_eq!(p.total, by_column.total, "{context}");
    }
    // Nothing is pinned down from a one-column table; from a table with
    // columns, nothing more than from its margins alone (each checked as
    // its own one-way table: the rows above, the columns in
    // `report::tests`).
    let found = multi_pinned(people, rows, alone, columns, &p);
    let margins_only = Published { cells: vec![vec![Cell::Withheld; columns]; rows], ..p.clone() };
    let excused = if columns > 1 && !found.is_empty() { multi_pinned(people, rows, alone, columns, &margins_only) } else { Vec::new() };
    let found: Vec<_> = found.into_iter().filter(|q| !excused.contains(q)).collect();
    assert!(found.is_empty(), "{context}: (all, none, value) {found:?} pinned down");
    p
}

/// `count` people of each (rows, column).
fn people_of(groups: &[((u64, usize), u64)]) -> Vec<(u64, usize)> {
    groups.iter().flat_map(|&(set, k)| std::iter::repeat_n(set, k as usize)).collect()
}

#[test]
fn a_child_in_two_rows_is_counted_once_in_the_total() {
    // Rows: online, in a vehicle, not known, not recorded (the last two
    // only on their own). 12 online only, 9 in a vehicle only, 6 both.
    let people = people_of(&[((0b0001, 0), 12), ((0b0010, 0), 9), ((0b0011, 0), 6), ((0b1000, 0), 7)]);
    let p = check_multi(&people, 4, 0b1100, 1, "large");
    assert_eq!(p.row_totals, vec![Cell::Count(18), Cell::Count(15), Cell::Count(0), Cell::Count(7)]);
    assert_eq!(p.total, Cell::Count(34), "18 + 15 + 7 = 40 ticks, 34 children");
}

#[test]
fn the_total_does_not_give_away_those_without_a_category() {
    // 20 online, 3 of them also in a vehicle, 2 children not recorded:
    // "not online" = total − online = 2 would be worked out from the total.
    let people = people_of(&[((0b0001, 0), 17), ((0b0011, 0), 3), ((0b1000, 0), 2)]);
    let truth = Overlaps::shaped(&people.iter().map(|&(m, _)| m | 1 << 4).collect::<Vec<_>>(), 5, Shape::default());
    assert_eq!(truth.values[0][0], 20);
    let p = check_multi(&people, 4, 0b1100, 1, "not online");
    assert_eq!(p.row_totals[0], Cell::Withheld, "{p:?}");
    assert_eq!(p.total, Cell::Count(22));
}

#[test]
fn crossed_with_a_single_choice_item_no_small_count_is_worked_out() {
    // Two columns (girls, boys): in a vehicle among girls = 2.
    let people = people_of(&[((0b001, 0), 10), ((0b011, 0), 2), ((0b001, 1), 8), ((0b010, 1), 6), ((0b100, 1), 5)]);
    let p = check_multi(&people, 3, 0b100, 2, "vehicle among girls");
    assert_eq!(p.cells[1][0], Cell::Small);
    assert_eq!(p.column_totals, vec![Cell::Count(12), Cell::Count(19)]);
    assert_eq!(p.total, Cell::Count(31));
}

#[test]
fn no_small_count_can_be_worked_out_from_a_multi_choice_table() {
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    let mut small = 0;
    let mut withheld = 0;
    let mut crossed = 0;
    for round in 0..160 {
        let categories = rng.gen_range(1..=if round % 2 == 0 { 3 } else { 2 });
        let extra = rng.gen_range(0..=2usize);
        let rows = categories + extra;
        let alone = ((1u64 << rows) - 1) & !((1u64 << categories) - 1);
        let columns = if round % 3 == 0 { 1 } else { rng.gen_range(2..=if categories + extra <= 3 { 3 } else { 2 }) };
        let allowed: Vec<u64> = (1..(1u64 << rows)).filter(|&m| m & alone == 0 || m.count_ones() == 1).collect();
        let mut groups: Vec<((u64, usize), u64)> = (0..rng.gen_range(1..=3))
            .map(|_| {
                let set = (allowed[rng.gen_range(0..allowed.len())], rng.gen_range(0..columns));
                (set, [0, 1, 2, 3, 5, 6, 8][rng.gen_range(0..7)])
            })
            .collect();
        for _ in 0..rng.gen_range(0..=3) {
            let set = (allowed[rng.gen_range(0..allowed.len())], rng.gen_range(0..columns));
            groups.push((set, rng.gen_range(1..=2)));
        }
        let people = people_of(&groups);
        let context = format!("round {round}: {rows} rows (alone {alone:b}), {columns} columns, {groups:?}");
        let p = check_multi(&people, rows, alone, columns, &context);
        if p.cells.iter().flatten().chain(&p.row_totals).any(|&c| c == Cell::Small) {
            small += 1;
        }
        if p.cells.iter().flatten().chain(&p.row_totals).any(|&c| c == Cell::Withheld) {
            withheld += 1;
        }
        crossed += usize::from(columns > 1);
    }
    assert!(small > 100 && withheld > 20 && crossed > 60, "{small} tables with <5, {withheld} with *, {crossed} crossed");
}

#[test]
fn a_realistic_multi_choice_table_keeps_its_counts() {
    // Nine places, not known, not recorded: 12 online only, 9 in a vehicle
    // only, 6 both, 2 in school, 7 not recorded. Only school is small, and
    // nothing gives it away.
    let (school, vehicle, online, not_recorded) = (4, 6, 7, 10);
    let people =
        people_of(&[((1 << online, 0), 12), ((1 << vehicle, 0), 9), ((1 << vehicle | 1 << online, 0), 6), ((1 << school, 0), 2), ((1 << not_recorded, 0), 7)]);
    let table = Multi { rows: (0..11).map(|r| format!("r{r}")).collect(), alone: 0b110_0000_0000, columns: vec!["all".to_owned()], people };
    let p = publish_multi(&table);
    let mut expected = vec![Cell::Count(0); 11];
    expected[online] = Cell::Count(18);
    expected[vehicle] = Cell::Count(15);
    expected[school] = Cell::Small;
    expected[not_recorded] = Cell::Count(7);
    assert_eq!(p.row_totals, expected);
    assert_eq!(p.total, Cell::Count(36));
    // Three hundred children, ten categories ticked independently, by
    // four columns: every row is shown (hundreds of small combinations
    // of categories, none of which the rows give away).
    let mut rng = ChaCha8Rng::seed_from_u64(23);
    let share = [0.6, 0.5, 0.3, 0.2, 0.1, 0.05, 0.4, 0.02, 0.15, 0.3];
    let people: Vec<(u64, usize)> = (0..300)
        .map(|_| {
            let mut mask = 0;
            for (r, p) in share.iter().enumerate() {
                if rng.gen_bool(*p) {
                    mask |= 1 << r;
                }
            }
            if mask == 0 {
                mask = 1 << (10 + rng.gen_range(0..2));
            }
            (mask, rng.gen_range(0..4))
        })
        .collect();
    let table = Multi { rows: (0..12).map(|r| format!("r{r}")).collect(), alone: 0b1100_0000_0000, columns: (0..4).map(|c| format!("c{c}")).collect(), people };
    let p = publish_multi(&table);
    assert!(p.row_totals.iter().all(|c| matches!(c, Cell::Count(_) | Cell::Small)), "{p:?}");
    assert_eq!(p.total, Cell::Count(300));
}

/// Every set of groups a person can be in in a table by agency crossed
/// with each agency's own answers: agency r is group r, its column c group
/// `rows + r * columns + c`; a person is known to at least one agency, in
/// one of its columns each (or, when not `one`, in a non-empty set of them,
/// a column of `alone` only on its own).
fn agency_sets(rows: usize, columns: usize, one: bool, alone: u64) -> Vec<u64> {
    let answers: Vec<u64> = (1..(1u64 << columns)).filter(|&m| if one { m.count_ones() == 1 } else { m & alone == 0 || m.count_ones() == 1 }).collect();
    let mut sets = vec![0u64];
    for r in 0..rows {
        let mut next = Vec::new();
        for &set in &sets {
            next.push(set);
            next.extend(answers.iter().map(|&a| set | 1 << r | a << (rows + r * columns)));
        }
        sets = next;
    }
    sets.into_iter().filter(|&s| s != 0).collect()
}

/// Publishes a table by agency crossed with each agency's answers and
/// checks it as `check_multi` does: shown counts are true, the row totals
/// and the total are the one-way table by agency as published on its own,
/// and a brute-force attacker going through every assignment of people to
/// agencies and answers that fits everything published pins down no count
/// of 1 to 4 (about any cells, and agencies) that the row totals and the
/// total alone do not.
fn check_by_agency(people: &[Vec<(usize, u64)>], rows: usize, columns: usize, one: bool, alone: u64, context: &str) -> Published {
    let table = ByAgency {
        rows: (0..rows).map(|r| format!("a{r}")).collect(),
        columns: (0..columns).map(|c| format!("c{c}")).collect(),
        one,
        alone,
        people: people.to_vec(),
    };
    let p = publish_by_agency(&table);
    let context = format!("{context} → {p:?}");
    let fits = |cell: Cell, v: u64| match cell {
        Cell::Count(shown) => shown == v && !(1..=4).contains(&v),
        Cell::Small => (1..=4).contains(&v),
        Cell::Withheld => true,
    };
    let group_mask = |person: &Vec<(usize, u64)>| person.iter().fold(0u64, |m, &(r, cols)| m | 1 << r | cols << (rows + r * columns));
    let truth_masks: Vec<u64> = people.iter().map(group_mask).collect();
    for r in 0..rows {
        let known = truth_masks.iter().filter(|&&m| m & 1 << r != 0).count() as u64;
        assert!(fits(p.row_totals[r], known), "{context}: row {r}");
        for c in 0..columns {
            let v = truth_masks.iter().filter(|&&m| m & 1 << (rows + r * columns + c) != 0).count() as u64;
            assert!(fits(p.cells[r][c], v), "{context}: cell {r}, {c}");
        }
    }
    assert!(p.column_totals.is_empty(), "{context}");
    let one_way = publish_multi(&Multi {
        rows: table.rows.clone(),
        alone: 0,
        columns: vec!["all".to_owned()],
        people: truth_masks.iter().map(|&m| (m & ((1 << rows) - 1), 0)).collect(),
    });
    assert_eq!(p.row_totals, one_way.row_totals, "{context}");
    assert_eq!(p.total, one_way.total, "{context}");
    assert_eq!(p.total, super::super::primary(people.len() as u64), "{context}");
    let pinned = |published: &Published| -> Vec<(u64, u64, u64)> {
        let n = rows * (columns + 1);
        let everyone = (1u64 << n) - 1;
        let cell_groups = everyone & !((1u64 << rows) - 1);
        let statements: Vec<(u64, u64)> =
            (1..=everyone).flat_map(|all| subsets(everyone & !all).chain(std::iter::once(0)).map(move |none| (all, none))).collect();
        let _ = cell_groups;
        let count = |(all, none): (u64, u64), people: &mut dyn Iterator<Item = (u64, u64)>| -> u64 {
            people.filter(|&(mask, _)| mask & all == all && mask & none == 0).map(|(_, k)| k).sum()
        };
        let truth: Vec<u64> = statements.iter().map(|&q| count(q, &mut truth_masks.iter().map(|&m| (m, 1)))).collect();
        let watched: Vec<usize> = (0..statements.len()).filter(|&i| (1..=4).contains(&truth[i])).collect();
        let sets = agency_sets(rows, columns, one, alone);
        let cap = people.len() as u64 + 5;
        let whole = |cells: &[Cell]| !cells.is_empty() && cells.iter().all(|&c| c == Cell::Withheld);
        let domain = |cell: Cell, open: bool| match cell {
            Cell::Count(v) => (v, v),
            Cell::Small => (1, 4),
            Cell::Withheld if open => (0, cap),
            Cell::Withheld => (5, cap),
        };
        let select = |keep: &dyn Fn(u64) -> bool| -> Vec<usize> { (0..sets.len()).filter(|&i| keep(sets[i])).collect() };
        let mut counts = Vec::new();
        let rows_open = whole(&published.row_totals);
        for r in 0..rows {
            counts.push((select(&|m| m & 1 << r != 0), domain(published.row_totals[r], rows_open)));
        }
        counts.push((select(&|_| true), domain(published.total, false)));
        for r in 0..rows {
            for c in 0..columns {
                let g = rows + r * columns + c;
                counts.push((select(&|m| m & 1 << g != 0), domain(published.cells[r][c], whole(&published.cells[r]))));
            }
        }
        let attacker = MultiAttacker { sets: sets.iter().map(|&s| (s, 0)).collect(), counts };
        let mut seen: Vec<BTreeSet<u64>> = vec![BTreeSet::new(); watched.len()];
        let mut solutions = 0;
        attacker.explore(&mut |values| {
            solutions += 1;
            for (&i, seen) in watched.iter().zip(seen.iter_mut()) {
                if seen.len() < 2 {
                    seen.insert(count(statements[i], &mut sets.iter().copied().zip(values.iter().copied())));
                }
            }
            seen.iter().all(|s| s.len() >= 2)
        });
        assert!(solutions > 0, "{context}: the truth itself fits what was published");
        watched.iter().zip(&seen).filter(|(_, s)| s.len() < 2).map(|(&i, _)| (statements[i].0, statements[i].1, truth[i])).collect()
    };
    let found = pinned(&p);
    let excused = if found.is_empty() { Vec::new() } else { pinned(&Published { cells: vec![vec![Cell::Withheld; columns]; rows], ..p.clone() }) };
    let found: Vec<_> = found.into_iter().filter(|q| !excused.contains(q)).collect();
    assert!(found.is_empty(), "{context}: (all, none, value) {found:?} pinned down");
    p
}

/// `count` people of each list of (agency, columns).
fn agency_people(groups: &[(&[(usize, u64)], u64)]) -> Vec<Vec<(usize, u64)>> {
    groups.iter().flat_map(|&(person, k)| std::iter::repeat_n(person.to_vec(), k as usize)).collect()
}

#[test]
fn a_child_known_to_two_agencies_is_under_each_with_its_own_answer() {
    // Columns CSA, CSE. 10 children only social care calls CSA, 8 only
    // police calls CSE, 7 both know: social care calls them CSA, police
    // CSE (each agency's own habit).
    let people = agency_people(&[(&[(0, 0b01)], 10), (&[(1, 0b10)], 8), (&[(0, 0b01), (1, 0b10)], 7)]);
    let p = check_by_agency(&people, 2, 2, true, 0, "habits");
    assert_eq!(p.row_totals, vec![Cell::Count(17), Cell::Count(15)]);
    assert_eq!(p.total, Cell::Count(25), "17 + 15 = 32 under agencies, 25 children");
    assert_eq!(p.cells, vec![vec![Cell::Count(17), Cell::Count(0)], vec![Cell::Count(0), Cell::Count(15)]]);
}

#[test]
fn the_row_total_does_not_give_away_a_small_cell() {
    // Social care knows 12: 9 CSA, 3 CSE; police knows 10, all CSE. The
    // row total 12 less 9 gives the 3 away: one of them must be withheld.
    let people = agency_people(&[(&[(0, 0b01)], 9), (&[(0, 0b10)], 3), (&[(1, 0b10)], 10)]);
    let p = check_by_agency(&people, 2, 2, true, 0, "row total");
    assert_eq!(p.cells[0][1], Cell::Small);
    assert_eq!(p.cells[0][0], Cell::Withheld, "{p:?}");
}

#[test]
fn no_small_count_can_be_worked_out_from_an_agency_table() {
    let mut rng = ChaCha8Rng::seed_from_u64(31);
    let (mut small, mut withheld, mut shown) = (0, 0, 0);
    for round in 0..80 {
        // Every eighth table has three agencies (two answers each), so
        // statements joining two agencies' answers with a third's are tried.
        let rows = if round % 8 == 7 { 3 } else { 2 };
        let multi = round % 4 == 3 && rows == 2;
        let columns = if multi || rows == 3 {
            if rows == 3 {
                2
            } else {
                3
            }
        } else {
            rng.gen_range(2..=3)
        };
        // For a multi-choice item the last column is "not known": alone.
        let alone = if multi { 0b100 } else { 0 };
        let answers: Vec<u64> = (1..(1u64 << columns)).filter(|&m| if multi { m & alone == 0 || m.count_ones() == 1 } else { m.count_ones() == 1 }).collect();
        let person = |rng: &mut ChaCha8Rng| -> Vec<(usize, u64)> {
            let agencies = rng.gen_range(1..(1usize << rows));
            (0..rows).filter(|r| agencies & 1 << r != 0).map(|r| (r, answers[rng.gen_range(0..answers.len())])).collect()
        };
        let mut groups: Vec<(Vec<(usize, u64)>, u64)> =
            (0..rng.gen_range(1..=3)).map(|_| (person(&mut rng), [0, 1, 2, 3, 5, 6, 8][rng.gen_range(0..7)])).collect();
        for _ in 0..rng.gen_range(0..=2) {
            let p = person(&mut rng);
            groups.push((p, rng.gen_range(1..=2)));
        }
        let people: Vec<Vec<(usize, u64)>> = groups.iter().flat_map(|(p, k)| std::iter::repeat_n(p.clone(), *k as usize)).collect();
        if people.is_empty() {
            continue;
        }
        let context = format!("round {round}: {columns} columns, one {}, {groups:?}", !multi);
        let p = check_by_agency(&people, rows, columns, !multi, alone, &context);
        let cells: Vec<Cell> = p.cells.concat();
        small += usize::from(cells.contains(&Cell::Small));
        withheld += usize::from(cells.contains(&Cell::Withheld));
        shown += usize::from(cells.iter().any(|c| matches!(c, Cell::Count(v) if *v >= 5)));
    }
    assert!(small > 40 && withheld > 15 && shown > 20, "{small} tables with <5, {withheld} with *, {shown} with a count shown");
}

#[test]
fn a_realistic_agency_table_keeps_its_counts() {
    // Four agencies, three hundred children, each known to one to three of
    // them, each agency with its own answer of five (sex: male, female,
    // other, not known, not recorded), mostly agreeing: the large cells are
    // shown, not the whole body withheld.
    let mut rng = ChaCha8Rng::seed_from_u64(41);
    let people: Vec<Vec<(usize, u64)>> = (0..300)
        .map(|_| {
            let own = if rng.gen_bool(0.5) { 0 } else { 1 };
            let mut person = Vec::new();
            for r in 0..4 {
                if rng.gen_bool([0.7, 0.5, 0.3, 0.2][r]) || (r == 3 && person.is_empty()) {
                    let answer = if rng.gen_bool(0.9) { own } else { rng.gen_range(2..5) };
                    person.push((r, 1u64 << answer));
                }
            }
            person
        })
        .collect();
    let table = ByAgency { rows: (0..4).map(|r| format!("a{r}")).collect(), columns: (0..5).map(|c| format!("c{c}")).collect(), one: true, alone: 0, people };
    let p = publish_by_agency(&table);
    assert!(p.row_totals.iter().all(|c| matches!(c, Cell::Count(_))), "{p:?}");
    assert_eq!(p.total, Cell::Count(300));
    let big = p.cells.iter().flat_map(|row| &row[..2]).filter(|c| matches!(c, Cell::Count(v) if *v >= 5)).count();
    assert!(big >= 6, "{p:?}");
}

#[test]
fn a_row_single_cells_cannot_protect_is_withheld_whole() {
    // The youth offending team knows 6: 5 CSE, 1 CSA. Withholding the 5
    // ("5 or more") would give the 1 away: the row goes whole, the rest
    // stays.
    let people = agency_people(&[(&[(0, 0b001)], 17), (&[(1, 0b010)], 8), (&[(0, 0b001), (1, 0b010)], 5), (&[(2, 0b010)], 5), (&[(2, 0b001)], 1)]);
    let p = check_by_agency(&people, 3, 3, true, 0, "whole row");
    assert_eq!(p.cells[2], vec![Cell::Withheld; 3], "{p:?}");
    assert_eq!(p.cells[0][0], Cell::Count(22), "{p:?}");
    assert_eq!(p.row_totals[2], Cell::Count(6));
}
