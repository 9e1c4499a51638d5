//! Node configuration: defaults, then a TOML file, then `BRAID_*`
//! environment variables, then flags. Validated before anything binds.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

/// Everything the node needs to start.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// RocksDB directory.
    pub data_dir: PathBuf,
    /// When set, uploads under any other key epoch are refused even before
    /// the first upload.
    pub expected_epoch: Option<String>,
    /// Largest upload batch accepted, in records.
    pub max_batch_records: usize,
    /// Partnerships: name → the agency codes whose panels share a view.
    /// A panel sees a profile only when one of its records comes from one
    /// of its partnership's agencies.
    pub partnerships: std::collections::BTreeMap<String, Vec<String>>,
    /// Each uploading agency's type (code → children_services, police,
    /// yot, health, voluntary, education, probation or victim_services): what a panel is told of an agency outside
    /// its partnership. When set, an upload's type comes from here, never
    /// from the client, and an agency not listed may not upload; when empty
    /// (development), the type an upload states is used.
    pub agencies: std::collections::BTreeMap<String, String>,
    /// The node's certificate and key, and the CA that clients'
    /// certificates must chain to. Required unless `insecure_dev`.
    pub tls: Option<TlsFiles>,
    /// The policy file: which principal (certificate common name) holds
    /// which role.
    pub policy: Option<PathBuf>,
    /// When the audit log is checkpointed.
    pub audit: AuditSettings,
    /// What one caller, or anyone who can reach the port, may take.
    pub limits: Limits,
    /// Where `braid admin backup` writes backups (each a new directory;
    /// on the same filesystem as data_dir, a backup is mostly hard links).
    /// Without it, backups are refused.
    pub backups_dir: Option<PathBuf>,
    /// Free space kept on the data directory's disk: below it, changes are
    /// refused and reads go on (see `space.rs`).
    pub storage: crate::space::StorageLimits,
    /// How long each agency's records are kept, and how often expired ones
    /// are erased (see `retention.rs`). Without a rule, records are kept.
    pub retention: crate::retention::RetentionSettings,
    /// Serve gRPC server reflection (`grpc.reflection.v1`) on the mTLS
    /// port, so tools such as grpcurl can list the services and messages
    /// (to callers with a certificate; it describes the API, no data).
    /// Off by default.
    pub reflection: bool,
    /// The operations listener (plain HTTP: `/healthz`, `/readyz`,
    /// `/metrics`, nothing else), for probes and Prometheus. Keep it on
    /// loopback or a private network.
    pub operations_listen: Option<SocketAddr>,
    /// Listen without TLS and take each caller's principal from the
    /// `braid-principal` header, unproven. For local development only; set
    /// only by the `--insecure-dev` flag, never from a file.
    #[serde(skip)]
    pub insecure_dev: bool,
    /// Open an existing data directory only so that auditors can read its
    /// audit log as it is stored — even one that fails verification, which
    /// a normal start refuses — with `braid audit verify --node` or the
    /// console. Nothing is written, nothing is added to the log, and every
    /// other call is refused. Set only by the `--audit-only` flag.
    #[serde(skip)]
    pub audit_only: bool,
    /// Answer calls that change nothing without auditing them: only for the
    /// benchmark that measures what the audit costs, and only in a build
    /// with the `benchmark-baseline` feature. Never set from a file, the
    /// environment or a flag.
    #[cfg(feature = "benchmark-baseline")]
    #[serde(skip)]
    pub unaudited_reads_for_benchmarks: bool,
}

/// The files mTLS needs (PEM).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// The node's certificate (chain).
    pub certificate: PathBuf,
    /// Its private key.
    pub private_key: PathBuf,
    /// The CA certificate(s) client certificates must chain to.
    pub client_ca: PathBuf,
    /// A certificate revocation list (PEM) from that CA: a client whose
    /// certificate it lists is refused in the handshake. Read at start-up.
    #[serde(default)]
    pub crl: Option<PathBuf>,
}

/// Limits on connections and calls. The defaults suit a node serving a few
/// dozen agencies and panels.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Connections held at once; more are closed on arrival.
    pub max_connections: usize,
    /// Seconds a client has to finish the TLS handshake.
    pub handshake_seconds: u64,
    /// Calls in flight on one connection (HTTP/2 streams).
    pub streams_per_connection: u32,
    /// Seconds a call may take to answer before it is cancelled (an
    /// upload answers at once and then acknowledges batch by batch, so a
    /// long upload is not cut off).
    pub call_seconds: u64,
    /// Seconds between keep-alive pings on an idle connection; a peer that
    /// does not answer within the same time is dropped.
    pub keepalive_seconds: u64,
    /// Refused calls audited per principal (or per address, without one)
    /// per minute; more are refused without an audit entry and counted.
    pub audited_denials_per_minute: u32,
    /// Upload streams one principal may hold open at once; another is
    /// refused (ResourceExhausted) until one ends.
    pub uploads_per_principal: u32,
    /// Upload batches applied at once over all uploads; further batches
    /// wait their turn without holding a worker thread, so a flood of
    /// uploads cannot take every thread from panel queries.
    pub batches_in_flight: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 512,
            handshake_seconds: 10,
            streams_per_connection: 32,
            call_seconds: 300,
            keepalive_seconds: 30,
            audited_denials_per_minute: 60,
            uploads_per_principal: 4,
            batches_in_flight: 4,
        }
    }
}

impl TlsFiles {
    /// The files `braid keys init` writes for the node in `dir` (and the
    /// revocation list `ca.crl`, when there is one).
    pub fn in_dir(dir: &std::path::Path) -> TlsFiles {
        let crl = dir.join("ca.crl");
        TlsFiles { certificate: dir.join("node.crt"), private_key: dir.join("node.key"), client_ca: dir.join("ca.crt"), crl: crl.exists().then_some(crl) }
    }
}

/// Audit checkpoint settings.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    /// Sign a checkpoint once this many entries were added since the last.
    pub checkpoint_every_entries: u64,
    /// Sign a checkpoint when entries have waited this long (seconds).
    pub checkpoint_every_seconds: u64,
}

impl Default for AuditSettings {
    fn default() -> AuditSettings {
        AuditSettings { checkpoint_every_entries: 1000, checkpoint_every_seconds: 60 }
    }
}

impl Default for NodeConfig {
    fn default() -> NodeConfig {
        NodeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 7443)),
            data_dir: PathBuf::from("braid-data"),
            expected_epoch: None,
            max_batch_records: 5000,
            partnerships: std::collections::BTreeMap::new(),
            agencies: std::collections::BTreeMap::new(),
            tls: None,
            policy: None,
            audit: AuditSettings::default(),
            limits: Limits::default(),
            storage: crate::space::StorageLimits::default(),
            retention: crate::retention::RetentionSettings::default(),
            reflection: false,
            operations_listen: Some(SocketAddr::from(([127, 0, 0, 1], 7444))),
            backups_dir: None,
            insecure_dev: false,
            audit_only: false,
            #[cfg(feature = "benchmark-baseline")]
            unaudited_reads_for_benchmarks: false,
        }
    }
}

impl NodeConfig {
    /// Reads a TOML file over the defaults.
    pub fn from_toml(text: &str) -> anyhow::Result<NodeConfig> {
        toml::from_str(text).map_err(|error| anyhow::anyhow!("{}", braid_template::toml_error(text, &error)))
    }

    /// Applies `BRAID_LISTEN`, `BRAID_DATA_DIR`, `BRAID_EXPECTED_EPOCH` and
    /// `BRAID_POLICY`.
    pub fn apply_env(&mut self) -> anyhow::Result<()> {
        if let Ok(listen) = std::env::var("BRAID_LISTEN") {
            self.listen = listen.parse().map_err(|_| anyhow::anyhow!("BRAID_LISTEN is not a socket address"))?;
        }
        if let Ok(dir) = std::env::var("BRAID_DATA_DIR") {
            self.data_dir = PathBuf::from(dir);
        }
        if let Ok(epoch) = std::env::var("BRAID_EXPECTED_EPOCH") {
            self.expected_epoch = Some(epoch);
        }
        if let Ok(policy) = std::env::var("BRAID_POLICY") {
            self.policy = Some(PathBuf::from(policy));
        }
        Ok(())
    }

    /// Checks the settings make sense together.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.max_batch_records > 0 && self.max_batch_records <= 100_000, "max_batch_records must be between 1 and 100000");
        anyhow::ensure!(!self.data_dir.as_os_str().is_empty(), "data_dir must be set");
        self.retention.validate().map_err(anyhow::Error::msg)?;
        anyhow::ensure!(self.policy.is_some(), "policy must be set: the file that grants each certificate principal its role (braid keys init writes one)");
        anyhow::ensure!(
            self.tls.is_some() || self.insecure_dev,
            "the node serves only over mTLS: give a [tls] section (certificate, private_key, client_ca) or --tls DIR; \
             --insecure-dev listens without TLS, for local development only"
        );
        anyhow::ensure!(
            !(self.tls.is_some() && self.insecure_dev),
            "--insecure-dev cannot be combined with TLS: it would trust the principal a caller claims on a TLS listener; \
             drop --insecure-dev (and serve with TLS) or drop the [tls] section and --tls"
        );
        let limits = &self.limits;
        anyhow::ensure!(
            (1..=100_000).contains(&limits.max_connections)
                && (1..=300).contains(&limits.handshake_seconds)
                && (1..=1000).contains(&limits.streams_per_connection)
                && (1..=86_400).contains(&limits.call_seconds)
                && (1..=3600).contains(&limits.keepalive_seconds)
                && (1..=100_000).contains(&limits.audited_denials_per_minute)
                && (1..=1000).contains(&limits.uploads_per_principal)
                && (1..=256).contains(&limits.batches_in_flight),
            "[limits]: max_connections 1–100000, handshake_seconds 1–300, streams_per_connection 1–1000, \
             call_seconds 1–86400, keepalive_seconds 1–3600, audited_denials_per_minute 1–100000, \
             uploads_per_principal 1–1000, batches_in_flight 1–256"
        );
        anyhow::ensure!(self.audit.checkpoint_every_entries > 0 && self.audit.checkpoint_every_seconds > 0, "audit checkpoint intervals must be at least 1");
        anyhow::ensure!(
            self.storage.reserve_mb <= 1 << 20 && self.storage.min_free_mb <= 1 << 30,
            "[storage]: reserve_mb at most 1048576 (1 TiB), min_free_mb at most 1073741824"
        );
        for (code, agency_type) in &self.agencies {
            // The value is not repeated: a secret pasted into the wrong line
            // would reach the node's log.
            anyhow::ensure!(
                braid_template::AGENCY_TYPES.contains(&agency_type.as_str()),
                "[agencies] {}: the type given is not an agency type; it must be one of {}",
                braid_template::quote(code),
                braid_template::AGENCY_TYPES.join(", ")
            );
        }
        if let Some(epoch) = &self.expected_epoch {
            anyhow::ensure!(
                is_epoch_fingerprint(epoch),
                "expected_epoch (or BRAID_EXPECTED_EPOCH) is not a key epoch: it looks like e1-0123456789abcdef, as braid keys init and \
                 braid agency pseudonymise print it"
            );
        }
        if let Some(operations) = self.operations_listen {
            anyhow::ensure!(
                operations.port() == 0
                    || operations.port() != self.listen.port()
                    || (!operations.ip().is_unspecified() && !self.listen.ip().is_unspecified() && operations.ip() != self.listen.ip()),
                "operations_listen {operations} and listen {} would take the same address: give the operations listener a port of its own",
                self.listen
            );
        }
        for (name, agencies) in &self.partnerships {
            anyhow::ensure!(!agencies.is_empty(), "partnership `{name}` names no agencies");
            anyhow::ensure!(agencies.len() <= 64, "partnership `{name}` names more than 64 agencies");
        }
        Ok(())
    }
}

/// Whether `text` is a key epoch's fingerprint: `e`, the epoch number, a
/// dash and sixteen lower-case hex digits.
fn is_epoch_fingerprint(text: &str) -> bool {
    let Some((epoch, hex)) = text.strip_prefix('e').and_then(|rest| rest.split_once('-')) else {
        return false;
    };
    !epoch.is_empty()
        && epoch.len() <= 10
        && epoch.bytes().all(|b| b.is_ascii_digit())
        && hex.len() == 16
        && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_config_parses_and_validates() {
        let text = include_str!("../../../deploy/node.example.toml");
        let config = NodeConfig::from_toml(text).expect("example parses");
        config.validate().expect("example is valid");
        assert!(config.tls.is_some() && config.policy.is_some());
        let insecure = NodeConfig { tls: None, ..config.clone() };
        assert!(insecure.validate().expect_err("no TLS").to_string().contains("only over mTLS"));
        assert!(NodeConfig::from_toml("insecure_dev = true").is_err(), "plain text is a flag, never a file setting");
        assert!(NodeConfig::from_toml("unaudited_reads_for_benchmarks = true").is_err(), "only code can switch the audit off");
        assert_eq!(config.listen.port(), 7443);
        assert!(NodeConfig::from_toml("no_such_setting = 1").is_err());
        let both = NodeConfig { insecure_dev: true, ..config.clone() };
        assert!(both.validate().expect_err("TLS and --insecure-dev").to_string().contains("cannot be combined with TLS"));
        let mut schools = config.clone();
        schools.agencies.insert("EDU-NORTH".to_owned(), "education".to_owned());
        schools.agencies.insert("PRB-NORTH".to_owned(), "probation".to_owned());
        schools.agencies.insert("VS-NORTH".to_owned(), "victim_services".to_owned());
        schools.validate().expect("education, probation and victim services are agency types");
        let epoch = NodeConfig { expected_epoch: Some("e1-842771a7e3898e5a".to_owned()), ..config.clone() };
        epoch.validate().expect("a key epoch");
        let pasted = NodeConfig { expected_epoch: Some("SUPERSECRETVALUE-xyz".to_owned()), ..config.clone() };
        let message = pasted.validate().expect_err("not an epoch").to_string();
        assert!(message.contains("not a key epoch") && !message.contains("SUPERSECRET"), "{message}");
        schools.agencies.insert("X".to_owned(), "school".to_owned());
        assert!(schools.validate().expect_err("unknown type").to_string().contains("victim_services"));
        let mut tight = config.clone();
        tight.limits.max_connections = 0;
        assert!(tight.validate().expect_err("no connections").to_string().contains("[limits]"));
    }
}
