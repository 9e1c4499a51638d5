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
use braid_access::{Policy, Role};
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
    let mut file = options
        .open(path)
        .with_context(|| format!("create {} (refusing to overwrite existing keys)", path.display()))?;
    file.write_all(text.as_bytes()).with_context(|| format!("write {}", path.display()))?;
    Ok(())
}

fn current_year() -> i32 {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0);
    braid_template::Date::from_days_since_epoch(days as i64).year
}

/// The principal name of an agency's upload certificate.
pub fn agency_principal(code: &str) -> String {
    code.to_lowercase()
}

/// `braid keys init`.
pub fn keys_init(init: &KeysInit<'_>) -> Result<()> {
    std::fs::create_dir_all(init.out).with_context(|| format!("create {}", init.out.display()))?;
    let secret_path = init.out.join("scheme.secret");
    anyhow::ensure!(!secret_path.exists(), "{} exists; refusing to overwrite a scheme secret", secret_path.display());
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let secret = braid_pseudonym::SchemeSecret::new(init.epoch, bytes);
    create(&secret_path, &secret.to_file_text(), true)?;
    let fingerprint = braid_pseudonym::Keys::derive(&secret, "").epoch_fingerprint().to_owned();

    let ca = DevCa::new("Braid development CA", current_year() - 1)?;
    create(&init.out.join("ca.crt"), &ca.certificate_pem(), false)?;
    create(&init.out.join("ca.key"), &ca.key_pem(), true)?;
    let node = ca.server("braid-node", init.hosts)?;
    create(&init.out.join("node.crt"), &node.certificate_pem, false)?;
    create(&init.out.join("node.key"), &node.key_pem, true)?;
    let mut policy = Policy::new();
    let mut principals: Vec<(String, Role)> = init
        .agencies
        .iter()
        .map(|code| (agency_principal(code), Role::Agency(code.clone())))
        .collect();
    principals.extend(init.partnerships.iter().map(|p| (format!("panel-{p}"), Role::Panel(p.clone()))));
    principals.push(("auditor".to_owned(), Role::Auditor));
    principals.push(("admin".to_owned(), Role::Admin));
    for (principal, role) in principals {
        let issued = ca.client(&principal)?;
        create(&init.out.join(format!("{principal}.crt")), &issued.certificate_pem, false)?;
        create(&init.out.join(format!("{principal}.key")), &issued.key_pem, true)?;
        policy.grant(&principal, role);
    }
    create(&init.out.join("policy.toml"), &policy.to_toml(), false)?;

    println!("scheme secret written to {} (epoch {}, fingerprint {fingerprint})", secret_path.display(), init.epoch);
    println!("give it to each agency over a secure channel; never to the node operator");
    println!("development CA, node certificate and client certificates written to {}:", init.out.display());
    for (principal, role) in policy.principals() {
        println!("  {principal:<16} {role}");
    }
    println!("policy.toml grants those roles; keep ca.key offline (a real deployment uses its own CA)");
    Ok(())
}
