use std::collections::BTreeSet;

use rand::{Rng, SeedableRng};

use rand_chacha::ChaCha8Rng;

use super::*;

/// What the markers allow a cell, as an attacker reads them: `*` is 5 or
/// more, unless every cell off the diagonal is `*` (then any count).
fn domains(published: &[Vec<Cell>], cap: u64) -> Vec<Vec<(u64, u64)>> {
    let n = published.len();
    let diagonal_only =
        n > 1 && (0..n).all(|a| (0..n).all(|b| a == b || published[a][b] == Cell::Withheld));
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
                members
                    .iter()
                    .flat_map(|&a| {
                        members
                            .iter()
                            .filter(move |&&b| b >= a)
                            .map(move |&b| (a, b))
                    })
                    .collect()
            })
            .collect();
        let mut closes_after = vec![Vec::new(); sets.len()];
        for a in 0..n {
            for b in a..n {
                let last = (0..sets.len())
                    .rev()
                    .find(|&i| cells_of[i].contains(&(a, b)))
                    .expect("some set");
                closes_after[last].push(a * n + b);
            }
        }
        Attacker {
            n,
            domains: domains(published, cap),
            sets,
            cells_of,
            closes_after,
        }
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

    fn fill(
        &self,
        i: usize,
        sums: &mut [u64],
        counts: &mut [u64],
        seen: &mut dyn FnMut(&[u64]) -> bool,
    ) -> bool {
        let n = self.n;
        if i == self.sets.len() {
            return seen(counts);
        }
        let most = self.cells_of[i]
            .iter()
            .map(|&(a, b)| self.domains[a][b].1 - sums[a * n + b])
            .min()
            .unwrap_or(0);
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
    sets.iter()
        .zip(counts)
        .filter(|(&s, _)| q.counts(s))
        .map(|(_, &k)| k)
        .sum()
}

/// Every count of the people known to all groups of one set and to none
/// of another (with up to four groups: every count of people by which
/// groups know them, exact sets, statements about some groups, and the
/// cells) from 1 to 4 that the attacker pins down.
fn pinned(masks: &[u64], n: usize, published: &[Vec<Cell>]) -> Vec<(Protected, u64)> {
    let truth = Overlaps::new(masks, n);
    let cap = truth
        .values
        .iter()
        .enumerate()
        .map(|(a, row)| row[a])
        .sum::<u64>()
        + 5;
    let attacker = Attacker::new(published, cap);
    let everyone = (1u64 << n) - 1;
    let mut watched: Vec<Protected> = (1..=everyone)
        .flat_map(|all| {
            subsets(everyone & !all)
                .chain(std::iter::once(0))
                .map(move |none| Protected { all, none })
        })
        .collect();
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
    watched
        .into_iter()
        .zip(values)
        .filter(|(_, seen)| seen.len() < 2)
        .map(|(q, _)| (q, truth.value(q)))
        .collect()
}

fn masks_of(people: &[(u64, u64)]) -> Vec<u64> {
    people
        .iter()
        .flat_map(|&(mask, k)| std::iter::repeat_n(mask, k as usize))
        .collect()
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
    assert!(
        found.is_empty(),
        "{context}: {found:?} pinned down from {published:?}"
    );
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
    let masks = masks_of(&[
        (0b0101, 6),
        (0b0100, 2),
        (0b0111, 5),
        (0b1110, 3),
        (0b0110, 2),
        (0b1000, 3),
    ]);
    let truth = Overlaps::new(&masks, 4);
    let c_only = Protected {
        all: 0b0100,
        none: 0b0011,
    };
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
    assert!(
        (0..3).any(|a| (0..3).any(|b| published[a][b] == Cell::Withheld)),
        "something is withheld: {published:?}"
    );
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
        let typical: Vec<u64> = (0..rng.gen_range(1..=3))
            .map(|_| rng.gen_range(1..(1u64 << n)))
            .collect();
        let mut people: Vec<(u64, u64)> = typical
            .iter()
            .map(|&m| (m, [0, 1, 2, 3, 5, 6][rng.gen_range(0..6)]))
            .collect();
        for _ in 0..rng.gen_range(0..=if n == 4 { 3 } else { 4 }) {
            people.push((rng.gen_range(1..(1u64 << n)), rng.gen_range(1..=2)));
        }
        let masks = masks_of(&people);
        let context = format!("round {round}: {n} groups, {people:?}");
        let published = check(&masks, n, &context);
        let truth = Overlaps::new(&masks, n);
        small += truth
            .protected()
            .into_iter()
            .filter(|&q| (1..=4).contains(&truth.value(q)))
            .count();
        let naive = truth.primary();
        if !pinned(&masks, n, &naive).is_empty() {
            naive_leaks += 1;
        }
        let hidden = (0..n)
            .flat_map(|a| (a + 1..n).map(move |b| (a, b)))
            .filter(|&(a, b)| published[a][b] == Cell::Withheld)
            .count();
        if hidden > 0 {
            withheld += 1;
        }
        if n > 1 && hidden == n * (n - 1) / 2 {
            diagonal_only += 1;
        }
    }
    assert!(
        small > 500,
        "the rounds exercised suppression ({small} small counts)"
    );
    assert!(
        naive_leaks > 40,
        "primary suppression alone gives counts away ({naive_leaks} matrices)"
    );
    assert!(
        withheld > 20 && diagonal_only < withheld,
        "{withheld} matrices with *, {diagonal_only} diagonal only"
    );
}

#[test]
fn the_diagonal_alone_gives_nothing_away() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for round in 0..60 {
        let n = rng.gen_range(2..=3);
        let people: Vec<(u64, u64)> = (0..rng.gen_range(1..=5))
            .map(|_| (rng.gen_range(1..(1u64 << n)), rng.gen_range(1..=4)))
            .collect();
        let masks = masks_of(&people);
        let truth = Overlaps::new(&masks, n);
        let published: Vec<Vec<Cell>> = (0..n)
            .map(|a| {
                (0..n)
                    .map(|b| {
                        if a == b {
                            super::super::primary(truth.values[a][a])
                        } else {
                            Cell::Withheld
                        }
                    })
                    .collect()
            })
            .collect();
        assert_eq!(published, truth.diagonal_only());
        let found = pinned(&masks, n, &published);
        assert!(found.is_empty(), "round {round}: {people:?}: {found:?}");
    }
}

#[test]
fn a_realistic_matrix_is_shown_in_full() {
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
    assert!(
        published
            .iter()
            .flatten()
            .all(|c| matches!(c, Cell::Count(_))),
        "{published:?}"
    );
}
