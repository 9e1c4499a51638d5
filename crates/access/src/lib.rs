//! Who may do what.
//!
//! A caller is a *principal*: the common name of the client certificate it
//! presents. A [`Policy`] (a TOML file the operator keeps) maps each
//! principal to one [`Grant`]: an agency that uploads its own records, a
//! panel of a partnership, an auditor, or an administrator; [`authorize`]
//! decides each call from the grant. [`pki`] issues
//! the development certificates that `braid keys init` writes; real
//! deployments bring their own CA and only write the policy.

mod authorize;
pub mod pki;
mod policy;

pub use authorize::{authorize, Action, Denial};

/// The principal a client certificate (DER) names: its subject's common
/// name exactly as written (nothing trimmed), when it is a valid principal
/// name (see [`valid_principal`]) and the only common name. The TLS layer
/// has already checked that the certificate chains to the node's CA.
pub fn principal_of(certificate: &[u8]) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(certificate).ok()?;
    let mut names = parsed.subject().iter_common_name();
    let name = names.next()?.as_str().ok()?.to_owned();
    (names.next().is_none() && valid_principal(&name)).then_some(name)
}

/// A certificate as a revocation list names it: its issuer's name (DER)
/// and its serial number.
pub type CertificateId = (Vec<u8>, Vec<u8>);

/// The issuer and serial number of a certificate (DER).
pub fn certificate_id(certificate: &[u8]) -> Option<CertificateId> {
    let (_, parsed) = x509_parser::parse_x509_certificate(certificate).ok()?;
    Some((parsed.issuer().as_raw().to_vec(), parsed.raw_serial().to_vec()))
}

/// The certificates the revocation lists in `crl_pem` (PEM, one or more)
/// name, each with its list's issuer (two CAs may number certificates
/// alike), or why they cannot be read.
pub fn revoked_certificates(crl_pem: &[u8]) -> Result<std::collections::HashSet<CertificateId>, String> {
    let mut revoked = std::collections::HashSet::new();
    for pem in x509_parser::pem::Pem::iter_from_buffer(crl_pem) {
        let pem = pem.map_err(|_| "it is not PEM".to_owned())?;
        let (_, list) = x509_parser::parse_x509_crl(&pem.contents).map_err(|_| "it holds a list that does not parse".to_owned())?;
        let issuer = list.issuer().as_raw().to_vec();
        revoked.extend(list.iter_revoked_certificates().map(|entry| (issuer.clone(), entry.raw_serial().to_vec())));
    }
    Ok(revoked)
}

/// Why the certificate (DER) cannot serve as the node's own, if it cannot:
/// every client would refuse it. A certificate that is not yet or no
/// longer valid at `now`, or whose extended key usage leaves out server
/// authentication (a client certificate installed as the node's).
pub fn server_certificate_problem(certificate: &[u8], now: time::OffsetDateTime) -> Option<String> {
    let Ok((_, parsed)) = x509_parser::parse_x509_certificate(certificate) else {
        return Some("it does not parse as an X.509 certificate".to_owned());
    };
    let validity = parsed.validity();
    let (from, until) = (validity.not_before.to_datetime(), validity.not_after.to_datetime());
    if now < from {
        return Some(format!("it is not valid until {}", from.date()));
    }
    if now > until {
        return Some(format!("it expired on {}", until.date()));
    }
    match parsed.extended_key_usage() {
        Ok(Some(usage)) if !usage.value.any && !usage.value.server_auth => {
            Some("its extended key usage does not include server authentication (is it a client certificate?)".to_owned())
        }
        Err(_) => Some("its extended key usage extension does not parse".to_owned()),
        _ => None,
    }
}

/// Whether `name` may be a principal: 1 to 64 characters, ASCII letters,
/// digits, `-`, `_`, `.` and `@`. Anything else (spaces, control
/// characters, look-alike letters) could pass for another principal in a
/// log or a policy file.
pub fn valid_principal(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
}
pub use policy::{Grant, Policy, PolicyError};
