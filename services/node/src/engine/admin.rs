//! What the engine reports to operators: counts, the cluster export, backups
//! and explanations of profiles and links.

use super::*;

/// Counts of what the node holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Live case records.
    pub records: u64,
    /// Live outcome events.
    pub outcome_events: u64,
    /// Live involvements.
    pub involvements: u64,
    /// Distinct profiles.
    pub profiles: u64,
    /// Profiles with involvements from two or more agencies.
    pub profiles_multi_agency: u64,
    /// Agencies that have records.
    pub agencies: u64,
    /// Epoch fingerprint.
    pub epoch: Option<String>,
    /// Uncertain pairs left for review.
    pub review_items: u64,
    /// Pairs the model has counted.
    pub model_pairs: u64,
    /// Pairs at the model's last fit.
    pub model_pairs_at_fit: u64,
}

/// One row of the cluster export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterRow {
    /// Agency code.
    pub agency: String,
    /// Opaque record ref.
    pub record_ref: String,
    /// Opaque person ref.
    pub person_ref: String,
    /// Role number.
    pub role: i32,
    /// Profile id.
    pub profile_id: String,
    /// Whether it carries any identity to link on.
    pub identified: bool,
}

/// A profile's id: its oldest member's number, so it survives merges into
/// it and restarts; it changes only if that member is withdrawn or split
/// off.
pub fn profile_id(smallest_member: u64) -> String {
    format!("P{smallest_member:07}")
}

pub(crate) fn parse_profile_id(text: &str) -> Option<u64> {
    text.strip_prefix('P')?.parse().ok()
}

/// What to explain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExplainSubject {
    /// One profile.
    Profile(String),
    /// The profiles of one record's involvements.
    Record {
        /// Agency code.
        agency: String,
        /// Opaque record ref.
        record_ref: String,
    },
}

/// One member of an explained profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Involvement number.
    pub involvement: u64,
    /// Agency code.
    pub agency: String,
    /// Opaque record ref.
    pub record_ref: String,
    /// Role number.
    pub role: i32,
}

/// One explained decision.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkExplanation {
    /// The involvement being linked.
    pub involvement: u64,
    /// The one it was compared with.
    pub other: u64,
    /// The other's profile now.
    pub other_profile_id: String,
    /// Decision name.
    pub decision: &'static str,
    /// Agreeing match-key rungs by name.
    pub keys_agreeing: Vec<&'static str>,
    /// Dice band name.
    pub dice_band: &'static str,
    /// Total weight when decided.
    pub weight: f32,
    /// Probability when decided.
    pub probability: f32,
    /// (feature, level) names.
    pub parts: Vec<(&'static str, &'static str)>,
}

/// One explained profile.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileExplanation {
    /// Profile id.
    pub profile_id: String,
    /// Members, oldest first.
    pub members: Vec<Member>,
    /// Links holding the profile together.
    pub links: Vec<LinkExplanation>,
    /// Uncertain pairs to other profiles.
    pub reviews: Vec<LinkExplanation>,
    /// Direct matches among members beyond the links.
    pub matches: Vec<LinkExplanation>,
}

/// Leaves a backup readable by the node's account only (it holds every
/// pseudonym and the audit signing key), whatever the umask gave it.
fn make_private(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for file in std::fs::read_dir(dir)? {
        std::fs::set_permissions(file?.path(), std::fs::Permissions::from_mode(0o600))?;
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

impl Engine {
    /// Writes an online, consistent backup into `path` (which must not
    /// exist): a RocksDB checkpoint holding every acknowledged batch, the
    /// linkage state, the audit log and its signing key as of one moment.
    /// `entry` is audited as begun first, so the backup holds the entry
    /// that made it; once the backup is written, a second entry says so (a
    /// failure is audited by the caller, and a stop leaves "begun" alone).
    /// Returns the records and audit entries the backup holds, and the
    /// index of the entry that it was written.
    pub fn backup(&self, path: &Path, mut entry: Entry) -> Result<(u64, u64, u64), EngineError> {
        let _one_at_a_time = match self.backing_up.try_lock() {
            Ok(guard) => guard,
            Err(std::sync::TryLockError::WouldBlock) => return Err(EngineError::Busy("another backup is being written; ask again when it is done".to_owned())),
            // A backup that failed half-way left nothing to protect.
            Err(std::sync::TryLockError::Poisoned(held)) => held.into_inner(),
        };
        if path.exists() {
            return Err(EngineError::InvalidRequest("a backup of that name already exists".to_owned()));
        }
        // A checkpoint flushes memtables into the data directory.
        self.space.refresh()?;
        entry.outcome = "begun".to_owned();
        let begun = self.audit.append_blocking(entry.clone(), None)?;
        self.store.backup(path).map_err(EngineError::Backup)?;
        if let Err(source) = make_private(path) {
            // Not left behind readable by others.
            let _ = std::fs::remove_dir_all(path);
            return Err(EngineError::Open { what: format!("make the backup {} private", path.display()), source });
        }
        let records = self.store.count_records()?;
        entry.time_ms = crate::audit::now_ms();
        entry.outcome = "ok".to_owned();
        entry.result_count = records;
        let written = self.audit.append_blocking(entry, None)?;
        Ok((records, begun + 1, written))
    }

    /// Whether the linkage model has been fitted to data yet (until it has,
    /// decisions are made with its starting values).
    pub fn model_fitted(&self) -> Result<bool, EngineError> {
        Ok(self.lock_state()?.linker.model().pairs_at_last_fit() > 0)
    }

    /// Distinct profiles of live identified involvements.
    pub fn profile_count(&self) -> Result<u64, EngineError> {
        let guard = self.lock_state()?;
        let profiles = guard.linker.profiles();
        let roots: HashSet<InvolvementId> = profiles.live_ids().map(|id| profiles.find(id)).collect();
        Ok(roots.len() as u64)
    }

    /// Every live involvement with its profile.
    pub fn clusters(&self) -> Result<Vec<ClusterRow>, EngineError> {
        // The profiles are copied under the state lock (memory only, fast);
        // the store is scanned without it, so an export never holds up
        // uploads or panels for the seconds a full scan takes. Involvements
        // stored after the copy are left out.
        let keys = self.profile_keys()?;
        let mut rows = Vec::new();
        self.store.for_each_involvement(|id, involvement| {
            let Some(key) = keys.key(id) else { return Ok(()) };
            rows.push(ClusterRow {
                identified: is_identified(&involvement),
                agency: involvement.agency,
                record_ref: involvement.record_ref,
                person_ref: involvement.person_ref,
                role: involvement.role,
                profile_id: profile_id(key),
            });
            Ok(())
        })?;
        Ok(rows)
    }

    /// Every live involvement's profile key, copied under the state lock.
    pub(super) fn profile_keys(&self) -> Result<ProfileKeys, EngineError> {
        let guard = self.lock_state()?;
        let profiles = guard.linker.profiles();
        let bound = guard.facts.id_bound().max(guard.next_id as usize);
        Ok(ProfileKeys((0..bound as u64).map(|id| if profiles.is_alive(id) { profiles.smallest_member(id) } else { u64::MAX }).collect()))
    }

    /// Counts of what the node holds.
    pub fn stats(&self) -> Result<Stats, EngineError> {
        let rows = self.clusters()?;
        let mut agencies_by_profile: HashMap<&str, HashSet<&str>> = HashMap::new();
        let mut agencies = HashSet::new();
        for row in &rows {
            agencies_by_profile.entry(&row.profile_id).or_default().insert(&row.agency);
            agencies.insert(row.agency.as_str());
        }
        let (epoch, model_pairs, model_pairs_at_fit, outcome_events) = {
            let guard = self.lock_state()?;
            let model = guard.linker.model();
            (guard.epoch.clone(), model.pairs_seen(), model.pairs_at_last_fit(), guard.facts.outcome_count() as u64)
        };
        let reviews = self.explain_reviews_count()?;
        Ok(Stats {
            review_items: reviews,
            model_pairs,
            model_pairs_at_fit,
            records: self.store.count_records()?.saturating_sub(outcome_events),
            outcome_events,
            involvements: rows.len() as u64,
            profiles: agencies_by_profile.len() as u64,
            profiles_multi_agency: agencies_by_profile.values().filter(|set| set.len() >= 2).count() as u64,
            agencies: agencies.len() as u64,
            epoch,
        })
    }

    /// Bytes held in memory by the linker's index and profiles,
    /// approximately (the data itself is in RocksDB).
    pub fn index_memory_bytes(&self) -> Result<usize, EngineError> {
        Ok(self.lock_state()?.linker.memory_bytes())
    }

    pub(super) fn explain_reviews_count(&self) -> Result<u64, EngineError> {
        // As for `clusters`: the profiles are copied under the lock, the
        // links scanned without it.
        let keys = self.profile_keys()?;
        let mut count = 0;
        self.store.for_each_links(|id, links| {
            count += links.entries.iter().filter(|link| is_open_review(link, id, |i| keys.key(i))).count() as u64;
            Ok(())
        })?;
        Ok(count)
    }

    /// Explains profiles: members, the links holding each together with
    /// their evidence, and open review items.
    pub fn explain(&self, subject: &ExplainSubject) -> Result<Vec<ProfileExplanation>, EngineError> {
        let guard = self.lock_state()?;
        let profiles = guard.linker.profiles();
        let mut seeds: Vec<u64> = Vec::new();
        match subject {
            ExplainSubject::Profile(text) => {
                let id = parse_profile_id(text).ok_or_else(|| EngineError::InvalidRequest("a profile id looks like P0000123".to_owned()))?;
                if !profiles.is_alive(id) || profiles.smallest_member(id) != id {
                    return Err(EngineError::NotFound("no profile has that id".to_owned()));
                }
                seeds.push(id);
            }
            ExplainSubject::Record { agency, record_ref } => {
                let record =
                    self.store.record(agency, record_ref)?.ok_or_else(|| EngineError::NotFound("the agency has no record with that ref".to_owned()))?;
                seeds.extend(record.involvement_ids.iter().copied());
            }
        }
        let mut out: Vec<ProfileExplanation> = Vec::new();
        let mut done = HashSet::new();
        for seed in seeds {
            let root = profiles.smallest_member(seed);
            if !done.insert(root) {
                continue;
            }
            let mut members: Vec<u64> = profiles.members(seed).collect();
            members.sort_unstable();
            let mut explanation =
                ProfileExplanation { profile_id: profile_id(root), members: Vec::new(), links: Vec::new(), reviews: Vec::new(), matches: Vec::new() };
            for &id in &members {
                if let Some(involvement) = self.store.involvement(id)? {
                    explanation.members.push(Member {
                        involvement: id,
                        agency: involvement.agency,
                        record_ref: involvement.record_ref,
                        role: involvement.role,
                    });
                }
                for link in self.store.links(id)?.map(|links| links.entries).unwrap_or_default() {
                    let Some(decision) = Decision::from_number(link.decision) else { continue };
                    let explained = explain_link(id, &link, decision, profiles);
                    match decision {
                        Decision::Joined | Decision::Merged => explanation.links.push(explained),
                        // Within the profile already: not one of the links
                        // that made it.
                        Decision::Matched => explanation.matches.push(explained),
                        Decision::ReviewUncertain | Decision::ReviewWouldChain | Decision::ReviewConflict => {
                            if is_open_review(&link, id, live_root(profiles)) {
                                explanation.reviews.push(explained);
                            }
                        }
                    }
                }
            }
            out.push(explanation);
        }
        Ok(out)
    }
}

/// Profile keys by involvement id, copied from the linker.
pub(super) struct ProfileKeys(Vec<u64>);

impl ProfileKeys {
    /// The profile key of a live involvement.
    pub(super) fn key(&self, id: u64) -> Option<u64> {
        self.0.get(usize::try_from(id).ok()?).copied().filter(|&key| key != u64::MAX)
    }
}

/// Whether `link` (stored with `id`) is a review item still open: a pair
/// left uncertain, refused because it would chain two profiles, or refused
/// by a guard although its fields alone make it plausible (a date of birth
/// typed wrong looks like that); both involvements live (`profile` gives a
/// live one's profile) and in two profiles.
pub(super) fn is_open_review(link: &StoredLink, id: u64, profile: impl Fn(u64) -> Option<u64>) -> bool {
    matches!(Decision::from_number(link.decision), Some(Decision::ReviewUncertain | Decision::ReviewWouldChain | Decision::ReviewConflict))
        && matches!((profile(id), profile(link.other)), (Some(a), Some(b)) if a != b)
}

/// A live involvement's profile, by its root.
pub(super) fn live_root(profiles: &braid_linkage::UnionFind) -> impl Fn(u64) -> Option<u64> + '_ {
    |id| profiles.is_alive(id).then(|| profiles.find(id))
}

pub(super) fn explain_link(id: u64, link: &StoredLink, decision: Decision, profiles: &braid_linkage::UnionFind) -> LinkExplanation {
    let dice_feature = FEATURES.iter().position(|f| *f == DICE).unwrap_or(2);
    let level = |feature: usize| -> &'static str {
        let levels = FEATURES[feature].levels;
        // The band comes from the stored similarity, so a link decided
        // under earlier bands reads in today's.
        let stored = if feature == dice_feature { Some(dice_level(link.dice)) } else { link.levels.get(feature).copied() };
        stored.and_then(|l| levels.get(usize::from(l))).copied().unwrap_or("unknown")
    };
    LinkExplanation {
        involvement: id,
        other: link.other,
        other_profile_id: profile_id(profiles.smallest_member(link.other)),
        decision: decision.name(),
        keys_agreeing: (1..32).filter(|k| link.keys_agreeing & (1 << k) != 0).map(key_kind_name).collect(),
        dice_band: level(dice_feature),
        weight: link.weight,
        probability: link.probability,
        parts: (0..FEATURES.len()).map(|f| (FEATURES[f].name, level(f))).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refused_or_uncertain_pair_is_an_open_review_while_its_records_stay_apart() {
        let link = |decision: Decision| StoredLink { decision: decision.number(), other: 2, ..Default::default() };
        let apart = |id: u64| Some(id);
        let together = |_: u64| Some(1);
        for decision in [Decision::ReviewUncertain, Decision::ReviewWouldChain, Decision::ReviewConflict] {
            assert!(is_open_review(&link(decision), 1, apart), "{decision:?}");
            assert!(!is_open_review(&link(decision), 1, together), "{decision:?} once linked");
            assert!(!is_open_review(&link(decision), 1, |id| (id == 1).then_some(1)), "{decision:?} once withdrawn");
        }
        for decision in [Decision::Joined, Decision::Merged] {
            assert!(!is_open_review(&link(decision), 1, apart), "{decision:?}");
        }
    }
}
