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
            if (delta < 0 && self.people(sub) == 0) || (delta > 0 && !self.shape.allows(sub)) {
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
        let forward = vec![(r | bit(a), -1), (r | bit(b), -1), (r, 1), (r | bit(a) | bit(b), 1)];
        let back = forward.iter().map(|&(m, d)| (m, -d)).collect();
        [forward, back]
    }

    /// Small changes that move `q`, each passed to `visit` until it says
    /// stop (then true): swaps through hidden cells, a person more or fewer
    /// or known to one group more or fewer, split in two or merged from
    /// two, a group handed from one person to another. Quadratic families
    /// go through the most common sets of groups only.
    fn visit_moves(&self, status: &[Vec<Cell>], q: Protected, visit: &mut dyn FnMut(Move) -> bool) -> bool {
        let n = self.groups;
        let hidden: Vec<(usize, usize)> =
            (0..n).flat_map(|a| (a + 1..n).map(move |b| (a, b))).filter(|&(a, b)| !matches!(status[a][b], Cell::Count(_)) && self.shape.meets(a, b)).collect();
        let exact_set = q.about() == self.everyone();
        // The sets `q` counts people of that have people, and the least.
        let mut counted: Vec<u64> = if exact_set { Vec::new() } else { self.exactly.keys().copied().filter(|&m| q.counts(m)).collect() };
        if !counted.contains(&q.all) {
            counted.push(q.all);
        }
        // A hidden cell between groups `q` is about, through every set.
        if !exact_set {
            for &(a, b) in hidden.iter().filter(|&&(a, b)| q.about() & bit(a) != 0 && q.about() & bit(b) != 0) {
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
            for t in self.shape.toggles(set) {
                let other = set ^ t;
                if visit(vec![(set, -1), (other, 1)]) || visit(vec![(other, -1), (set, 1)]) {
                    return true;
                }
            }
        }
        if !self.shape.nests.is_empty() {
            for &set in counted.iter().chain(&self.common) {
                for step in self.shape.unit_swaps(set) {
                    if visit(step) {
                        return true;
                    }
                }
            }
        }
        let counts = |m: u64| i64::from(q.counts(m));
        let change = |step: &[(u64, i64)]| step.iter().map(|&(m, d)| d * counts(m)).sum::<i64>() != 0;
        // A person in a group only ever held alone (not known) takes a
        // group from another person instead, or gives one back.
        for family in self.shape.families.iter().filter(|f| f.alone != 0) {
            // The other groups of common sets, with each group held alone.
            let lone: BTreeSet<u64> = self.common.iter().flat_map(|&m| groups_in(family.alone).map(move |a| (m & !family.groups) | bit(a))).collect();
            for &lone in &lone {
                let bare = lone & !family.groups;
                for &from in &self.common {
                    for g in groups_in(from & family.groups & !family.alone) {
                        if (from & family.groups).count_ones() < 2 {
                            continue;
                        }
                        let taken = vec![(lone, -1), (bare | bit(g), 1), (from, -1), (from & !bit(g), 1)];
                        let given = vec![(lone, 1), (bare | bit(g), -1), (from, 1), (from & !bit(g), -1)];
                        for step in [taken, given] {
                            if change(&step) && visit(step) {
                                return true;
                            }
                        }
                    }
                }
            }
        }
        if !self.shape.families.is_empty() {
            // A person of a common set in one group `q` is about more or
            // fewer (where the markers of that group allow it).
            for &from in &self.common {
                for g in groups_in(q.about()) {
                    let to = from ^ bit(g);
                    if counts(to) != counts(from) && visit(vec![(from, -1), (to, 1)]) {
                        return true;
                    }
                }
                for t in self.shape.toggles(from) {
                    let to = from ^ t;
                    if counts(to) != counts(from) && visit(vec![(from, -1), (to, 1)]) {
                        return true;
                    }
                }
            }
        }
        // Two people exchange groups of a family each person is in exactly
        // one of (columns), where that moves `q`.
        for &set in counted.iter().chain(&self.common) {
            for (g, h) in self.shape.exchanges(set) {
                let moved = set ^ bit(g) ^ bit(h);
                // One person moved to another column.
                if counts(moved) != counts(set) && visit(vec![(set, -1), (moved, 1)]) {
                    return true;
                }
                for &other in self.common.iter().filter(|&&m| m & bit(h) != 0 && m & bit(g) == 0) {
                    let back = other ^ bit(g) ^ bit(h);
                    let change = counts(moved) - counts(set) + counts(back) - counts(other);
                    if change != 0 && visit(vec![(set, -1), (moved, 1), (other, -1), (back, 1)]) {
                        return true;
                    }
                }
            }
        }
        if exact_set && !self.shape.families.is_empty() {
            // A group handed from a person of the set to another, or to a
            // person of the set from another.
            let set = q.all;
            for g in 0..n {
                for &other in &self.common {
                    let step = if set & bit(g) != 0 && other & bit(g) == 0 {
                        vec![(set, -1), (set & !bit(g), 1), (other, -1), (other | bit(g), 1)]
                    } else if set & bit(g) == 0 && other & bit(g) != 0 {
                        vec![(other, -1), (other & !bit(g), 1), (set, -1), (set | bit(g), 1)]
                    } else {
                        continue;
                    };
                    if visit(step) {
                        return true;
                    }
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
                    if visit(vec![(set, -1), (part, 1), (set & !part, 1)]) || visit(vec![(set, 1), (part, -1), (set & !part, -1)]) {
                        return true;
                    }
                }
            }
            for &other in &self.common {
                let (merge, split) = if other & set == 0 {
                    (vec![(set, -1), (other, -1), (set | other, 1)], vec![(set, 1), (other, 1), (set | other, -1)])
                } else if other & set == set && other != set {
                    (vec![(other, -1), (set, 1), (other & !set, 1)], vec![(other, 1), (set, -1), (other & !set, -1)])
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
                    if visit(vec![(from, -1), (from & !bit(g), 1), (bit(g), 1)]) || visit(vec![(from, 1), (from & !bit(g), -1), (bit(g), -1)]) {
                        return true;
                    }
                    for &to in &self.common {
                        if to & bit(g) == 0 && visit(vec![(from, -1), (from & !bit(g), 1), (to, -1), (to | bit(g), 1)]) {
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
            for t in self.shape.toggles(set) {
                out.push(vec![(set, -1), (set ^ t, 1)]);
                out.push(vec![(set ^ t, -1), (set, 1)]);
            }
            out.extend(self.shape.unit_swaps(set));
            if !self.shape.families.is_empty() {
                // A person more or fewer; a person moved to another column.
                out.push(vec![(set, 1)]);
                out.push(vec![(set, -1)]);
                for (g, h) in self.shape.exchanges(set) {
                    out.push(vec![(set, -1), (set ^ bit(g) ^ bit(h), 1)]);
                    out.push(vec![(set ^ bit(g) ^ bit(h), -1), (set, 1)]);
                }
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
        if q.about().count_ones() >= 3 && self.wholes(q.all).into_iter().any(|whole| self.keeps_and_moves(q, whole, 1) || self.keeps_and_moves(q, whole, -1)) {
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
        let repairs: Vec<Move> = self.repairs(status).into_iter().chain(moves.iter().cloned()).collect();
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
            let Some(candidates) = broken.iter().map(|b| touching.get(b).map(Vec::as_slice).unwrap_or(&[])).min_by_key(|c| c.len()) else {
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
const MOST_GROUPS: usize = 40;

/// A one-way table by a multi-choice item as published: each row's cell,
/// whether its `*` can stand for any count, and the total.
struct MultiOneWay {
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
fn multi_one_way(rows: usize, alone: u64, masks: &[u64]) -> MultiOneWay {
    let people = masks.len() as u64;
    let fallback = MultiOneWay { cells: vec![Cell::Withheld; rows], open: vec![true; rows], total: super::primary(people) };
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
/// one-way table of the column dimension exactly as [`super::publish`]
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
pub fn publish_multi(table: &Multi) -> super::Published {
    let rows = table.rows.len();
    let columns = table.columns.len();
    let masks: Vec<u64> = table.people.iter().map(|&(m, _)| m).collect();
    let by_rows = multi_one_way(rows, table.alone, &masks);
    let mut out = super::Published {
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
    let by_columns = super::one_way(&column_counts);
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
    status[n - 1][n - 1] = super::primary(table.people.len() as u64);
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
            let cell = super::primary(values[g]);
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
pub fn publish_by_agency(table: &ByAgency) -> super::Published {
    let rows = table.rows.len();
    let columns = table.columns.len();
    let column_bits = if columns >= 64 { u64::MAX } else { bit(columns) - 1 };
    let agencies_of: Vec<u64> = table
        .people
        .iter()
        .map(|person| person.iter().filter(|&&(r, cols)| r < rows && cols & column_bits != 0).fold(0, |mask, &(r, _)| mask | bit(r)))
        .collect();
    let by_rows = multi_one_way(rows, 0, &agencies_of);
    let mut out = super::Published {
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
    // Published: the row totals as the one-way table by agency shows them,
    // everyone's count, and the cells; nothing else.
    let mut status = vec![vec![Cell::Withheld; n]; n];
    o.open = vec![vec![true; n]; n];
    for (r, (&total, &open)) in by_rows.cells.iter().zip(&by_rows.open).enumerate() {
        status[r][r] = total;
        o.open[r][r] = open;
    }
    status[n - 1][n - 1] = super::primary(table.people.len() as u64);
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
                    trial[g][g] = super::primary(o.values[g][g]);
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

#[cfg(test)]
mod tests;
