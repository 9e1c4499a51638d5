//! `braid`: the one user CLI. Key custodians, agencies, operators and
//! evaluators use its subcommands; `braid demo` runs the whole flow.
//!
//! Agency-side commands (`agency pseudonymise`) run on the agency's premises
//! and are the only place raw identity is read. Start at [`Command`].

/// `braid demo` embeds a node, and pseudonymisation allocates per row:
/// the same allocator as `braid-node`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod admin;
mod agency;
mod audit;
mod console;
mod demo;
mod eval;
mod extract_file;
mod pack;
mod panel;

use std::path::PathBuf;

use braid_cli::{convert, keys};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

/// Braid: privacy-preserving linkage of child-safeguarding records across agencies.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Key custodian: create the scheme secret, and development certificates.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Write synthetic agencies' extracts, their mapping files and truth.csv.
    Synth {
        /// Directory to write into (created if needed).
        #[arg(long)]
        out: PathBuf,
        /// Children in the synthetic population.
        #[arg(long, default_value_t = 2000)]
        children: usize,
        /// Random seed; the same seed gives the same files.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Recording noise: low, default or high.
        #[arg(long, default_value = "default")]
        noise: String,
    },
    /// Agency: pseudonymise, upload, withdraw, resolve.
    Agency {
        #[command(subcommand)]
        command: AgencyCommand,
    },
    /// Operator: cluster export and statistics.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Panel member: linked profiles, signals, networks and reports for a
    /// partnership (every query states a purpose).
    Panel {
        #[command(subcommand)]
        command: PanelCommand,
    },
    /// Score a cluster export against ground truth (pairwise precision, recall, F1).
    Eval {
        /// Ground truth CSV (agency, case_id, person_id, true_person; optional
        /// household). Repeat for several files, e.g. the `.truth.csv` that
        /// `braid agency pseudonymise --truth-column` writes per agency.
        #[arg(long, required = true)]
        truth: Vec<PathBuf>,
        /// Cluster export from `braid admin clusters`.
        #[arg(long)]
        clusters: PathBuf,
        /// Agencies' re-identification maps (repeat for each agency).
        #[arg(long)]
        reid: Vec<PathBuf>,
        /// Also score signals: a `braid panel signals --json` listing (give a
        /// large --limit) against the signals planted in the truth (needs
        /// braid synth's truth.csv).
        #[arg(long)]
        signals: Option<PathBuf>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Auditor: read the access log, fetch checkpoints, prove inclusion and
    /// consistency, verify the whole log.
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
    /// The panel's web console, on this machine: prints a one-time link to
    /// open in a browser here. It acts as the holder of --tls (a panel
    /// member's bundle) over mTLS, as `braid panel` does; every page asks
    /// the node, which audits it with the purpose given at the start.
    Console {
        #[command(flatten)]
        node: braid_client::NodeArgs,
        /// Where to listen: loopback only (port 0 picks a free one).
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: std::net::SocketAddr,
        /// Whose pages: a panel member's (signals, profiles, networks,
        /// reports), an auditor's (the audit log, verification) or an
        /// agency's (its own completeness). Give the matching --tls bundle;
        /// the node refuses anything the role may not do.
        #[arg(long, value_enum, default_value = "panel")]
        role: console::ConsoleRole,
        /// The partnership to offer on the start page.
        #[arg(long)]
        partnership: Option<String>,
        /// With --role agency: the agency's code (its bundle's agency).
        #[arg(long)]
        agency: Option<String>,
    },
    /// Run the whole flow on synthetic data with an embedded node.
    Demo {
        /// Children in the synthetic population.
        #[arg(long, default_value_t = 2000)]
        children: usize,
        /// Random seed.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Keep the files in this directory instead of a temporary one.
        #[arg(long)]
        keep: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum PanelCommand {
    /// A person's linked records across agencies (by one record of an agency
    /// in the partnership, or by profile id), with their signals.
    Profile {
        #[command(flatten)]
        panel: panel::PanelArgs,
        #[command(flatten)]
        subject: panel::SubjectArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Signals (re-victimisation, victim/HSB overlap, victims recorded as
    /// offenders, shared perpetrators, networks, CSA/CSE conflicts), newest
    /// first.
    Signals {
        #[command(flatten)]
        panel: panel::PanelArgs,
        #[command(flatten)]
        filter: panel::SignalFilter,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Who harmed whom around a person: as text, JSON, Graphviz DOT or SVG.
    Network {
        #[command(flatten)]
        panel: panel::PanelArgs,
        #[command(flatten)]
        subject: panel::SubjectArgs,
        /// Steps out from the person (1 to 6).
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=6))]
        depth: u32,
        /// Most people to include (1 to 500).
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=500))]
        max_people: u32,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: panel::NetworkFormat,
        /// Write to this file instead of the terminal.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Distinct people counted by one or two single-choice or whole-number
    /// template items (or case_type, or a period), with counts of 1 to 4
    /// shown as <5 and further cells withheld so that totals cannot reveal
    /// them. One of the two may be a multi-choice item (e.g.
    /// context.locations): a person is then counted under every category
    /// their records tick, and the totals count distinct people.
    Report {
        #[command(flatten)]
        panel: panel::PanelArgs,
        /// Template item id (e.g. victim.sex, context.abuse_types),
        /// case_type, period:month, period:quarter or period:year (each
        /// person under the period of their first case in the window), or
        /// agency or agency_type (each person under every agency that knows
        /// them, with that agency's own answers); give twice for rows and
        /// columns (at most one multi-choice item, one agency dimension).
        #[arg(long, required = true)]
        by: Vec<String>,
        /// Whose profiles: victims, harmers or all.
        #[arg(long, default_value = "victims")]
        population: String,
        #[command(flatten)]
        window: panel::Window,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Data completeness per agency and template item (known / not known /
    /// missing), or in the pilot report's form by agency type.
    Quality {
        #[command(flatten)]
        panel: panel::PanelArgs,
        /// items: each template item by agency; pilot: the pilot report's
        /// Tables 2–9, each item by agency type (collected, reportable, not
        /// known, not recorded), from what agencies' mappings declare of
        /// their systems in `[system]`.
        #[arg(long, value_enum, default_value = "items")]
        format: panel::QualityFormat,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// How many people each kind of signal concerns, by month, quarter or
    /// year of its latest evidence (distinct people per kind; <5 and *
    /// suppression).
    SignalCounts {
        #[command(flatten)]
        panel: panel::PanelArgs,
        /// month, quarter or year.
        #[arg(long, default_value = "quarter")]
        period: String,
        #[command(flatten)]
        window: panel::Window,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// A cohort of the partnership's children and their outcomes: how many
    /// had each kind of outcome event (missing episode, placement move,
    /// school exclusion, attendance concern, health appointment attended,
    /// arrest or charge, return home, service engagement) in the 12 months
    /// after they entered the cohort (distinct children; <5 suppression,
    /// rounded down to a multiple of 5).
    Cohort {
        #[command(flatten)]
        panel: panel::PanelArgs,
        /// Who is in the cohort: case_type:CSA, case_type:CSE or
        /// case_type:HSB (victims and children displaying HSB in such a
        /// case, entering on its event date), or signal:KIND with
        /// revictimisation, victim-hsb-overlap, victim-as-offender or
        /// classification-conflict (entering on the day of the signal's
        /// latest evidence).
        #[arg(long)]
        cohort: String,
        /// --since and --until select children by the day they entered.
        #[command(flatten)]
        window: panel::Window,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// When each of the partnership's agencies last sent a change, and how
    /// current its records are: records, current concerns, current concerns
    /// not changed for --months months, records changed since first sent.
    Freshness {
        #[command(flatten)]
        panel: panel::PanelArgs,
        /// A current concern whose record has not changed for this many
        /// months counts as unchanged.
        #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..=240))]
        months: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Where linked records of one child from two of the partnership's
    /// agencies give different known answers (sex, ethnicity, disability,
    /// case type…): distinct children per item and agency pair, 1 to 4
    /// shown as <5.
    Disagreements {
        #[command(flatten)]
        panel: panel::PanelArgs,
        /// A single-choice or multi-choice template item, or case_type;
        /// repeat for several (default: victim.sex, victim.ethnicity,
        /// victim.disabilities, case_type).
        #[arg(long = "item")]
        items: Vec<String>,
        #[command(flatten)]
        window: panel::Window,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The quarterly set of tables for one period, written to a new
    /// directory as CSV files and one self-contained HTML page: children by
    /// case type and by month, harmers, signals by month, disagreements
    /// (for the period), the agencies-together matrix, completeness and
    /// freshness (as now). Every cell as the node published it.
    Pack {
        #[command(flatten)]
        panel: panel::PanelArgs,
        /// A quarter (2026-Q3), a month (2026-07) or a year (2026).
        #[arg(long)]
        period: String,
        /// A new (or empty) directory for the pack.
        #[arg(long)]
        out: PathBuf,
    },
    /// Which agencies work with the same children, as a matrix.
    Services {
        #[command(flatten)]
        panel: panel::PanelArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a scheme secret (DIR/scheme.secret) and, for development and
    /// demonstration, a CA with certificates for the node and for each
    /// principal (agencies, a panel member per partnership, an auditor, an
    /// administrator) and the policy.toml that grants their roles.
    Init {
        /// Directory to write into.
        #[arg(long)]
        out: PathBuf,
        /// Key epoch number.
        #[arg(long, default_value_t = 1)]
        epoch: u32,
        /// Agency codes to certify for upload (repeat; default: the four
        /// agencies of `braid synth`).
        #[arg(long = "agency")]
        agencies: Vec<String>,
        /// Partnerships to certify a panel member for (repeat).
        #[arg(long = "partnership", default_values_t = ["north".to_owned()])]
        partnerships: Vec<String>,
        /// Names and addresses the node's certificate is valid for (repeat).
        #[arg(long = "host", default_values_t = ["localhost".to_owned(), "127.0.0.1".to_owned()])]
        hosts: Vec<String>,
    },
    /// Revoke a principal's certificate (from `keys init`): adds it to the
    /// development CA's revocation list and writes DIR/node/ca.crl, which a
    /// node started with `--tls DIR/node` reads (at start-up and on
    /// SIGHUP) to refuse that certificate in the handshake. Also remove the
    /// principal from policy.toml.
    Revoke {
        /// The directory `keys init` wrote.
        #[arg(long)]
        keys: PathBuf,
        /// The principal whose certificate (DIR/PRINCIPAL/client.crt) to revoke.
        principal: String,
    },
    /// Start a key rotation: write a new scheme secret for the next epoch
    /// (the current epoch's number plus one, fresh random key material).
    /// Then: `braid admin epochs --begin FINGERPRINT` on the node, each
    /// agency pseudonymises with --secret NEW --bridge-secret CURRENT and
    /// uploads, and `braid admin epochs --finish` once all have moved.
    NextEpoch {
        /// The current scheme secret.
        #[arg(long)]
        secret: PathBuf,
        /// Where to write the new one (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum AgencyCommand {
    /// Pseudonymise an extract: no raw identifier leaves this machine.
    Pseudonymise {
        /// Mapping file (TOML) describing the extract's columns.
        #[arg(long)]
        mapping: PathBuf,
        /// Scheme secret file from the key custodian.
        #[arg(long)]
        secret: PathBuf,
        /// The extract (CSV, one row per involvement).
        #[arg(long)]
        input: PathBuf,
        /// Pseudonymised output file to upload.
        #[arg(long)]
        out: PathBuf,
        /// Where to write the re-identification map (default: next to --out).
        #[arg(long)]
        reid: Option<PathBuf>,
        /// Write nothing if any row is rejected.
        #[arg(long)]
        fail_on_bad_rows: bool,
        /// During a key rotation: the scheme secret of the epoch the node is
        /// moving from (--secret is then the new one). Each record also
        /// carries its ref and pseudonyms under it, so it keeps linking with
        /// agencies that have not moved yet, and replaces the record the
        /// node holds under its old ref.
        #[arg(long)]
        bridge_secret: Option<PathBuf>,
        /// For evaluation on data with a known answer: a column that names
        /// the true person of each row. Writes `<out>.truth.csv` (agency,
        /// case_id, person_id, true_person) for `braid eval --truth`; the
        /// column is never uploaded.
        #[arg(long)]
        truth_column: Option<String>,
    },
    /// Upload a pseudonymised extract to a node.
    Upload {
        #[command(flatten)]
        node: braid_client::NodeArgs,
        /// Records per atomic batch (at least 1).
        #[arg(long, default_value_t = 500, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
        batch_size: usize,
        /// Failed attempts in a row that get no further than the best before
        /// them, after which the upload gives up (each attempt resumes
        /// without duplicates; one that gets further starts the count again).
        /// Waits between attempts double from 0.2 s up to 10 s: the default
        /// waits about a minute in all, long enough for a node to restart.
        #[arg(long, default_value_t = 10)]
        retries: u32,
        /// The file written by `braid agency pseudonymise`.
        file: PathBuf,
    },
    /// Withdraw some of this agency's records from a node.
    Withdraw {
        #[command(flatten)]
        node: braid_client::NodeArgs,
        /// The agency code.
        #[arg(long)]
        agency: String,
        /// Opaque record refs to withdraw.
        #[arg(long = "record-ref")]
        record_refs: Vec<String>,
        /// Local case ids to withdraw (needs --reid).
        #[arg(long = "case-id")]
        case_ids: Vec<String>,
        /// The re-identification map, to turn case ids into refs.
        #[arg(long)]
        reid: Option<PathBuf>,
    },
    /// This agency's own uploads at the node, newest first: per
    /// pseudonymised file, its batches and what they did (new, replaced,
    /// unchanged, rejected records, with the first rejections' reasons).
    Uploads {
        #[command(flatten)]
        node: braid_client::NodeArgs,
        /// The agency code (your own; the node answers no other).
        #[arg(long)]
        agency: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The completeness of this agency's own records at the node: per
    /// template item, known / not known / missing.
    Quality {
        #[command(flatten)]
        node: braid_client::NodeArgs,
        /// The agency code (your own; the node answers no other).
        #[arg(long)]
        agency: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Rewrite this agency's rows of a cluster export with local ids.
    Resolve {
        /// The re-identification map.
        #[arg(long)]
        reid: PathBuf,
        /// Cluster export.
        #[arg(long)]
        input: PathBuf,
        /// Output CSV.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Export agency,record_ref,person_ref,role,profile_id for every involvement.
    Clusters {
        #[command(flatten)]
        node: braid_client::NodeArgs,
        /// Output CSV, written for its owner only (`-`: standard output).
        #[arg(long)]
        out: PathBuf,
    },
    /// Re-estimate the linkage model and re-decide every profile in an order
    /// set by the records' content, so that the profiles do not depend on the
    /// order agencies uploaded in. Holds the node's linkage state while it
    /// runs (seconds per hundred thousand involvements).
    Relink {
        #[command(flatten)]
        node: braid_client::NodeArgs,
    },
    /// Take an online, consistent backup while the node keeps serving: a
    /// RocksDB checkpoint (records, linkage, the audit log and its signing
    /// key, as of one moment) in a new directory under the node's
    /// backups_dir. Restore with `braid-node --restore DIR --data-dir NEW`.
    Backup {
        #[command(flatten)]
        node: braid_client::NodeArgs,
        /// The backup's directory name under the node's backups_dir
        /// (default: braid-backup-<time>).
        #[arg(long, value_name = "NAME")]
        out: Option<String>,
    },
    /// Retention: each agency's rule ([retention] in the node's config) and
    /// how many of its records are past their retention date; without
    /// --dry-run, erases them now (as withdrawals: profiles re-computed, one
    /// audit entry, the store compacted so the data is gone from disk). The
    /// node also sweeps on its own every [retention] sweep_minutes.
    Retention {
        #[command(flatten)]
        node: braid_client::NodeArgs,
        /// Only show what would be erased.
        #[arg(long)]
        dry_run: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Key epochs: the one the node links under, the one a rotation is
    /// moving to, and each agency's progress (records uploaded under the
    /// new epoch). --begin opens a rotation (uploads under the new epoch,
    /// carrying bridge pseudonyms, are then accepted beside the current
    /// one); --finish, once every record has moved, makes the new epoch the
    /// only one and drops the old pseudonyms from the store.
    Epochs {
        #[command(flatten)]
        node: braid_client::NodeArgs,
        /// Open a rotation to the epoch with this fingerprint (printed by
        /// `braid keys next-epoch`).
        #[arg(long, value_name = "FINGERPRINT", conflicts_with = "finish")]
        begin: Option<String>,
        /// Finish the open rotation.
        #[arg(long, conflicts_with = "cancel")]
        finish: bool,
        /// Cancel the open rotation (only before any agency has uploaded
        /// under its epoch).
        #[arg(long, conflicts_with = "begin")]
        cancel: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Counts of records, involvements and profiles.
    Stats {
        #[command(flatten)]
        node: braid_client::NodeArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Why involvements were linked: a profile's members, the evidence for
    /// every link (agreeing match keys, Dice band, weight, probability), and
    /// the uncertain pairs left for review. Give --profile, or --agency with
    /// --record-ref.
    Explain {
        #[command(flatten)]
        node: braid_client::NodeArgs,
        /// A profile id from the cluster export (P0000123).
        #[arg(long, conflicts_with_all = ["agency", "record_ref"], required_unless_present = "record_ref")]
        profile: Option<String>,
        /// The agency of --record-ref.
        #[arg(long, requires = "record_ref")]
        agency: Option<String>,
        /// An opaque record ref (r-…) as uploaded.
        #[arg(long, requires = "agency")]
        record_ref: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `braid … | head` closes stdout (and `braid … 2>&1 | head` stderr too)
/// before everything is printed: stop quietly, as command-line tools do
/// (exit status 141, as for SIGPIPE), instead of reporting a panic.
fn quiet_on_closed_stdout() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload.downcast_ref::<String>().map(String::as_str).or_else(|| payload.downcast_ref::<&str>().copied()).unwrap_or("");
        if (message.starts_with("failed printing to stdout") || message.starts_with("failed printing to stderr")) && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default_hook(info);
    }));
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    braid_template::exit_with(run().await)
}

async fn run() -> Result<()> {
    quiet_on_closed_stdout();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Keys { command: KeysCommand::Init { out, epoch, agencies, partnerships, hosts } } => {
            let agencies = if agencies.is_empty() { braid_synth::AGENCIES.iter().map(|a| a.code.to_owned()).collect() } else { agencies };
            keys::keys_init_command(&keys::KeysInit { out: &out, epoch, agencies: &agencies, partnerships: &partnerships, hosts: &hosts })
        }
        Command::Keys { command: KeysCommand::Revoke { keys: dir, principal } } => keys::keys_revoke_command(&dir, &principal),
        Command::Keys { command: KeysCommand::NextEpoch { secret, out } } => keys::next_epoch_command(&agency::read_secret(&secret)?, &out),
        Command::Synth { out, children, seed, noise } => {
            let noise = braid_synth::NoiseLevel::parse(&noise).context("--noise must be low, default or high")?;
            let synthetic = braid_synth::generate(&braid_synth::SynthConfig { children, seed, noise });
            let paths = synthetic.write_to(&out)?;
            let rows: usize = synthetic.extracts.iter().map(|e| e.rows).sum();
            println!("{} files written to {} ({} children, {rows} extract rows)", paths.len(), out.display(), children);
            Ok(())
        }
        Command::Agency { command } => match command {
            AgencyCommand::Pseudonymise { mapping, secret, input, out, reid, fail_on_bad_rows, bridge_secret, truth_column } => {
                let options = agency::PseudonymiseOptions { fail_on_bad_rows, truth_column: truth_column.as_deref() };
                agency::pseudonymise_command(&mapping, &secret, bridge_secret.as_deref(), &input, &out, reid, options)
            }
            AgencyCommand::Upload { node, batch_size, retries, file } => agency::upload_command(&node, &file, batch_size, retries).await,
            AgencyCommand::Withdraw { node, agency: code, record_refs, case_ids, reid } => {
                agency::withdraw_command(&node, &code, record_refs, case_ids, reid).await
            }
            AgencyCommand::Quality { node, agency: code, json } => agency::quality_command(&node, &code, json).await,
            AgencyCommand::Uploads { node, agency: code, json } => agency::uploads_command(&node, &code, json).await,
            AgencyCommand::Resolve { reid, input, out } => agency::resolve_command(&reid, &input, &out),
        },
        Command::Admin { command } => match command {
            AdminCommand::Clusters { node, out } => admin::clusters_command(&node, &out).await,
            AdminCommand::Stats { node, json } => admin::stats_command(&node, json).await,
            AdminCommand::Relink { node } => admin::relink_command(&node).await,
            AdminCommand::Backup { node, out } => admin::backup_command(&node, out.unwrap_or_default()).await,
            AdminCommand::Retention { node, dry_run, json } => admin::retention_command(&node, dry_run, json).await,
            AdminCommand::Epochs { node, begin, finish, cancel, json } => admin::epochs_command(&node, begin, finish, cancel, json).await,
            AdminCommand::Explain { node, profile, agency, record_ref, json } => admin::explain_command(&node, profile, agency.zip(record_ref), json).await,
        },
        Command::Panel { command } => match command {
            PanelCommand::Profile { panel, subject, json } => panel::profile_command(&panel, &subject, json).await,
            PanelCommand::Signals { panel, filter, json } => panel::signals_command(&panel, &filter, json).await,
            PanelCommand::Network { panel, subject, depth, max_people, format, out } => {
                panel::network_command(&panel, &subject, depth, max_people, format, out.as_deref()).await
            }
            PanelCommand::Report { panel, by, population, window, json } => panel::report_command(&panel, &by, &population, &window, json).await,
            PanelCommand::Quality { panel, format, json } => panel::quality_command(&panel, format, json).await,
            PanelCommand::Services { panel, json } => panel::services_command(&panel, json).await,
            PanelCommand::SignalCounts { panel, period, window, json } => panel::signal_counts_command(&panel, &period, &window, json).await,
            PanelCommand::Cohort { panel, cohort, window, json } => panel::cohort_command(&panel, &cohort, &window, json).await,
            PanelCommand::Freshness { panel, months, json } => panel::freshness_command(&panel, months, json).await,
            PanelCommand::Disagreements { panel, items, window, json } => panel::disagreements_command(&panel, &items, &window, json).await,
            PanelCommand::Pack { panel, period, out } => pack::pack_command(&panel, &period, &out).await,
        },
        Command::Audit { command } => audit::run(command).await,
        Command::Eval { truth, clusters, reid, signals, json } => eval::eval_command(&truth, &clusters, &reid, signals.as_deref(), json),
        Command::Console { node, listen, role, partnership, agency } => console::run(node, listen, role, partnership, agency).await,
        Command::Demo { children, seed, keep } => demo::run(children, seed, keep).await,
    }
}
