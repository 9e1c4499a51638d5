//! `braid keys init`: the key custodian's start-up kit for development and
//! demonstration — the scheme secret, a CA, the node's certificate, a client
//! certificate per principal and the policy that grants their roles.
//!
//! For a real deployment the partnership's own CA issues the certificates;
//! only the scheme secret and the policy come from here.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, Result};
use braid_access::pki::DevCa;
use braid_access::{Grant, Policy};
use rand::RngCore;

/// What to create.
pub struct KeysInit<'a> {
    /// Directory to write into.
    pub out: &'a Path,
    /// Key epoch number.
    pub epoch: u32,
    /// Agency codes, each given an upload certificate.
    pub agencies: &'a [String],
    /// Partnerships, each given a panel member's certificate.
    pub partnerships: &'a [String],
    /// Names and addresses the node's certificate is valid for.
    pub hosts: &'a [String],
}

/// Writes a file that must not already exist; `private` files are 0600.
fn create(path: &Path, text: &str, private: bool) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true).mode(if private { 0o600 } else { 0o644 });
    let mut file = options.open(path).with_context(|| format!("create {} (refusing to overwrite existing keys)", path.display()))?;
    file.write_all(text.as_bytes()).with_context(|| format!("write {}", path.display()))?;
    Ok(())
}

fn current_year() -> i32 {
    let days = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() / 86_400).unwrap_or(0);
    braid_template::Date::from_days_since_epoch(days as i64).year
}

/// The principal name of an agency's upload certificate.
pub fn agency_principal(code: &str) -> String {
    code.to_lowercase()
}

/// The principal name of a partnership's panel member.
pub fn panel_principal(partnership: &str) -> String {
    format!("panel-{partnership}")
}

/// What `keys init` wrote.
pub struct KeysWritten {
    /// The scheme secret file.
    pub secret: std::path::PathBuf,
    /// The key epoch's fingerprint.
    pub fingerprint: String,
    /// Every principal with its role (each has a bundle directory).
    pub principals: Vec<(String, Grant)>,
}

/// Writes a certificate bundle: the CA to trust, a certificate and its key.
fn bundle(dir: &Path, ca_pem: &str, certificate: (&str, &str), key: (&str, &str)) -> Result<()> {
    std::fs::create_dir(dir).with_context(|| format!("create {} (refusing to overwrite existing keys)", dir.display()))?;
    create(&dir.join("ca.crt"), ca_pem, false)?;
    create(&dir.join(certificate.0), certificate.1, false)?;
    create(&dir.join(key.0), key.1, true)
}

/// `braid keys init`: writes, under `out`,
/// * `scheme.secret` — for the agencies only;
/// * `ca/` — the development CA (`ca.key` stays with the custodian);
/// * `node/` — `node.crt`, `node.key`, `ca.crt` and `policy.toml` for the
///   node (`braid-node --tls DIR --policy DIR/policy.toml`);
/// * one directory per principal — `client.crt`, `client.key` and
///   `ca.crt`, the bundle its holder passes as `braid … --tls DIR`.
pub fn keys_init(init: &KeysInit<'_>) -> Result<KeysWritten> {
    std::fs::create_dir_all(init.out).with_context(|| format!("create {}", init.out.display()))?;
    let secret_path = init.out.join("scheme.secret");
    anyhow::ensure!(!secret_path.exists(), "{} exists; refusing to overwrite a scheme secret", secret_path.display());
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let secret = braid_pseudonym::SchemeSecret::new(init.epoch, bytes);
    create(&secret_path, &secret.to_file_text(), true)?;
    let fingerprint = braid_pseudonym::Keys::derive(&secret, "").epoch_fingerprint().to_owned();

    let ca = DevCa::new("Braid development CA", current_year() - 1)?;
    let ca_pem = ca.certificate_pem();
    std::fs::create_dir(init.out.join("ca")).with_context(|| format!("create {}/ca (refusing to overwrite existing keys)", init.out.display()))?;
    create(&init.out.join("ca/ca.crt"), &ca_pem, false)?;
    create(&init.out.join("ca/ca.key"), &ca.key_pem(), true)?;
    let node = ca.server("braid-node", init.hosts)?;
    bundle(&init.out.join("node"), &ca_pem, ("node.crt", &node.certificate_pem), ("node.key", &node.key_pem))?;
    let mut policy = Policy::new();
    let mut principals: Vec<(String, Grant)> = init.agencies.iter().map(|code| (agency_principal(code), Grant::Agency(code.clone()))).collect();
    principals.extend(init.partnerships.iter().map(|p| (panel_principal(p), Grant::Panel(p.clone()))));
    principals.push(("auditor".to_owned(), Grant::Auditor));
    principals.push(("admin".to_owned(), Grant::Admin));
    for (principal, role) in &principals {
        anyhow::ensure!(principal != "node" && principal != "ca", "`{principal}` is reserved for the node's and the CA's files");
        let issued = ca.client(principal)?;
        bundle(&init.out.join(principal), &ca_pem, ("client.crt", &issued.certificate_pem), ("client.key", &issued.key_pem))?;
        policy.grant(principal, role.clone());
    }
    create(&init.out.join("node/policy.toml"), &policy.to_toml(), false)?;
    // An empty revocation list, so the node reads one from the start and
    // `keys revoke` only has to rewrite it.
    create(&init.out.join("node/ca.crl"), &ca.revocation_list(&[], 0)?, false)?;
    Ok(KeysWritten { secret: secret_path, fingerprint, principals })
}

/// `braid keys init`, reporting what was written.
pub fn keys_init_command(init: &KeysInit<'_>) -> Result<()> {
    let written = keys_init(init)?;
    println!("scheme secret written to {} (epoch {}, fingerprint {})", written.secret.display(), init.epoch, written.fingerprint);
    println!("give it to each agency over a secure channel; never to the node operator");
    let out = init.out.display();
    println!("development CA in {out}/ca (keep ca.key offline; a real deployment uses its own CA)");
    println!("node: {out}/node (braid-node --tls {out}/node --policy {out}/node/policy.toml)");
    println!("certificate bundles (braid … --tls {out}/NAME), with the roles policy.toml grants:");
    for (principal, role) in &written.principals {
        println!("  {principal:<16} {role}");
    }
    Ok(())
}

/// The file beside the CA that lists what it revoked: one line per
/// certificate, its serial number in hex and the principal.
const REVOKED: &str = "ca/revoked.txt";

/// `braid keys revoke`: adds `principal`'s certificate to the development
/// CA's revocation list and rewrites `node/ca.crl` from the whole list.
/// Returns how many certificates the list now names.
pub fn keys_revoke(dir: &Path, principal: &str) -> Result<usize> {
    anyhow::ensure!(
        braid_access::valid_principal(principal) && principal != "node" && principal != "ca",
        "`{}` is not a principal's bundle name",
        principal.escape_debug().take(80).collect::<String>()
    );
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read_to_string(&path).with_context(|| format!("read {} (--keys must be the directory `braid keys init` wrote)", path.display()))
    };
    let certificate = read(&format!("{principal}/client.crt"))?;
    let serial = braid_access::pki::serial_of(&certificate).with_context(|| format!("{principal}/client.crt is not a certificate"))?;
    braid_client::private_file(&dir.join("ca/ca.key"), "the CA's private key")?;
    let ca = DevCa::load(&read("ca/ca.crt")?, &read("ca/ca.key")?)?;
    let listed = dir.join(REVOKED);
    let mut lines: Vec<String> = match std::fs::read_to_string(&listed) {
        Ok(text) => text.lines().filter(|line| !line.trim().is_empty()).map(str::to_owned).collect(),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(error) => return Err(error).with_context(|| format!("read {}", listed.display())),
    };
    let hex: String = serial.iter().map(|b| format!("{b:02x}")).collect();
    if !lines.iter().any(|line| line.split_whitespace().next() == Some(hex.as_str())) {
        lines.push(format!("{hex} {principal}"));
    }
    let serials = lines
        .iter()
        .map(|line| {
            let hex = line.split_whitespace().next().unwrap_or("");
            (0..hex.len())
                .step_by(2)
                .map(|i| hex.get(i..i + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok()))
                .collect::<Option<Vec<u8>>>()
                .filter(|bytes| !bytes.is_empty())
                .with_context(|| format!("{} holds a line that is not `SERIAL PRINCIPAL`", listed.display()))
        })
        .collect::<Result<Vec<_>>>()?;
    let crl = ca.revocation_list(&serials, serials.len() as u64)?;
    replace(&listed, &lines.iter().map(|line| format!("{line}\n")).collect::<String>())?;
    replace(&dir.join("node/ca.crl"), &crl)?;
    Ok(serials.len())
}

/// Writes `path` whole, through a temporary file and a rename.
fn replace(path: &Path, text: &str) -> Result<()> {
    let temporary = path.with_extension("tmp");
    let _ = std::fs::remove_file(&temporary);
    create(&temporary, text, false)?;
    std::fs::rename(&temporary, path).with_context(|| format!("replace {}", path.display()))
}

/// `braid keys revoke`, reporting what was written.
pub fn keys_revoke_command(dir: &Path, principal: &str) -> Result<()> {
    let count = keys_revoke(dir, principal)?;
    let out = dir.display();
    println!("revoked the certificate of {principal}; {out}/node/ca.crl now lists {count} certificate(s)");
    println!("a node started with --tls {out}/node refuses it once it reads the list: send it SIGHUP (or restart it)");
    println!("also remove {principal} from {out}/node/policy.toml");
    Ok(())
}

/// `braid keys next-epoch`: writes a fresh scheme secret for the epoch
/// after `current`'s; returns (its epoch, its fingerprint).
pub fn next_epoch(current: &braid_pseudonym::SchemeSecret, out: &Path) -> Result<(u32, String)> {
    let epoch = current.epoch().checked_add(1).context("the current epoch is the last one a secret can have")?;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let secret = braid_pseudonym::SchemeSecret::new(epoch, bytes);
    create(out, &secret.to_file_text(), true)?;
    Ok((epoch, braid_pseudonym::Keys::derive(&secret, "").epoch_fingerprint().to_owned()))
}

/// `braid keys next-epoch`, reporting what was written and what comes next.
pub fn next_epoch_command(current: &braid_pseudonym::SchemeSecret, out: &Path) -> Result<()> {
    let (epoch, fingerprint) = next_epoch(current, out)?;
    println!("scheme secret for epoch {epoch} written to {} (fingerprint {fingerprint})", out.display());
    println!("give it to each agency over a secure channel, with the current one until the rotation is finished; then:");
    println!("  1. the node's administrator: braid admin epochs --begin {fingerprint}");
    println!("  2. each agency: braid agency pseudonymise --secret NEW --bridge-secret CURRENT … and upload");
    println!("  3. once `braid admin epochs` shows every agency moved: braid admin epochs --finish");
    Ok(())
}
