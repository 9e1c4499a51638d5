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

/// Groups every person is in some of, as everyone knows (a table's
/// structure): `one` when each person is in exactly one of them, and
/// `alone` the groups a person can only be in without the others of the
/// family (such as "not known").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Family {
    groups: u64,
    one: bool,
    alone: u64,
}

/// A group a person is in exactly when they are in one of its parts (an
/// agency, and the answers that agency's own records give): `one` when a
/// person is in at most one part at a time, `alone` the parts only ever
/// held without the others (such as "not known").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Nest {
    whole: usize,
    parts: u64,
    one: bool,
    alone: u64,
}

/// What an attacker knows of the sets of groups people can be in, besides
/// the published cells: none for agencies (any set), families for a table
/// by a multi-choice item, and nests as well for a table by agency crossed
/// with each agency's own answers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Shape {
    families: Vec<Family>,
    nests: Vec<Nest>,
}

impl Shape {
    /// One group holding everyone (its count published), and `groups`,
    /// each person in at least one of them (`alone`: those only ever held
    /// on their own).
    fn everyone_and(everyone: u64, groups: u64, alone: u64) -> Shape {
        Shape { families: vec![Family { groups: everyone, one: true, alone: 0 }, Family { groups, one: false, alone }], nests: Vec::new() }
    }
}

impl Shape {
    /// Whether a person can be known to exactly the groups in `mask`.
    fn allows(&self, mask: u64) -> bool {
        mask != 0
            && self.families.iter().all(|f| {
                let x = mask & f.groups;
                x != 0 && (!f.one || x.count_ones() == 1) && (x & f.alone == 0 || x.count_ones() == 1)
            })
            && self.nests.iter().all(|n| {
                let x = mask & n.parts;
                (mask & bit(n.whole) != 0) == (x != 0) && (!n.one || x.count_ones() <= 1) && (x & n.alone == 0 || x.count_ones() <= 1)
            })
    }

    /// Whether one person can be in both groups.
    fn meets(&self, a: usize, b: usize) -> bool {
        let pair = bit(a) | bit(b);
        self.families.iter().all(|f| {
            let x = pair & f.groups;
            x.count_ones() < 2 || (!f.one && x & f.alone == 0)
        }) && self.nests.iter().all(|n| {
            let x = pair & n.parts;
            x.count_ones() < 2 || (!n.one && x & n.alone == 0)
        })
    }

    /// The same groups exchanged in one move: (g, h) in a family of which
    /// each person is in exactly one.
    fn exchanges(&self, set: u64) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for f in self.families.iter().filter(|f| f.one && f.groups.count_ones() > 1) {
            for g in groups_in(set & f.groups) {
                out.extend(groups_in(f.groups & !set).map(|h| (g, h)));
            }
        }
        // An agency's one answer changed for another.
        for n in self.nests.iter().filter(|n| n.one && set & bit(n.whole) != 0) {
            for g in groups_in(set & n.parts) {
                out.extend(groups_in(n.parts & !set).map(|h| (g, h)));
            }
        }
        out
    }

    /// Moves keeping every group's count where groups change together: a
    /// person of `set` gives up one nest's unit (its whole and a part) and
    /// another person, of the same set less that unit, takes up a unit of a
    /// nest `set` is not in; that is, people in R + u and R + v become
    /// people in R and R + u + v (and back).
    fn unit_swaps(&self, set: u64) -> Vec<Move> {
        let mut out = Vec::new();
        for held in &self.nests {
            let x = set & held.parts;
            if x.count_ones() != 1 {
                continue;
            }
            let u = bit(held.whole) | x;
            let rest = set & !u;
            for other in self.nests.iter().filter(|n| set & bit(n.whole) == 0) {
                for p in groups_in(other.parts) {
                    let v = bit(other.whole) | bit(p);
                    let forward = vec![(set, -1), (rest | v, -1), (rest, 1), (set | v, 1)];
                    let back = forward.iter().map(|&(m, d)| (m, -d)).collect();
                    out.push(forward);
                    out.push(back);
                }
            }
        }
        out
    }

    /// Groups that change together, as masks to toggle in a person's set:
    /// a nest's whole with its first part, or with its last.
    fn toggles(&self, set: u64) -> Vec<u64> {
        let mut out = Vec::new();
        for n in &self.nests {
            let x = set & n.parts;
            match x.count_ones() {
                0 => out.extend(groups_in(n.parts).map(|p| bit(n.whole) | bit(p))),
                1 => out.push(bit(n.whole) | x),
                _ => {}
            }
        }
        out
    }
}

fn groups_in(mask: u64) -> impl Iterator<Item = usize> {
    // Lowest first, one step per group in the mask.
    let mut rest = mask;
    std::iter::from_fn(move || {
        let g = rest.trailing_zeros() as usize;
        rest &= rest.wrapping_sub(1);
        (g < 64).then_some(g)
    })
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
    /// The sets people can be in.
    shape: Shape,
    /// Cells whose `*` stands for any count (those not published at all,
    /// or withheld with the rest of their row or table).
    open: Vec<Vec<bool>>,
    /// Statements are protected when about one of these groups, or when a
    /// single group's own count (see [`Overlaps::protected`]).
    watched: u64,
    /// Exact sets are protected within each of these groups too: people
    /// known to exactly these of the scope's groups, whatever else.
    scopes: Vec<u64>,
    /// Counts left to what is published besides the cells withheld here
    /// (the margins of a table, each its own one-way table's business).
    skip: BTreeSet<Protected>,
    /// Most second assignments tried in all ([`WORK`], unless a table's
    /// shape needs more).
    work: usize,
    /// Where not empty, groups that belong together (an agency's answers):
    /// a statement is protected only when the groups of these it is about
    /// belong to one of them (see [`publish_by_agency`]).
    local: Vec<u64>,
}

impl Overlaps {
    /// The plain shape (no families), as the tests' attackers read a
    /// matrix.
    #[cfg(test)]
    fn new(masks: &[u64], groups: usize) -> Overlaps {
        Overlaps::shaped(masks, groups, Shape::default())
    }

    fn shaped(masks: &[u64], groups: usize, shape: Shape) -> Overlaps {
        let everyone = if groups >= 64 { u64::MAX } else { bit(groups) - 1 };
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
            shape,
            open: vec![vec![false; groups]; groups],
            watched: everyone,
            scopes: vec![everyone],
            skip: BTreeSet::new(),
            work: WORK,
            local: Vec::new(),
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
        self.tried.get() > self.work
    }

    fn people(&self, mask: u64) -> u64 {
        self.exactly.get(&mask).copied().unwrap_or(0)
    }

    fn value(&self, q: Protected) -> u64 {
        self.exactly.iter().filter(|(&mask, _)| q.counts(mask)).map(|(_, &n)| n).sum()
    }

    /// Every protected count: exactly each set of groups that has anyone,
    /// and every statement about one, two or three groups.
    fn protected(&self) -> Vec<Protected> {
        let n = self.groups;
        let mut out: BTreeSet<Protected> = self
            .exactly
            .keys()
            .flat_map(|&set| self.scopes.iter().map(move |&scope| Protected { all: set & scope, none: scope & !set }))
            .filter(|q| q.all != 0)
            .collect();
        let mut about = |groups: u64| {
            for all in subsets(groups) {
                out.insert(Protected { all, none: groups & !all });
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
        out.into_iter().filter(|&q| self.watches(q) && !self.skip.contains(&q)).collect()
    }

    /// Whether `q` is protected here: it is about a watched group, or it
    /// is a single group's own count.
    fn watches(&self, q: Protected) -> bool {
        let local = self.local.iter().fold(0, |all, &m| all | m) & q.about();
        (q.about() & self.watched != 0 || (q.none == 0 && q.all.count_ones() == 1)) && (local == 0 || self.local.iter().any(|&m| local & !m == 0))
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
            .filter(|&&(mask, delta)| (self.people(mask) as i64) + delta < 0 || (delta > 0 && !self.shape.allows(mask)))
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
                        Cell::Withheld => self.open[a][b] || after >= 5,
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
        let moved: i64 = step.iter().filter(|&&(mask, _)| mask != 0 && q.counts(mask)).map(|&(_, delta)| delta).sum();
        moved != 0 && self.broken(status, step).is_empty()
    }

    /// Every cell as primary suppression shows it.
    fn primary(&self) -> Vec<Vec<Cell>> {
        self.values.iter().map(|row| row.iter().map(|&v| super::primary(v)).collect()).collect()
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

    /// From `status` (primary suppression, and whatever else is already
    /// published), cells among `eligible` (a <= b) withheld until every
    /// protected count of 1 to 4 is proved uncertain; `None` when that
    /// takes every such cell or more work than allowed.
    fn protect(&self, mut status: Vec<Vec<Cell>>, eligible: &[(usize, usize)]) -> Option<Vec<Vec<Cell>>> {
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
        let mut small: Vec<Protected> = self.protected().into_iter().filter(|&q| (1..=4).contains(&self.value(q))).collect();
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
            let mut shown: Vec<(usize, usize)> = eligible.iter().copied().filter(|&(a, b)| matches!(status[a][b], Cell::Count(v) if v >= 5)).collect();
            shown.sort_by_key(|&(a, b)| (self.values[a][b], a, b));
            // How far a cell is from the groups `q` is about (0: both of
            // its groups are among them).
            let distance = |a: usize, b: usize| 2 - (q.about() & bit(a) != 0) as u8 - (q.about() & bit(b) != 0) as u8;
            // Of the shown cells that on their own make `q` uncertain (one
            // move away; else two, for cells next to its groups), the one
            // that settles most of the other pending counts, then the
            // smallest; else the nearest to its groups, then the smallest.
            let settles = |a: usize, b: usize, deep: bool| -> Option<usize> {
                let mut trial = status.clone();
                withhold(&mut trial, a, b);
                self.uncertain(&trial, q, deep).then(|| pending[1..].iter().take(SETTLES).filter(|&&(other, _)| self.uncertain(&trial, other, false)).count())
            };
            let best = |deep: bool| {
                shown
                    .iter()
                    .filter(|&&(a, b)| !deep || distance(a, b) < 2)
                    .filter_map(|&(a, b)| settles(a, b, deep).map(|k| (std::cmp::Reverse(k), self.values[a][b], a, b)))
                    .min()
                    .map(|(_, _, a, b)| (a, b))
            };
            let (a, b) =
                best(false).or_else(|| best(true)).or_else(|| shown.iter().copied().min_by_key(|&(a, b)| (distance(a, b), self.values[a][b], a, b)))?;
            withhold(&mut status, a, b);
            withheld += 1;
        }
        Some(status)
    }
}

mod moves;
mod publish;

pub use publish::{publish_by_agency, publish_multi, publish_overlaps, ByAgency, Multi};

#[cfg(test)]
mod tests;
