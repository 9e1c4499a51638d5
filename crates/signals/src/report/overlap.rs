//! People known to pairs of groups: a symmetric matrix whose diagonal
//! counts the people each group knows and whose other cells count the
//! people both groups know (the panel's interconnectedness matrix, groups
//! being agencies).
//!
//! Such a matrix gives more away than its cells. With two groups, the
//! people known to A only are `A − both`; with more, subtracting and
//! combining cells, and knowing that no count is below zero, can pin down
//! how many people are known to one set of groups and to none of another.
//! So this publishes:
//!
//! - every count from 1 to 4 as `<5` (primary suppression);
//! - further cells off the diagonal as `*` (5 or more), (a, b) and (b, a)
//!   alike, until no count of 1 to 4 of the people known to every group of
//!   one set and to none of another can be worked out, for: exactly one
//!   set of groups (every set that has anyone), any statement about one,
//!   two or three groups ("known to A but not B", "known to A and B but not
//!   C", "known to A but neither B nor C", ...), and each cell shown `<5`.
//!   With up to four groups that is every such count there is;
//! - where that cannot be done, or would take more than about a second of
//!   work (partnerships of a dozen agencies or more with thousands of
//!   people), the diagonal only: every cell off it `*`, which then stands
//!   for any count.
//!
//! "Cannot be worked out" is proved, not assumed: for every such count of
//! 1 to 4 the search below finds a second assignment of people to groups,
//! one or two small changes away from the true one, that fits every
//! published marker (shown counts exactly, `<5` as 1–4, `*` as 5 or more)
//! and gives that count another value. An attacker holding the matrix
//! cannot tell the two apart. The diagonal alone needs no search: from each
//! group's count alone, a person known to several groups could as well be
//! several people known to one each, a person could be known to one group
//! more or fewer at the expense of another person, and a group's own small
//! count could be one more or one less; so nothing of 1 to 4 is pinned down.

use std::collections::{BTreeMap, BTreeSet};

use super::Cell;

/// A count a panel must not be able to work out when it is 1 to 4: the
/// people known to every group in `all` and to none in `none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Protected {
    all: u64,
    none: u64,
}

impl Protected {
    /// Whether a person known to the groups in `mask` is counted.
    fn counts(&self, mask: u64) -> bool {
        mask & self.all == self.all && mask & self.none == 0
    }

    /// The groups it is about.
    fn about(&self) -> u64 {
        self.all | self.none
    }
}

fn bit(group: usize) -> u64 {
    1 << group
}

fn groups_in(mask: u64) -> impl Iterator<Item = usize> {
    (0..64).filter(move |&g| mask & bit(g) != 0)
}

/// The subsets of `mask` (empty set excluded).
fn subsets(mask: u64) -> impl Iterator<Item = u64> {
    // Walks down through the subsets: s - 1 & mask.
    let mut next = mask;
    std::iter::from_fn(move || {
        let current = next;
        if current == 0 {
            return None;
        }
        next = (current - 1) & mask;
        Some(current)
    })
}

/// A change to the true assignment: (set of groups, people added or
/// removed there). The empty set stands for people no group knows, who
/// are not counted.
type Move = Vec<(u64, i64)>;

/// A move's net effect: people per set, and cells (a <= b).
type Effect = (Vec<(u64, i64)>, Vec<(usize, usize, i64)>);

/// What a move can break.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Broken {
    /// Fewer than no people known to exactly this set.
    Set(u64),
    /// Cell (a, b), a <= b, no longer fits its marker.
    Cell(usize, usize),
}

/// Most second assignments tried in all (about a second of work); past it,
/// the matrix is published with the diagonal only.
const WORK: usize = 400_000;

/// Most two-move changes tried for one count before it is taken as
/// exposed.
const PAIR_BUDGET: usize = 40_000;

/// Most other pending counts tried when choosing between cells.
const SETTLES: usize = 12;

/// Most sets of groups (the most common) that quadratic move families go
/// through.
const COMMON: usize = 48;

/// The true counts, per set of groups, and the matrix they make.
struct Overlaps {
    groups: usize,
    /// People known to exactly each set of groups (sets with anyone).
    exactly: BTreeMap<u64, u64>,
    /// `values[a][b]`: people known to both a and b.
    values: Vec<Vec<u64>>,
    /// The most common sets of groups, most people first.
    common: Vec<u64>,
    /// Second assignments tried so far, all counts together.
    tried: std::cell::Cell<usize>,
}

impl Overlaps {
    fn new(masks: &[u64], groups: usize) -> Overlaps {
        let everyone = if groups >= 64 {
            u64::MAX
        } else {
            bit(groups) - 1
        };
        let mut exactly = BTreeMap::new();
        for &mask in masks {
            if mask & everyone != 0 {
                *exactly.entry(mask & everyone).or_insert(0u64) += 1;
            }
        }
        let mut values = vec![vec![0u64; groups]; groups];
        for (&mask, &n) in &exactly {
            for a in groups_in(mask) {
                for b in groups_in(mask) {
                    values[a][b] += n;
                }
            }
        }
        let mut common: Vec<u64> = exactly.keys().copied().collect();
        common.sort_by_key(|&m| (std::cmp::Reverse(exactly[&m]), m));
        common.truncate(COMMON);
        Overlaps {
            groups,
            exactly,
            values,
            common,
            tried: std::cell::Cell::new(0),
        }
    }

    /// Every group, as a mask.
    fn everyone(&self) -> u64 {
        if self.groups >= 64 {
            u64::MAX
        } else {
            bit(self.groups) - 1
        }
    }

    /// Whether the work allowed is spent (then nothing more is proved).
    fn spent(&self) -> bool {
        self.tried.get() > WORK
    }

    fn people(&self, mask: u64) -> u64 {
        self.exactly.get(&mask).copied().unwrap_or(0)
    }

    fn value(&self, q: Protected) -> u64 {
        self.exactly
            .iter()
            .filter(|(&mask, _)| q.counts(mask))
            .map(|(_, &n)| n)
            .sum()
    }

    /// Every protected count: exactly each set of groups that has anyone,
    /// and every statement about one, two or three groups.
    fn protected(&self) -> Vec<Protected> {
        let n = self.groups;
        let everyone = self.everyone();
        let mut out: BTreeSet<Protected> = self
            .exactly
            .keys()
            .map(|&set| Protected {
                all: set,
                none: everyone & !set,
            })
            .collect();
        let mut about = |groups: u64| {
            for all in subsets(groups) {
                out.insert(Protected {
                    all,
                    none: groups & !all,
                });
            }
        };
        for a in 0..n {
            about(bit(a));
            for b in a + 1..n {
                about(bit(a) | bit(b));
                for c in b + 1..n {
                    about(bit(a) | bit(b) | bit(c));
                }
            }
        }
        out.into_iter().collect()
    }

    /// A move's net effect.
    fn effect(step: &[(u64, i64)]) -> Effect {
        let mut sets: Vec<(u64, i64)> = step.iter().copied().filter(|&(m, _)| m != 0).collect();
        sets.sort_unstable_by_key(|&(m, _)| m);
        sets.dedup_by(|later, first| {
            if later.0 == first.0 {
                first.1 += later.1;
                true
            } else {
                false
            }
        });
        sets.retain(|&(_, delta)| delta != 0);
        let mut cells: Vec<(usize, usize, i64)> = Vec::new();
        for &(mask, delta) in &sets {
            for a in groups_in(mask) {
                for b in groups_in(mask).filter(|&b| b >= a) {
                    cells.push((a, b, delta));
                }
            }
        }
        cells.sort_unstable_by_key(|&(a, b, _)| (a, b));
        cells.dedup_by(|later, first| {
            if (later.0, later.1) == (first.0, first.1) {
                first.2 += later.2;
                true
            } else {
                false
            }
        });
        cells.retain(|&(_, _, delta)| delta != 0);
        (sets, cells)
    }

    /// What the assignment changed by `step` breaks: sets left with fewer
    /// than no people, and cells the published markers no longer allow.
    fn broken(&self, status: &[Vec<Cell>], step: &[(u64, i64)]) -> Vec<Broken> {
        let (sets, cells) = Overlaps::effect(step);
        let mut out: Vec<Broken> = sets
            .iter()
            .filter(|&&(mask, delta)| (self.people(mask) as i64) + delta < 0)
            .map(|&(mask, _)| Broken::Set(mask))
            .collect();
        out.extend(
            cells
                .into_iter()
                .filter(|&(a, b, delta)| {
                    let after = self.values[a][b] as i64 + delta;
                    !match status[a][b] {
                        Cell::Count(_) => false,
                        Cell::Small => (1..=4).contains(&after),
                        Cell::Withheld => after >= 5,
                    }
                })
                .map(|(a, b, _)| Broken::Cell(a, b)),
        );
        out
    }

    /// Whether the assignment changed by `step` fits the published
    /// markers and gives `q` another value.
    fn fits(&self, status: &[Vec<Cell>], q: Protected, step: &[(u64, i64)]) -> bool {
        self.tried.set(self.tried.get() + 1);
        let moved: i64 = step
            .iter()
            .filter(|&&(mask, _)| mask != 0 && q.counts(mask))
            .map(|&(_, delta)| delta)
            .sum();
        moved != 0 && self.broken(status, step).is_empty()
    }

    /// Moves that keep every group's count and every cell: a person known
    /// to all of W (three or four groups, or a set of five to ten itself)
    /// and one known to each single group of W, for ones known to each pair
    /// of W — the signs alternating over the subsets of W. The sets W
    /// through `set`.
    fn wholes(&self, set: u64) -> Vec<u64> {
        let n = self.groups;
        let size = set.count_ones() as usize;
        let outside: Vec<u64> = (0..n).map(bit).filter(|&g| set & g == 0).collect();
        let mut out: Vec<u64> = Vec::new();
        for target in 3..=4usize {
            if target < size || (target == 4 && n > 24) {
                continue;
            }
            match target - size {
                0 => out.push(set),
                1 => out.extend(outside.iter().map(|&g| set | g)),
                2 => {
                    for (i, &g) in outside.iter().enumerate() {
                        out.extend(outside[i + 1..].iter().map(|&h| set | g | h));
                    }
                }
                _ => {
                    for (i, &g) in outside.iter().enumerate() {
                        for (j, &h) in outside.iter().enumerate().skip(i + 1) {
                            out.extend(outside[j + 1..].iter().map(|&k| set | g | h | k));
                        }
                    }
                }
            }
        }
        if (5..=10).contains(&size) {
            out.push(set);
        }
        out
    }

    /// The move keeping everything over `whole`, `sign` 1 or -1 (the
    /// change for the people known to all of it).
    fn keeping_everything(whole: u64, sign: i64) -> Move {
        let size = whole.count_ones();
        subsets(whole)
            .map(|sub| {
                let odd = (size - sub.count_ones()) % 2 == 1;
                (sub, if odd { -sign } else { sign })
            })
            .collect()
    }

    /// Whether that move leaves nobody below zero and moves `q` (it fits
    /// any markers: it keeps every cell).
    fn keeps_and_moves(&self, q: Protected, whole: u64, sign: i64) -> bool {
        self.tried.set(self.tried.get() + 1);
        let size = whole.count_ones();
        let mut moved = 0;
        for sub in subsets(whole) {
            let odd = (size - sub.count_ones()) % 2 == 1;
            let delta = if odd { -sign } else { sign };
            if delta < 0 && self.people(sub) == 0 {
                return false;
            }
            if q.counts(sub) {
                moved += delta;
            }
        }
        moved != 0
    }

    /// Moves that change cell (a, b) only: people known to R plus a and to
    /// R plus b become people known to R and to R plus both (and back).
    fn swapping(a: usize, b: usize, rest: u64) -> [Move; 2] {
        let r = rest & !bit(a) & !bit(b);
        let forward = vec![
            (r | bit(a), -1),
            (r | bit(b), -1),
            (r, 1),
            (r | bit(a) | bit(b), 1),
        ];
        let back = forward.iter().map(|&(m, d)| (m, -d)).collect();
        [forward, back]
    }

    /// Small changes that move `q`, each passed to `visit` until it says
    /// stop (then true): swaps through hidden cells, a person more or fewer
    /// or known to one group more or fewer, split in two or merged from
    /// two, a group handed from one person to another. Quadratic families
    /// go through the most common sets of groups only.
    fn visit_moves(
        &self,
        status: &[Vec<Cell>],
        q: Protected,
        visit: &mut dyn FnMut(Move) -> bool,
    ) -> bool {
        let n = self.groups;
        let hidden: Vec<(usize, usize)> = (0..n)
            .flat_map(|a| (a + 1..n).map(move |b| (a, b)))
            .filter(|&(a, b)| !matches!(status[a][b], Cell::Count(_)))
            .collect();
        let exact_set = q.about() == self.everyone();
        // The sets `q` counts people of that have people, and the least.
        let mut counted: Vec<u64> = if exact_set {
            Vec::new()
        } else {
            self.exactly
                .keys()
                .copied()
                .filter(|&m| q.counts(m))
                .collect()
        };
        if !counted.contains(&q.all) {
            counted.push(q.all);
        }
        // A hidden cell between groups `q` is about, through every set.
        if !exact_set {
            for &(a, b) in hidden
                .iter()
                .filter(|&&(a, b)| q.about() & bit(a) != 0 && q.about() & bit(b) != 0)
            {
                for &rest in self.exactly.keys().chain(std::iter::once(&0)) {
                    for step in Overlaps::swapping(a, b, rest) {
                        if visit(step) {
                            return true;
                        }
                    }
                }
            }
        }
        for &set in &counted {
            for &(a, b) in &hidden {
                for step in Overlaps::swapping(a, b, set) {
                    if visit(step) {
                        return true;
                    }
                }
            }
            if visit(vec![(set, 1)]) || visit(vec![(set, -1)]) {
                return true;
            }
            for g in 0..n {
                let other = set ^ bit(g);
                if visit(vec![(set, -1), (other, 1)]) || visit(vec![(other, -1), (set, 1)]) {
                    return true;
                }
            }
        }
        if exact_set {
            // Split in two, merged from two.
            let set = q.all;
            let members: Vec<u64> = groups_in(set).map(bit).collect();
            if (2..=10).contains(&members.len()) {
                let lowest = members[0];
                for part in subsets(set).filter(|&p| p & lowest != 0 && p != set) {
                    if visit(vec![(set, -1), (part, 1), (set & !part, 1)])
                        || visit(vec![(set, 1), (part, -1), (set & !part, -1)])
                    {
                        return true;
                    }
                }
            }
            for &other in &self.common {
                let (merge, split) = if other & set == 0 {
                    (
                        vec![(set, -1), (other, -1), (set | other, 1)],
                        vec![(set, 1), (other, 1), (set | other, -1)],
                    )
                } else if other & set == set && other != set {
                    (
                        vec![(other, -1), (set, 1), (other & !set, 1)],
                        vec![(other, 1), (set, -1), (other & !set, -1)],
                    )
                } else {
                    continue;
                };
                if visit(merge) || visit(split) {
                    return true;
                }
            }
        } else {
            // A person's group split off, or handed to another person, for
            // the groups `q` is about.
            for &from in &self.common {
                for g in groups_in(q.about() & from) {
                    if visit(vec![(from, -1), (from & !bit(g), 1), (bit(g), 1)])
                        || visit(vec![(from, 1), (from & !bit(g), -1), (bit(g), -1)])
                    {
                        return true;
                    }
                    for &to in &self.common {
                        if to & bit(g) == 0
                            && visit(vec![
                                (from, -1),
                                (from & !bit(g), 1),
                                (to, -1),
                                (to | bit(g), 1),
                            ])
                        {
                            return true;
                        }
                    }
                }
            }
        }
        false
    }

    /// The moves keeping everything through `q`, and those of
    /// [`Overlaps::visit_moves`]: all of them.
    fn moves(&self, status: &[Vec<Cell>], q: Protected) -> Vec<Move> {
        let mut out = Vec::new();
        if q.about().count_ones() >= 3 {
            for whole in self.wholes(q.all) {
                out.push(Overlaps::keeping_everything(whole, 1));
                out.push(Overlaps::keeping_everything(whole, -1));
            }
        }
        self.visit_moves(status, q, &mut |step| {
            out.push(step);
            false
        });
        out
    }

    /// Moves to put right what another move broke: those keeping every
    /// cell, a change of one hidden cell, a person known to one group more
    /// or fewer, a person known to one group only more or fewer.
    fn repairs(&self, status: &[Vec<Cell>]) -> Vec<Move> {
        let n = self.groups;
        let mut out = Vec::new();
        for &set in &self.common {
            if set.count_ones() <= 3 {
                for whole in self.wholes(set) {
                    out.push(Overlaps::keeping_everything(whole, 1));
                    out.push(Overlaps::keeping_everything(whole, -1));
                }
            }
            for g in 0..n {
                out.push(vec![(set, -1), (set ^ bit(g), 1)]);
                out.push(vec![(set ^ bit(g), -1), (set, 1)]);
            }
        }
        for (a, row) in status.iter().enumerate() {
            out.push(vec![(bit(a), 1)]);
            out.push(vec![(bit(a), -1)]);
            for (b, cell) in row.iter().enumerate().skip(a + 1) {
                if !matches!(cell, Cell::Count(_)) {
                    for &rest in self.common.iter().chain(std::iter::once(&0)) {
                        out.extend(Overlaps::swapping(a, b, rest));
                    }
                }
            }
        }
        out
    }

    /// Whether a second assignment, one move away (or two, when `deep`),
    /// fits the markers and gives `q` another value.
    fn uncertain(&self, status: &[Vec<Cell>], q: Protected, deep: bool) -> bool {
        if self.spent() {
            return false;
        }
        if q.about().count_ones() >= 3
            && self.wholes(q.all).into_iter().any(|whole| {
                self.keeps_and_moves(q, whole, 1) || self.keeps_and_moves(q, whole, -1)
            })
        {
            return true;
        }
        if self.visit_moves(status, q, &mut |step| self.fits(status, q, &step)) {
            return true;
        }
        if !deep {
            return false;
        }
        // Two moves: one through `q`, then one that puts right what it
        // broke (only those that touch what it broke are tried).
        let moves = self.moves(status, q);
        let repairs: Vec<Move> = self
            .repairs(status)
            .into_iter()
            .chain(moves.iter().cloned())
            .collect();
        let mut touching: BTreeMap<Broken, Vec<usize>> = BTreeMap::new();
        for (i, repair) in repairs.iter().enumerate() {
            let (sets, cells) = Overlaps::effect(repair);
            for (mask, _) in sets {
                touching.entry(Broken::Set(mask)).or_default().push(i);
            }
            for (a, b, _) in cells {
                touching.entry(Broken::Cell(a, b)).or_default().push(i);
            }
        }
        let mut budget = PAIR_BUDGET;
        for first in &moves {
            let broken = self.broken(status, first);
            let Some(candidates) = broken
                .iter()
                .map(|b| touching.get(b).map(Vec::as_slice).unwrap_or(&[]))
                .min_by_key(|c| c.len())
            else {
                continue;
            };
            for &i in candidates {
                if budget == 0 || self.spent() {
                    return false;
                }
                budget -= 1;
                let step: Move = first.iter().chain(&repairs[i]).copied().collect();
                if self.fits(status, q, &step) {
                    return true;
                }
            }
        }
        false
    }

    /// Every cell as primary suppression shows it.
    fn primary(&self) -> Vec<Vec<Cell>> {
        self.values
            .iter()
            .map(|row| row.iter().map(|&v| super::primary(v)).collect())
            .collect()
    }

    /// The diagonal as primary suppression shows it, every other cell `*`.
    fn diagonal_only(&self) -> Vec<Vec<Cell>> {
        let mut status = self.primary();
        for (a, row) in status.iter_mut().enumerate() {
            for (b, cell) in row.iter_mut().enumerate() {
                if a != b {
                    *cell = Cell::Withheld;
                }
            }
        }
        status
    }

    /// Primary suppression, then cells off the diagonal withheld until
    /// every protected count of 1 to 4 is proved uncertain; `None` when
    /// that takes every such cell or more work than allowed.
    fn protect(&self) -> Option<Vec<Vec<Cell>>> {
        let n = self.groups;
        let mut status = self.primary();
        let withhold = |status: &mut Vec<Vec<Cell>>, a: usize, b: usize| {
            status[a][b] = Cell::Withheld;
            status[b][a] = Cell::Withheld;
        };
        // Statements about fewer groups first: they point at the cells to
        // withhold. A count proved uncertain stays so as more is withheld
        // (the second assignment still fits), so each is proved once. One
        // move away first, for all; two only for the count at the front,
        // as withholding a cell for one count often settles many. With
        // each: how many cells were withheld when it was last tried in
        // full.
        let mut small: Vec<Protected> = self
            .protected()
            .into_iter()
            .filter(|&q| (1..=4).contains(&self.value(q)))
            .collect();
        small.sort_by_key(|q| (q.about().count_ones(), *q));
        let mut pending: Vec<(Protected, Option<usize>)> = Vec::new();
        for q in small {
            if self.spent() {
                return None;
            }
            if !self.uncertain(&status, q, false) {
                pending.push((q, None));
            }
        }
        let mut withheld = 0;
        while let Some(&(q, tried)) = pending.first() {
            if self.spent() {
                return None;
            }
            if tried != Some(withheld) {
                if self.uncertain(&status, q, false) || self.uncertain(&status, q, true) {
                    pending.remove(0);
                    continue;
                }
                pending[0].1 = Some(withheld);
            }
            let mut shown: Vec<(usize, usize)> = (0..n)
                .flat_map(|a| (a + 1..n).map(move |b| (a, b)))
                .filter(|&(a, b)| matches!(status[a][b], Cell::Count(v) if v >= 5))
                .collect();
            shown.sort_by_key(|&(a, b)| (self.values[a][b], a, b));
            // How far a cell is from the groups `q` is about (0: both of
            // its groups are among them).
            let distance = |a: usize, b: usize| {
                2 - (q.about() & bit(a) != 0) as u8 - (q.about() & bit(b) != 0) as u8
            };
            // Of the shown cells that on their own make `q` uncertain (one
            // move away; else two, for cells next to its groups), the one
            // that settles most of the other pending counts, then the
            // smallest; else the nearest to its groups, then the smallest.
            let settles = |a: usize, b: usize, deep: bool| -> Option<usize> {
                let mut trial = status.clone();
                withhold(&mut trial, a, b);
                self.uncertain(&trial, q, deep).then(|| {
                    pending[1..]
                        .iter()
                        .take(SETTLES)
                        .filter(|&&(other, _)| self.uncertain(&trial, other, false))
                        .count()
                })
            };
            let best = |deep: bool| {
                shown
                    .iter()
                    .filter(|&&(a, b)| !deep || distance(a, b) < 2)
                    .filter_map(|&(a, b)| {
                        settles(a, b, deep).map(|k| (std::cmp::Reverse(k), self.values[a][b], a, b))
                    })
                    .min()
                    .map(|(_, _, a, b)| (a, b))
            };
            let (a, b) = best(false).or_else(|| best(true)).or_else(|| {
                shown
                    .iter()
                    .copied()
                    .min_by_key(|&(a, b)| (distance(a, b), self.values[a][b], a, b))
            })?;
            withhold(&mut status, a, b);
            withheld += 1;
        }
        Some(status)
    }
}

/// Publishes the matrix of people known to each pair of `groups` groups
/// (diagonal: known to the group), from each person's set of groups as a
/// bit mask (bit g: known to group g; bits from `groups` on are ignored).
/// Symmetric: cell (a, b) reads as (b, a). See the module documentation for
/// what is withheld and why.
pub fn publish_overlaps(masks: &[u64], groups: usize) -> Vec<Vec<Cell>> {
    let o = Overlaps::new(masks, groups.min(64));
    o.protect().unwrap_or_else(|| o.diagonal_only())
}

#[cfg(test)]
mod tests;
