//! Deciding an involvement: its candidates scored, joined, merged or
//! left for review, within the guards; passive involvements attach only.

use super::guards::Ties;
use super::*;

/// The most direct matches one decision records beside its joins (one per
/// agency in the profile it joined, strongest first).
const MOST_DIRECT_MATCHES: usize = 8;

impl Linker {
    pub(super) fn decide(&mut self, id: InvolvementId, observe: bool, fresh: bool) -> Outcome {
        self.decide_reaching(id, observe, fresh, 1)
    }

    pub(super) fn decide_reaching(&mut self, id: InvolvementId, observe: bool, fresh: bool, reach: usize) -> Outcome {
        let me = id as u32;
        let passive = self.nodes[me as usize].passive;
        let (mut scored, lone_passive, compared) = self.score_candidates(id, observe, fresh, reach);

        let (link, review) = (self.config.link_probability, self.config.review_probability);
        let per_agency = if passive { Vec::new() } else { self.best_per_agency(&scored, link) };
        // Best evidence per profile, strongest first.
        scored.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.weight.total_cmp(&a.1.weight)));
        scored.dedup_by_key(|entry| entry.0);
        scored.sort_by(|a, b| b.1.weight.total_cmp(&a.1.weight));

        let mut entries = Vec::new();
        let mut joined = false;
        for (root, evidence) in scored {
            if entries.len() >= 8 {
                break;
            }
            if evidence.conflict {
                let would_link = self.model.score_adjusted(&evidence.levels, evidence.name_frequency).probability;
                if would_link >= review && self.uf.find(root) != self.uf.find(id) {
                    entries.push(LinkEntry { decision: Decision::ReviewConflict, evidence });
                }
                continue;
            }
            if evidence.probability >= link {
                if self.uf.find(root) == self.uf.find(id) {
                    // Re-linking: an earlier member already joined this
                    // one, perhaps through a third. The match is still
                    // recorded, so that a view of some of the profile's
                    // records can tell which of them match each other
                    // directly.
                    joined = true;
                    entries.push(LinkEntry { decision: Decision::Matched, evidence });
                    continue;
                }
                if passive && joined {
                    // Attaches to one profile only.
                    break;
                }
                if self.conflicts_with_profile(id, root) || self.profiles_conflict(id, root) || self.profiles_split_by_a_record(id, root) {
                    entries.push(LinkEntry { decision: Decision::ReviewConflict, evidence });
                } else if !joined && !self.consistent(id, root, evidence.other) {
                    entries.push(LinkEntry { decision: Decision::ReviewWouldChain, evidence });
                } else if !joined {
                    self.union_keeping_guards(id, evidence.other);
                    joined = true;
                    entries.push(LinkEntry { decision: Decision::Joined, evidence });
                } else if self.may_merge(id, root, evidence.other) {
                    self.union_keeping_guards(id, evidence.other);
                    entries.push(LinkEntry { decision: Decision::Merged, evidence });
                } else {
                    entries.push(LinkEntry { decision: Decision::ReviewWouldChain, evidence });
                }
            } else if evidence.probability >= review && self.uf.find(root) != self.uf.find(id) {
                entries.push(LinkEntry { decision: Decision::ReviewUncertain, evidence });
            }
        }
        // Outcome events waiting for their case first: the direct matches
        // never take their place under the cap on entries.
        self.attach_lone_passive(id, lone_passive, link, &mut entries);
        self.record_direct_matches(id, per_agency, &mut entries);
        for entry in &mut entries {
            entry.evidence.keys_agreeing = self.keys_agreeing(me, entry.evidence.other as u32);
        }
        Outcome { entries, compared }
    }

    /// Of the candidates that would link (no conflict, probability at least
    /// `link`), the best of each agency in each profile, by weight.
    fn best_per_agency(&self, scored: &[(InvolvementId, Evidence)], link: f32) -> Vec<(InvolvementId, u32, Evidence)> {
        let mut best: Vec<(InvolvementId, u32, Evidence)> = Vec::new();
        for &(root, evidence) in scored.iter().filter(|(_, evidence)| !evidence.conflict && evidence.probability >= link) {
            let agency = self.nodes.get(evidence.other as usize).map_or(u32::MAX, |node| node.agency);
            match best.iter_mut().find(|(r, a, _)| *r == root && *a == agency) {
                Some(entry) if entry.2.weight < evidence.weight => entry.2 = evidence,
                Some(_) => {}
                None => best.push((root, agency, evidence)),
            }
        }
        best.sort_by(|a, b| b.2.weight.total_cmp(&a.2.weight));
        best
    }

    /// Records as matched the best candidate of each agency in the profile
    /// the involvement ended up in, beside the one member per profile it
    /// was joined to: a partnership's view sees only its own agencies'
    /// records, and must find the direct matches among them, not only the
    /// links that run through a record held elsewhere (see
    /// `joined_parts`). One per agency (the strongest, where profiles this
    /// decision merged each held its records), at most
    /// [`MOST_DIRECT_MATCHES`].
    fn record_direct_matches(&self, id: InvolvementId, per_agency: Vec<(InvolvementId, u32, Evidence)>, entries: &mut Vec<LinkEntry>) {
        let mut agencies: Vec<u32> = Vec::new();
        for (_, agency, evidence) in per_agency {
            if agencies.len() >= MOST_DIRECT_MATCHES {
                break;
            }
            if agencies.contains(&agency) || self.uf.find(evidence.other) != self.uf.find(id) {
                continue;
            }
            agencies.push(agency);
            if !entries.iter().any(|entry| entry.evidence.other == evidence.other) {
                entries.push(LinkEntry { decision: Decision::Matched, evidence });
            }
        }
    }

    /// Scores an involvement against its candidates (observing the pairs
    /// for the model when asked): the evidence per candidate's profile, the
    /// lone passive involvements it may take in, and how many were compared.
    fn score_candidates(&mut self, id: InvolvementId, observe: bool, fresh: bool, reach: usize) -> (Vec<(InvolvementId, Evidence)>, Vec<Evidence>, u32) {
        let me = id as u32;
        let candidates = self.candidates(id, fresh, reach);
        let mut blooms = std::mem::take(&mut self.scratch_blooms);
        let mut ones = std::mem::take(&mut self.scratch_ones);
        let mut dice = std::mem::take(&mut self.scratch_dice);
        blooms.clear();
        ones.clear();
        dice.clear();
        for &c in &candidates {
            let node = &self.nodes[c as usize];
            blooms.push(node.bloom);
            ones.push(node.ones);
            if let Some(first) = self.key_fp.get(node.key_start as usize) {
                crate::bloom::prefetch(first);
            }
        }
        let query = self.nodes[me as usize].bloom;
        dice_many(&query, &blooms, &ones, &mut dice);
        let passive = self.nodes[me as usize].passive;
        let mut scored: Vec<(InvolvementId, Evidence)> = Vec::with_capacity(candidates.len());
        // Lone passive involvements this one may take in (a case deciding).
        let mut lone_passive: Vec<Evidence> = Vec::new();
        for (k, &c) in candidates.iter().enumerate() {
            let other_passive = self.nodes[c as usize].passive;
            // Passive involvements never link to each other, and a case
            // only takes in one that is still on its own.
            if other_passive && (passive || self.uf.size_of(InvolvementId::from(c)) > 1) {
                continue;
            }
            let similarity = if query.is_empty() || ones[k] == 0 { None } else { Some(dice[k]) };
            let levels = self.levels(me, c, similarity);
            if observe && !passive && !other_passive {
                self.model.observe(&levels);
            }
            let evidence = self.score(me, c, levels, similarity);
            if other_passive {
                lone_passive.push(evidence);
            } else {
                scored.push((self.uf.find(InvolvementId::from(c)), evidence));
            }
        }
        let compared = candidates.len() as u32;
        self.scratch_ids = candidates;
        self.scratch_blooms = blooms;
        self.scratch_ones = ones;
        self.scratch_dice = dice;
        (scored, lone_passive, compared)
    }

    /// Lone passive involvements that match `id` take its profile, best
    /// first, each only where nothing in the profile conflicts.
    fn attach_lone_passive(&mut self, id: InvolvementId, mut lone_passive: Vec<Evidence>, link: f32, entries: &mut Vec<LinkEntry>) {
        lone_passive.sort_by(|a, b| b.weight.total_cmp(&a.weight));
        for evidence in lone_passive {
            if entries.len() >= 8 {
                break;
            }
            let other = evidence.other;
            if evidence.conflict || evidence.probability < link || self.uf.size_of(other) > 1 || self.conflicts_with_profile(other, id) {
                continue;
            }
            self.union_keeping_guards(id, other);
            entries.push(LinkEntry { decision: Decision::Joined, evidence });
        }
    }

    /// Whether a walk's entry is passive (see [`Linker::passive_bits`]).
    pub(super) fn walk_passive(&self, owner: u32) -> bool {
        self.any_passive && self.passive_bits.get(owner as usize / 64).is_some_and(|word| word >> (owner % 64) & 1 == 1)
    }

    /// Whether `id` only attaches (an outcome event's child).
    pub(super) fn is_passive(&self, id: InvolvementId) -> bool {
        usize::try_from(id).ok().and_then(|i| self.nodes.get(i)).is_some_and(|node| node.passive)
    }

    /// Whether a singleton `id`, matched with `via`, is consistent with
    /// `via`'s profile `other`: no sampled member vetoes it (see
    /// [`Linker::vetoed`]) and, for a profile of two or more, the mean
    /// match probability with a sample of its members reaches
    /// [`LinkerConfig::join_support`] (a pair the ties excuse counts with
    /// what its fields say, see [`Linker::excused_probability`]).
    pub(super) fn consistent(&self, id: InvolvementId, other: InvolvementId, via: InvolvementId) -> bool {
        if self.uf.size_of(other) < 2 {
            return true;
        }
        let sample: Vec<InvolvementId> = self.uf.members(other).filter(|&m| !self.is_passive(m)).take(self.config.merge_check_members).collect();
        let mut ties = Ties::over([id, via].into_iter().chain(sample.iter().copied()));
        let (mut total, mut count) = (0.0f32, 0u32);
        for member in sample {
            if let Some(evidence) = self.scored_pair(id, member) {
                if self.vetoed(id, member, &evidence, &mut ties) {
                    return false;
                }
                total += self.excused_probability(&evidence);
                count += 1;
            }
        }
        count == 0 || total / count as f32 >= self.config.join_support
    }

    /// Whether `id`'s profile (without `id`) and `other`'s profile (which
    /// `id` matched through `via`) look like one person on their own: no
    /// pair across them vetoes it (see [`Linker::vetoed`]) and some pair
    /// reaches the review probability (a pair the ties excuse, on what its
    /// fields say).
    pub(super) fn may_merge(&self, id: InvolvementId, other: InvolvementId, via: InvolvementId) -> bool {
        let limit = self.config.merge_check_members;
        let ours: Vec<InvolvementId> = self.uf.members(id).filter(|&m| m != id && !self.is_passive(m)).take(limit).collect();
        let theirs: Vec<InvolvementId> = self.uf.members(other).filter(|&m| !self.is_passive(m)).take(limit).collect();
        let mut ties = Ties::over([id, via].into_iter().chain(ours.iter().copied()).chain(theirs.iter().copied()));
        let mut plausible = false;
        for &a in &ours {
            for &b in &theirs {
                if let Some(evidence) = self.scored_pair(a, b) {
                    if self.vetoed(a, b, &evidence, &mut ties) {
                        return false;
                    }
                    plausible |= self.excused_probability(&evidence) >= self.config.review_probability;
                }
            }
        }
        plausible
    }

    /// A pair's match probability once no guard refuses it: for strangers
    /// the ties excuse (see [`Linker::vetoed`]), what their fields say.
    fn excused_probability(&self, evidence: &Evidence) -> f32 {
        if evidence.conflict {
            self.model.score_adjusted(&evidence.levels, evidence.name_frequency).probability
        } else {
            evidence.probability
        }
    }
}
