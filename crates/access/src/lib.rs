//! Who may do what.
//!
//! A caller is a *principal*: the common name of the client certificate it
//! presents. A [`Policy`] (a TOML file the operator keeps) maps each
//! principal to one [`Role`]: an agency that uploads its own records, a
//! panel of a partnership, an auditor, or an administrator; [`authorize`]
//! decides each call from the role. [`pki`] issues
//! the development certificates that `braid keys init` writes; real
//! deployments bring their own CA and only write the policy.

mod authorize;
pub mod pki;
mod policy;

pub use authorize::{authorize, Action, Denial};

/// The principal a client certificate (DER) names: its subject's common
/// name. The TLS layer has already checked that it chains to the node's CA.
pub fn principal_of(certificate: &[u8]) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(certificate).ok()?;
    let name = parsed.subject().iter_common_name().next()?.as_str().ok()?.trim().to_owned();
    (!name.is_empty()).then_some(name)
}
pub use policy::{Policy, PolicyError, Role};
