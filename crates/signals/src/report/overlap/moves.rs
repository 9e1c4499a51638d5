//! The moves the disclosure search tries: changes to who is known to which
//! groups that keep every published figure, and whether a suppressed cell
//! stays uncertain under them.

use super::*;

impl Overlaps {
    /// Moves that keep every group's count and every cell: a person known
    /// to all of W (three or four groups, or a set of five to ten itself)
    /// and one known to each single group of W, for ones known to each pair
    /// of W — the signs alternating over the subsets of W. The sets W
    /// through `set`.
    pub(super) fn wholes(&self, set: u64) -> Vec<u64> {
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
    pub(super) fn keeping_everything(whole: u64, sign: i64) -> Move {
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
    pub(super) fn keeps_and_moves(&self, q: Protected, whole: u64, sign: i64) -> bool {
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
    pub(super) fn swapping(a: usize, b: usize, rest: u64) -> [Move; 2] {
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
    pub(super) fn visit_moves(&self, status: &[Vec<Cell>], q: Protected, visit: &mut dyn FnMut(Move) -> bool) -> bool {
        let n = self.groups;
        let hidden: Vec<(usize, usize)> =
            (0..n).flat_map(|a| (a + 1..n).map(move |b| (a, b))).filter(|&(a, b)| !matches!(status[a][b], Cell::Count(_)) && self.shape.meets(a, b)).collect();
        let exact_set = q.about() == self.everyone();
        // The sets `q` counts people of that have people, and the least.
        let mut counted: Vec<u64> = if exact_set { Vec::new() } else { self.exactly.keys().copied().filter(|&m| q.counts(m)).collect() };
        if !counted.contains(&q.all) {
            counted.push(q.all);
        }
        self.visit_swaps(&hidden, &counted, q, exact_set, visit) || self.visit_family_moves(&counted, q, visit) || self.visit_set_moves(q, exact_set, visit)
    }

    /// Moves of [`Overlaps::visit_moves`] through hidden cells and the
    /// counted sets: swaps, one person more or fewer, a group more or
    /// fewer, and nested families' unit swaps.
    fn visit_swaps(&self, hidden: &[(usize, usize)], counted: &[u64], q: Protected, exact_set: bool, visit: &mut dyn FnMut(Move) -> bool) -> bool {
        let n = self.groups;
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
        for &set in counted {
            for &(a, b) in hidden {
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
        false
    }

    /// Moves of [`Overlaps::visit_moves`] within families of groups: a
    /// group held alone taken or given back, a person of a common set in
    /// one group more or fewer, and groups exchanged between two people.
    fn visit_family_moves(&self, counted: &[u64], q: Protected, visit: &mut dyn FnMut(Move) -> bool) -> bool {
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
        false
    }

    /// Moves of [`Overlaps::visit_moves`] of whole sets: a group handed
    /// between people, a set split in two or merged from two, or a
    /// person's group split off or handed on.
    fn visit_set_moves(&self, q: Protected, exact_set: bool, visit: &mut dyn FnMut(Move) -> bool) -> bool {
        let n = self.groups;
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
    pub(super) fn moves(&self, status: &[Vec<Cell>], q: Protected) -> Vec<Move> {
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
    pub(super) fn repairs(&self, status: &[Vec<Cell>]) -> Vec<Move> {
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
    pub(super) fn uncertain(&self, status: &[Vec<Cell>], q: Protected, deep: bool) -> bool {
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
}
