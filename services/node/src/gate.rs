//! Who is calling, whether they may, and the audit entry that records it.
//!
//! Every RPC passes through [`Gate`]: the caller's principal is the common
//! name of the client certificate the TLS layer verified (or, on a node
//! started with `--insecure-dev`, the name the caller claims in the
//! `braid-principal` header); the policy gives its role;
//! [`braid_access::authorize`] decides. Refusals are audited like every
//! other call, then answered with `PermissionDenied`.

use std::sync::Arc;

use braid_access::{authorize, Action, Grant, Policy};
use braid_audit::Entry;
use tonic::{Request, Response, Status};
use tracing::info;

use crate::audit::now_ms;
use crate::engine::Engine;
use crate::service::status;

/// The header a caller names itself in on an `--insecure-dev` node.
pub const PRINCIPAL_HEADER: &str = "braid-principal";
/// The response header that carries the call's audit entry index.
pub const RECEIPT_HEADER: &str = "braid-audit-entry";

/// A caller as the node knows them.
#[derive(Debug, Clone)]
pub struct Caller {
    principal: Option<String>,
    role: Option<Grant>,
    claimed: bool,
    /// Its certificate's issuer and serial number (absent without TLS).
    serial: Option<braid_access::CertificateId>,
    /// Its certificate is on the revocation list in force.
    revoked: bool,
}

impl Caller {
    /// An audit entry for `action` by this caller, before the outcome.
    pub fn entry(&self, action: &str) -> Entry {
        Entry {
            time_ms: now_ms(),
            principal: self.principal.clone().unwrap_or_else(|| "(no certificate)".to_owned()),
            role: self.role.as_ref().map(Grant::to_string).unwrap_or_else(|| "(none)".to_owned()),
            action: action.to_owned(),
            claimed_principal: self.claimed,
            ..Entry::default()
        }
    }
}

/// What one call touched and returned, for its audit entry.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Record refs or profile ids.
    pub touched: Vec<String>,
    /// Rows or items returned or written.
    pub count: u64,
}

/// Authorises and audits calls.
pub struct Gate {
    engine: Arc<Engine>,
    /// Set when the node is stopping: open uploads apply no more batches.
    stopping: std::sync::atomic::AtomicBool,
    policy: std::sync::RwLock<Policy>,
    insecure_dev: bool,
    audit_reads: bool,
    denials: Denials,
    uploads: Uploads,
    agency_types: std::collections::BTreeMap<String, String>,
    metrics: Arc<crate::ops::Metrics>,
    /// The revocation list in force (with TLS).
    revoked: Option<crate::listener::Revoked>,
}

/// Upload streams open per principal, and the batches being applied.
struct Uploads {
    per_principal: u32,
    open: Arc<std::sync::Mutex<std::collections::HashMap<String, u32>>>,
    batches: Arc<tokio::sync::Semaphore>,
}

/// An open upload stream's place; freed when dropped.
pub struct UploadSlot {
    principal: String,
    open: Arc<std::sync::Mutex<std::collections::HashMap<String, u32>>>,
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.principal) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.principal);
            }
        }
    }
}

/// When each principal's refusals were audited over the last minute: past
/// `per_minute` in any sixty seconds a refusal is still refused, but not
/// audited, so a caller cannot grow the audit log without bound by being
/// refused. What is not audited is counted.
struct Denials {
    per_minute: u32,
    /// Per principal: the times (ms) of its audited refusals in the last
    /// minute, oldest first.
    audited: std::sync::Mutex<std::collections::HashMap<String, std::collections::VecDeque<u64>>>,
    dropped: std::sync::atomic::AtomicU64,
}

impl Uploads {
    fn new(limits: &crate::config::Limits) -> Uploads {
        Uploads {
            per_principal: limits.uploads_per_principal,
            open: Arc::default(),
            batches: Arc::new(tokio::sync::Semaphore::new(limits.batches_in_flight as usize)),
        }
    }
}

impl Denials {
    /// Principals tracked at once; past this, those with nothing audited in
    /// the last minute are forgotten, and if that is not enough every
    /// principal starts over (a flood of distinct names is itself bounded
    /// by the certificates the partnership's authority issues and by the
    /// connection limit).
    const TRACKED: usize = 10_000;

    /// The window no principal's audited refusals may exceed
    /// `per_minute` in, wherever it starts.
    const MINUTE_MS: u64 = 60_000;

    fn new(per_minute: u32) -> Denials {
        Denials { per_minute, audited: std::sync::Mutex::new(std::collections::HashMap::new()), dropped: std::sync::atomic::AtomicU64::new(0) }
    }

    /// Whether a refusal of `who` is audited.
    fn audit(&self, who: &str) -> bool {
        self.audit_at(who, now_ms())
    }

    /// Whether a refusal of `who` at `now` (ms) is audited: only if fewer
    /// than `per_minute` of its refusals were audited in the minute before.
    fn audit_at(&self, who: &str, now: u64) -> bool {
        let recent = |time: &u64| now.saturating_sub(*time) < Denials::MINUTE_MS;
        let mut audited = self.audited.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if audited.len() >= Denials::TRACKED && !audited.contains_key(who) {
            audited.retain(|_, times| times.back().is_some_and(recent));
            if audited.len() >= Denials::TRACKED {
                audited.clear();
            }
        }
        let times = audited.entry(who.to_owned()).or_default();
        while times.front().is_some_and(|time| !recent(time)) {
            times.pop_front();
        }
        if times.len() < self.per_minute as usize {
            times.push_back(now);
            true
        } else {
            self.dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            false
        }
    }
}

impl Gate {
    /// A gate over `engine` deciding by `policy`. With `insecure_dev`,
    /// callers name themselves instead of presenting a certificate.
    pub fn new(engine: Arc<Engine>, policy: Policy, insecure_dev: bool) -> Gate {
        Gate {
            engine,
            stopping: std::sync::atomic::AtomicBool::new(false),
            policy: std::sync::RwLock::new(policy),
            insecure_dev,
            audit_reads: true,
            denials: Denials::new(crate::config::Limits::default().audited_denials_per_minute),
            uploads: Uploads::new(&crate::config::Limits::default()),
            agency_types: std::collections::BTreeMap::new(),
            metrics: Arc::default(),
            revoked: None,
        }
    }

    /// Stops open uploads at their next batch (the node is stopping: a long
    /// upload must not hold it open past its supervisor's patience).
    pub fn stop_uploads(&self) {
        self.stopping.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether the node is stopping (see [`Gate::stop_uploads`]).
    pub fn stopping(&self) -> bool {
        self.stopping.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Counts calls into `metrics`.
    pub fn set_metrics(&mut self, metrics: Arc<crate::ops::Metrics>) {
        let appends = metrics.audit_append_seconds.clone();
        self.engine.observe_audit_appends(Box::new(move |took| appends.observe(took.as_secs_f64())));
        self.metrics = metrics;
    }

    /// What the node counts.
    pub fn metrics(&self) -> &crate::ops::Metrics {
        &self.metrics
    }

    /// Appends an audit entry durably, timing it; returns its index. On an
    /// audit-only node nothing is added to the log under examination: the
    /// call is only logged (its action and outcome), and there is no index.
    async fn audit(&self, entry: Entry) -> Result<Option<u64>, Status> {
        if self.engine.audit_only().is_some() {
            // Who read the log under examination is kept in the node's own
            // output instead.
            info!(
                principal = %entry.principal,
                role = %entry.role,
                action = %entry.action,
                outcome = %entry.outcome,
                results = entry.result_count,
                "audit-only node: a call answered, not added to the log under examination"
            );
            return Ok(None);
        }
        let index = self.engine.audit(entry).await.map_err(status)?;
        Ok(Some(index))
    }

    /// Takes uploading agencies' types from the node's configuration.
    pub fn set_agency_types(&mut self, agency_types: std::collections::BTreeMap<String, String>) {
        self.agency_types = agency_types;
    }

    /// The type an upload of `agency` is stored under: the configured one
    /// (the client's statement is not trusted), or, on a node configured
    /// with no `[agencies]`, the one the upload states.
    pub fn agency_type(&self, agency: &str, stated: &str) -> Result<String, Status> {
        if self.agency_types.is_empty() {
            return if braid_template::AGENCY_TYPES.contains(&stated) {
                Ok(stated.to_owned())
            } else {
                Err(Status::invalid_argument(format!("header.agency_type must be one of {}", braid_template::AGENCY_TYPES.join(", "))))
            };
        }
        self.agency_types.get(agency).cloned().ok_or_else(|| {
            Status::permission_denied("this agency has no type in the node's [agencies] configuration, so it may not upload; ask the operator to add it")
        })
    }

    /// Applies the upload limits of `limits`.
    pub fn limit_uploads(&mut self, limits: &crate::config::Limits) {
        self.uploads = Uploads::new(limits);
    }

    /// A place for one more open upload stream of `caller`, or a refusal
    /// when it already holds its limit.
    pub fn upload_slot(&self, caller: &Caller) -> Result<UploadSlot, Status> {
        let principal = caller.principal.clone().unwrap_or_default();
        let mut open = self.uploads.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = open.entry(principal.clone()).or_insert(0);
        if *count >= self.uploads.per_principal {
            return Err(Status::resource_exhausted(format!(
                "this principal already has {} uploads open (the node's limit); wait for one to finish",
                self.uploads.per_principal
            )));
        }
        *count += 1;
        Ok(UploadSlot { principal, open: Arc::clone(&self.uploads.open) })
    }

    /// Waits (without holding a thread) for a turn to apply one batch.
    pub async fn batch_turn(&self) -> Result<tokio::sync::OwnedSemaphorePermit, Status> {
        Arc::clone(&self.uploads.batches).acquire_owned().await.map_err(|_| Status::unavailable("the node is shutting down"))
    }

    /// Audits at most `per_minute` refusals of one principal per minute.
    pub fn limit_audited_denials(&mut self, per_minute: u32) {
        self.denials = Denials::new(per_minute);
    }

    /// Refusals refused without an audit entry, because their principal
    /// was over its limit.
    pub fn unaudited_denials(&self) -> u64 {
        self.denials.dropped.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Stops auditing calls that change nothing, so that a benchmark can
    /// measure what the audit costs (builds with `benchmark-baseline`
    /// only). Never used by the node itself.
    #[cfg(feature = "benchmark-baseline")]
    pub fn skip_read_audit_for_benchmarks(&mut self) {
        self.audit_reads = false;
    }

    /// Replaces the policy: from the next call on, roles come from `policy`
    /// (a principal removed from it may do nothing).
    pub fn replace_policy(&self, policy: Policy) {
        if let Ok(mut current) = self.policy.write() {
            *current = policy;
        }
    }

    /// The engine the gate guards.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Who sent `request`.
    pub fn caller<T>(&self, request: &Request<T>) -> Caller {
        let (principal, claimed, serial) = if self.insecure_dev {
            let claimed = request
                .metadata()
                .get(PRINCIPAL_HEADER)
                .and_then(|value| value.to_str().ok())
                .filter(|name| braid_access::valid_principal(name))
                .map(str::to_owned);
            (claimed, true, None)
        } else {
            let leaf = request.extensions().get::<crate::listener::Peer>().and_then(|peer| peer.certificates.as_ref()).and_then(|chain| chain.first());
            let presented = leaf.and_then(|leaf| braid_access::principal_of(leaf.as_ref()));
            (presented, false, leaf.and_then(|leaf| braid_access::certificate_id(leaf.as_ref())))
        };
        let role = self.role_of(principal.as_deref());
        let revoked = self.is_revoked(serial.as_ref());
        Caller { principal, role, claimed, serial, revoked }
    }

    /// Refuses, from now on, callers whose certificates the revocation
    /// list in force names, also on connections opened before it was read
    /// (the handshake refuses them on new ones).
    pub fn watch_revocations(&mut self, revoked: crate::listener::Revoked) {
        self.revoked = Some(revoked);
    }

    fn is_revoked(&self, serial: Option<&braid_access::CertificateId>) -> bool {
        match (&self.revoked, serial) {
            (Some(revoked), Some(serial)) => revoked.read().map(|set| set.contains(serial)).unwrap_or(true),
            _ => false,
        }
    }

    /// The role the policy in force grants `principal`.
    fn role_of(&self, principal: Option<&str>) -> Option<Grant> {
        let policy = self.policy.read().ok()?;
        principal.and_then(|name| policy.grant_of(name)).cloned()
    }

    /// `caller` with its role looked up again in the policy in force now.
    pub fn refresh(&self, caller: &Caller) -> Caller {
        Caller { role: self.role_of(caller.principal.as_deref()), revoked: self.is_revoked(caller.serial.as_ref()), ..caller.clone() }
    }

    /// Decides whether `caller` may do `action`. A refusal is audited (as
    /// `entry` with the reason) and returned as `PermissionDenied`.
    pub async fn admit(&self, caller: &Caller, action: &Action<'_>, entry: &Entry) -> Result<(), Status> {
        let decision = if caller.revoked {
            Err("the client certificate has been revoked (the node's revocation list names it)".to_owned())
        } else if caller.principal.is_none() {
            Err(if self.insecure_dev {
                "no principal: this node runs with --insecure-dev, so name yourself with --principal NAME".to_owned()
            } else {
                "the client certificate names no valid principal (its common name must be 1 to 64 letters, digits, - _ . @)".to_owned()
            })
        } else {
            authorize(caller.role.as_ref(), action).map_err(|denial| denial.0)
        };
        // An audit-only node answers auditors' reads of the log, nothing
        // else (and refuses only after saying who may not call at all).
        if decision.is_ok() && self.engine.audit_only().is_some() && !matches!(action, Action::ReadAudit) {
            info!(principal = %entry.principal, action = %entry.action, "call refused: the node runs audit-only");
            self.metrics.denials.get_or_create(&crate::ops::ActionLabel { action: entry.action.clone() }).inc();
            return Err(Status::failed_precondition("this node runs audit-only: it answers auditors' reads of the audit log and nothing else"));
        }
        let Err(reason) = decision else {
            return Ok(());
        };
        self.metrics.denials.get_or_create(&crate::ops::ActionLabel { action: entry.action.clone() }).inc();
        if self.engine.audit_only().is_some() {
            info!(principal = ?caller.principal, action = %entry.action, "call refused (audit-only node: not added to the log under examination)");
            return Err(Status::permission_denied(reason));
        }
        if !self.denials.audit(caller.principal.as_deref().unwrap_or("")) {
            return Err(Status::permission_denied(format!("{reason} (refusals of this caller are no longer audited this minute)")));
        }
        let mut refused = entry.clone();
        refused.outcome = format!("denied: {reason}");
        let index = self.audit(refused).await?;
        info!(action = %entry.action, audit_entry = ?index, "call refused");
        Err(Status::permission_denied(reason))
    }

    /// Who sent `request`, admitted to do `action` (audited as `name`):
    /// returns the call's audit entry, or the audited refusal.
    pub async fn admit_request<T>(&self, request: &Request<T>, name: &str, action: &Action<'_>) -> Result<Entry, Status> {
        let caller = self.caller(request);
        let entry = caller.entry(name);
        self.admit(&caller, action, &entry).await?;
        Ok(entry)
    }

    /// Audits a finished call: `result` is the answer with what it touched,
    /// or the error it ends with. The answer is released only once its
    /// entry is durable; the entry's index goes back in a response header.
    pub async fn finish<T>(&self, mut entry: Entry, result: Result<(T, Outcome), Status>) -> Result<Response<T>, Status> {
        let seconds = crate::audit::now_ms().saturating_sub(entry.time_ms) as f64 / 1000.0;
        self.metrics.call_seconds.get_or_create(&crate::ops::ActionLabel { action: entry.action.clone() }).observe(seconds);
        match result {
            Ok((answer, _)) if !self.audit_reads => Ok(Response::new(answer)),
            Ok((answer, outcome)) => {
                entry.touched = outcome.touched;
                entry.result_count = outcome.count;
                entry.outcome = "ok".to_owned();
                Ok(match self.audit(entry).await? {
                    Some(index) => with_receipt(Response::new(answer), index),
                    None => Response::new(answer),
                })
            }
            Err(error) => {
                self.record_failure(entry, &error).await;
                Err(error)
            }
        }
    }

    /// Audits a call that ended in `error` (best effort: the error is
    /// returned either way).
    pub async fn record_failure(&self, mut entry: Entry, error: &Status) {
        entry.outcome = format!("error: {:?}", error.code());
        if let Err(audit_error) = self.audit(entry).await {
            tracing::warn!(error = %audit_error, "a failed call could not be audited");
        }
    }
}

/// Puts the audit entry's index (the caller's receipt) in the response.
pub fn with_receipt<T>(mut response: Response<T>, index: u64) -> Response<T> {
    if let Ok(value) = index.to_string().parse() {
        response.metadata_mut().insert(RECEIPT_HEADER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::Denials;

    #[test]
    fn refusals_bunched_at_a_minute_edge_are_audited_at_most_per_minute() {
        let denials = Denials::new(5);
        let audited_at = |from: u64, count: u64| (from..from + count).filter(|&t| denials.audit_at("POL-NORTH", t)).count();
        assert_eq!(audited_at(59_000, 5), 5);
        // A fixed minute would start over here and audit five more.
        assert_eq!(audited_at(60_000, 10), 0, "the minute before already holds five");
        assert_eq!(denials.dropped.load(std::sync::atomic::Ordering::Relaxed), 10);
        assert!(denials.audit_at("CSC-NORTH", 60_005), "each principal has its own minute");
        assert_eq!(audited_at(119_000, 5), 5, "a minute after the first five, as many again");
    }

    proptest::proptest! {
        /// However refusals are spread in time, no sixty seconds hold more
        /// audited ones than the limit, and each refusal is audited exactly
        /// when the minute before it holds fewer than the limit.
        #[test]
        fn no_minute_audits_more_than_the_limit(limit in 1u32..8, gaps in proptest::collection::vec(0u64..30_000, 1..200)) {
            let denials = Denials::new(limit);
            let mut now = 0;
            let mut audited: Vec<u64> = Vec::new();
            for gap in gaps {
                now += gap;
                let before = audited.iter().filter(|&&t| now - t < Denials::MINUTE_MS).count();
                let yes = denials.audit_at("YOT-NORTH", now);
                proptest::prop_assert_eq!(yes, before < limit as usize);
                if yes {
                    audited.push(now);
                }
            }
            for (i, &start) in audited.iter().enumerate() {
                let within = audited[i..].iter().take_while(|&&t| t - start < Denials::MINUTE_MS).count();
                proptest::prop_assert!(within <= limit as usize);
            }
        }
    }
}
