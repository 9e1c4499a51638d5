//! The admin service: the cluster export, stats, relinking, retention,
//! key epochs, backups and explanations, for operators.

use super::*;

/// Implements the admin service.
pub struct Admin {
    gate: Arc<Gate>,
    backups_dir: Option<std::path::PathBuf>,
    retention: Arc<crate::retention::RetentionSettings>,
}

impl Admin {
    /// Serves through `gate`, writing backups under `backups_dir`.
    pub fn new(gate: Arc<Gate>, backups_dir: Option<std::path::PathBuf>) -> Admin {
        Admin { gate, backups_dir, retention: Arc::default() }
    }

    /// Applies `settings` when asked for a retention sweep.
    pub fn with_retention(mut self, settings: Arc<crate::retention::RetentionSettings>) -> Admin {
        self.retention = settings;
        self
    }

    /// Admits an administrative call; returns its audit entry.
    async fn admit<T>(&self, request: &Request<T>, action: &str) -> Result<Entry, Status> {
        self.gate.admit_request(request, action, &Action::Administer).await
    }
}

#[tonic::async_trait]
impl AdminService for Admin {
    type ExportClustersStream = ClusterStream;

    #[instrument(skip_all)]
    async fn export_clusters(&self, request: Request<v1::ExportClustersRequest>) -> Result<Response<ClusterStream>, Status> {
        let entry = self.admit(&request, "admin.export-clusters").await?;
        let engine = Arc::clone(self.gate.engine());
        let rows = match blocking(move || engine.clusters()).await {
            Ok(rows) => rows,
            Err(status) => return self.gate.finish(entry, Err(status)).await,
        };
        info!(rows = rows.len(), "clusters exported");
        let outcome = Outcome { touched: Vec::new(), count: rows.len() as u64 };
        let stream = tokio_stream::iter(rows.into_iter().map(|row| {
            Ok(v1::ClusterRow {
                agency: row.agency,
                record_ref: row.record_ref,
                person_ref: row.person_ref,
                role: row.role,
                profile_id: row.profile_id,
                identified: row.identified,
            })
        }));
        self.gate.finish(entry, Ok((Box::pin(stream) as ClusterStream, outcome))).await
    }

    #[instrument(skip_all)]
    async fn stats(&self, request: Request<v1::StatsRequest>) -> Result<Response<v1::StatsResponse>, Status> {
        let entry = self.admit(&request, "admin.stats").await?;
        let engine = Arc::clone(self.gate.engine());
        let stats = match blocking(move || engine.stats()).await {
            Ok(stats) => stats,
            Err(status) => return self.gate.finish(entry, Err(status)).await,
        };
        let response = v1::StatsResponse {
            records: stats.records,
            involvements: stats.involvements,
            profiles: stats.profiles,
            profiles_multi_agency: stats.profiles_multi_agency,
            agencies: stats.agencies,
            epoch_fingerprint: stats.epoch.unwrap_or_default(),
            review_items: stats.review_items,
            model_pairs: stats.model_pairs,
            model_pairs_at_fit: stats.model_pairs_at_fit,
            outcome_events: stats.outcome_events,
        };
        self.gate.finish(entry, Ok((response, Outcome { touched: Vec::new(), count: 1 }))).await
    }

    #[instrument(skip_all)]
    async fn relink(&self, request: Request<v1::RelinkRequest>) -> Result<Response<v1::RelinkResponse>, Status> {
        let entry = self.admit(&request, "admin.relink").await?;
        let failed_entry = entry.clone();
        let engine = Arc::clone(self.gate.engine());
        let result = blocking(move || {
            let before = engine.profile_count()?;
            let (involvements, index) = engine.relink_everything(entry)?;
            Ok((involvements, before, engine.profile_count()?, index))
        })
        .await;
        match result {
            Ok((involvements, profiles_before, profiles_after, index)) => {
                info!(involvements, profiles_before, profiles_after, audit_entry = index, "every profile re-decided");
                Ok(with_receipt(Response::new(v1::RelinkResponse { involvements, profiles_before, profiles_after }), index))
            }
            Err(status) => {
                self.gate.record_failure(failed_entry, &status).await;
                Err(status)
            }
        }
    }

    #[instrument(skip_all)]
    async fn retention(&self, request: Request<v1::RetentionRequest>) -> Result<Response<v1::RetentionResponse>, Status> {
        let dry_run = request.get_ref().dry_run;
        let action = if dry_run { "admin.retention-dry-run" } else { "admin.retention" };
        let entry = self.admit(&request, action).await?;
        let engine = Arc::clone(self.gate.engine());
        let settings = Arc::clone(&self.retention);
        let response = |sweep: &crate::retention::Sweep| v1::RetentionResponse {
            agencies: sweep
                .agencies
                .iter()
                .map(|a| v1::AgencyRetention {
                    agency: a.agency.clone(),
                    rule: a.rule.clone(),
                    records: a.records,
                    expired: a.expired,
                    next_expiry: a.next_expiry.map(crate::panel::wire_date),
                })
                .collect(),
            erased: u64::from(sweep.erased),
            today: Some(crate::panel::wire_date(sweep.today)),
            dry_run,
            compacted: sweep.compacted,
        };
        if dry_run {
            let sweep = match blocking(move || crate::retention::sweep(&engine, &settings, crate::retention::Then::Report)).await {
                Ok(sweep) => sweep,
                Err(status) => return self.gate.finish(entry, Err(status)).await,
            };
            let count = sweep.agencies.len() as u64;
            return self.gate.finish(entry, Ok((response(&sweep), Outcome { touched: Vec::new(), count }))).await;
        }
        let failed_entry = entry.clone();
        match blocking(move || crate::retention::sweep(&engine, &settings, crate::retention::Then::Erase(entry))).await {
            Ok(sweep) => {
                let index = sweep.audit_index.unwrap_or_default();
                info!(erased = sweep.erased, audit_entry = index, "retention sweep run");
                Ok(with_receipt(Response::new(response(&sweep)), index))
            }
            Err(status) => {
                self.gate.record_failure(failed_entry, &status).await;
                Err(status)
            }
        }
    }

    #[instrument(skip_all)]
    async fn epochs(&self, request: Request<v1::EpochsRequest>) -> Result<Response<v1::EpochsResponse>, Status> {
        let (begin, finish, cancel) = (request.get_ref().begin.clone(), request.get_ref().finish, request.get_ref().cancel);
        let action = match (begin.is_empty(), finish, cancel) {
            (true, false, false) => "admin.epochs",
            (false, false, false) => "admin.epochs-begin",
            (true, true, false) => "admin.epochs-finish",
            (true, false, true) => "admin.epochs-cancel",
            _ => return Err(Status::invalid_argument("give at most one of begin, finish and cancel")),
        };
        let mut entry = self.admit(&request, action).await?;
        let engine = Arc::clone(self.gate.engine());
        let answer = |epochs: crate::rotation::Epochs, dropped: String, cancelled: String| v1::EpochsResponse {
            current: epochs.current.unwrap_or_default(),
            next: epochs.next.unwrap_or_default(),
            agencies: epochs.agencies.into_iter().map(|a| v1::AgencyEpoch { agency: a.agency, records: a.records, moved: a.moved }).collect(),
            dropped,
            cancelled,
        };
        if action == "admin.epochs" {
            let result = blocking(move || engine.epochs()).await.map(|epochs| {
                let count = epochs.agencies.len() as u64;
                (answer(epochs, String::new(), String::new()), Outcome { touched: Vec::new(), count })
            });
            return self.gate.finish(entry, result).await;
        }
        // The epochs named go into the audit entry (fingerprints are not
        // secret: every upload header carries one).
        entry.touched = if begin.is_empty() { Vec::new() } else { vec![begin.clone()] };
        let failed_entry = entry.clone();
        let result = blocking(move || {
            let (dropped, cancelled, index) = if finish {
                let (dropped, moved, index) = engine.finish_rotation(entry)?;
                info!(involvements = moved, audit_entry = index, "key rotation finished");
                (dropped, String::new(), index)
            } else if cancel {
                let (cancelled, index) = engine.cancel_rotation(entry)?;
                info!(audit_entry = index, "key rotation cancelled");
                (String::new(), cancelled, index)
            } else {
                let index = engine.begin_rotation(&begin, entry)?;
                info!(audit_entry = index, "key rotation opened");
                (String::new(), String::new(), index)
            };
            Ok((answer(engine.epochs()?, dropped, cancelled), index))
        })
        .await;
        match result {
            Ok((response, index)) => Ok(with_receipt(Response::new(response), index)),
            Err(status) => {
                self.gate.record_failure(failed_entry, &status).await;
                Err(status)
            }
        }
    }

    #[instrument(skip_all)]
    async fn backup(&self, request: Request<v1::BackupRequest>) -> Result<Response<v1::BackupResponse>, Status> {
        let mut entry = self.admit(&request, "admin.backup").await?;
        let name = request.into_inner().name;
        let name = if name.is_empty() { default_backup_name(time::OffsetDateTime::now_utc()) } else { name };
        let Some(dir) = self.backups_dir.clone() else {
            let status = Status::failed_precondition("this node has no backups_dir in its config, so it takes no backups");
            return self.gate.finish(entry, Err(status)).await;
        };
        if name.len() > 100 || name.starts_with('.') || !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
            let status = Status::invalid_argument("a backup name is 1 to 100 letters, digits, '-', '_' or '.', not starting with '.'");
            return self.gate.finish(entry, Err(status)).await;
        }
        entry.touched = vec![name.clone()];
        let failed_entry = entry.clone();
        let path = dir.join(&name);
        let engine = Arc::clone(self.gate.engine());
        let target = path.clone();
        match blocking(move || {
            // Private, as the store is: a backup holds every pseudonym.
            crate::space::create_private_dir(&dir).map_err(|source| EngineError::Open { what: "create the backups directory".to_owned(), source })?;
            engine.backup(&target, entry)
        })
        .await
        {
            Ok((records, audit_entries, index)) => {
                info!(backup = %name, records, audit_entries, audit_entry = index, "backup written");
                let response = v1::BackupResponse { path: path.display().to_string(), records, audit_entries };
                Ok(with_receipt(Response::new(response), index))
            }
            Err(status) => {
                self.gate.record_failure(failed_entry, &status).await;
                Err(status)
            }
        }
    }

    #[instrument(skip_all)]
    async fn explain(&self, request: Request<v1::ExplainRequest>) -> Result<Response<v1::ExplainResponse>, Status> {
        let entry = self.admit(&request, "admin.explain").await?;
        let subject = match request.into_inner().subject {
            Some(v1::explain_request::Subject::ProfileId(id)) => ExplainSubject::Profile(id),
            Some(v1::explain_request::Subject::Record(record)) => ExplainSubject::Record { agency: record.agency, record_ref: record.record_ref },
            None => {
                let status = Status::invalid_argument("give a profile id or an agency and record ref to explain");
                return self.gate.finish(entry, Err(status)).await;
            }
        };
        let engine = Arc::clone(self.gate.engine());
        let profiles = match blocking(move || engine.explain(&subject)).await {
            Ok(profiles) => profiles,
            Err(status) => return self.gate.finish(entry, Err(status)).await,
        };
        info!(profiles = profiles.len(), "profiles explained");
        let outcome = Outcome { touched: profiles.iter().map(|profile| profile.profile_id.clone()).collect(), count: profiles.len() as u64 };
        let link = |link: LinkExplanation| v1::LinkExplanation {
            involvement: link.involvement,
            other_involvement: link.other,
            other_profile_id: link.other_profile_id,
            decision: link.decision.to_owned(),
            keys_agreeing: link.keys_agreeing.into_iter().map(str::to_owned).collect(),
            dice_band: link.dice_band.to_owned(),
            weight: link.weight,
            probability: link.probability,
            parts: link.parts.into_iter().map(|(feature, level)| v1::EvidencePart { feature: feature.to_owned(), level: level.to_owned() }).collect(),
        };
        let response = v1::ExplainResponse {
            profiles: profiles
                .into_iter()
                .map(|profile| v1::ProfileExplanation {
                    profile_id: profile.profile_id,
                    members: profile
                        .members
                        .into_iter()
                        .map(|member| v1::ProfileMember {
                            involvement: member.involvement,
                            agency: member.agency,
                            record_ref: member.record_ref,
                            role: member.role,
                        })
                        .collect(),
                    links: profile.links.into_iter().map(link).collect(),
                    reviews: profile.reviews.into_iter().map(link).collect(),
                    matches: profile.matches.into_iter().map(link).collect(),
                })
                .collect(),
        };
        self.gate.finish(entry, Ok((response, outcome))).await
    }
}

/// A backup's name when the caller gives none: the UTC time it was taken,
/// `braid-backup-20261124T093015Z`.
fn default_backup_name(at: time::OffsetDateTime) -> String {
    let format = time::macros::format_description!("braid-backup-[year][month][day]T[hour][minute][second]Z");
    at.to_offset(time::UtcOffset::UTC).format(format).unwrap_or_else(|_| "braid-backup".to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_backup_without_a_name_is_named_for_its_utc_time() {
        let at = time::OffsetDateTime::from_unix_timestamp(1_795_512_615).expect("a time");
        assert_eq!(super::default_backup_name(at), "braid-backup-20261124T093015Z");
        let elsewhere = at.to_offset(time::UtcOffset::from_hms(5, 30, 0).expect("an offset"));
        assert_eq!(super::default_backup_name(elsewhere), "braid-backup-20261124T093015Z", "named in UTC whatever the offset");
    }
}
