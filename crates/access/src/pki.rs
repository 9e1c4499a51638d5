//! A development certificate authority, as `braid keys init` uses it: one
//! CA, a server certificate for the node, and a client certificate per
//! principal. Real deployments bring their own CA and issue certificates
//! whose common names the policy file lists.

use std::net::IpAddr;

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, CertificateRevocationListParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyIdMethod,
    KeyPair, KeyUsagePurpose, RevocationReason, RevokedCertParams, SanType, SerialNumber,
};

/// Why a certificate could not be made.
#[derive(Debug, thiserror::Error)]
#[error("could not issue the certificate for `{name}`: {reason}")]
pub struct PkiError {
    /// The certificate's name.
    pub name: String,
    /// Why.
    pub reason: String,
}

/// A certificate and its private key, both PEM.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The common name (the principal, for a client).
    pub name: String,
    /// The certificate.
    pub certificate_pem: String,
    /// The private key (keep it private: 0600).
    pub key_pem: String,
}

/// A development CA.
pub struct DevCa {
    certificate: Certificate,
    key: KeyPair,
    /// Validity of everything it issues: (first year, last year).
    years: (i32, i32),
}

fn failed(name: &str) -> impl Fn(rcgen::Error) -> PkiError + '_ {
    move |error| PkiError { name: name.to_owned(), reason: error.to_string() }
}

fn named(name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Braid (development)");
    dn.push(DnType::CommonName, name);
    dn
}

impl DevCa {
    /// A new CA valid from the start of `year` for five years.
    pub fn new(name: &str, year: i32) -> Result<DevCa, PkiError> {
        let key = KeyPair::generate().map_err(failed(name))?;
        let mut params = CertificateParams::default();
        params.distinguished_name = named(name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        params.not_before = rcgen::date_time_ymd(year, 1, 1);
        params.not_after = rcgen::date_time_ymd(year + 5, 1, 1);
        let certificate = params.self_signed(&key).map_err(failed(name))?;
        Ok(DevCa { certificate, key, years: (year, year + 3) })
    }

    /// The CA that `braid keys init` wrote (its certificate and private
    /// key, PEM), to issue more certificates or a revocation list.
    pub fn load(certificate_pem: &str, key_pem: &str) -> Result<DevCa, PkiError> {
        let unusable = |reason: &str| PkiError { name: "the CA".to_owned(), reason: reason.to_owned() };
        let (_, pem) = x509_parser::pem::parse_x509_pem(certificate_pem.as_bytes()).map_err(|_| unusable("the certificate is not PEM"))?;
        let (_, parsed) = x509_parser::parse_x509_certificate(&pem.contents).map_err(|_| unusable("the certificate does not parse"))?;
        let name = parsed
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .ok_or_else(|| unusable("the certificate has no common name"))?
            .to_owned();
        let year = parsed.validity().not_before.to_datetime().year();
        let key = KeyPair::from_pem(key_pem).map_err(failed("the CA"))?;
        key_matches(&parsed, &key).map_err(|reason| unusable(&reason))?;
        // The same name and key re-signed: what it signs names and verifies
        // against the CA certificate every party holds.
        let mut params = CertificateParams::default();
        params.distinguished_name = named(&name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        params.not_before = rcgen::date_time_ymd(year, 1, 1);
        params.not_after = rcgen::date_time_ymd(year + 5, 1, 1);
        let certificate = params.self_signed(&key).map_err(failed(&name))?;
        Ok(DevCa { certificate, key, years: (year, year + 3) })
    }

    /// A certificate revocation list naming `serials` (the serial numbers of
    /// revoked certificates), numbered `number`, PEM.
    pub fn revocation_list(&self, serials: &[Vec<u8>], number: u64) -> Result<String, PkiError> {
        let now = time::OffsetDateTime::now_utc();
        let params = CertificateRevocationListParams {
            this_update: now,
            next_update: now + time::Duration::days(365),
            crl_number: SerialNumber::from(number),
            issuing_distribution_point: None,
            revoked_certs: serials
                .iter()
                .map(|serial| RevokedCertParams {
                    serial_number: SerialNumber::from_slice(serial),
                    revocation_time: now,
                    reason_code: Some(RevocationReason::Unspecified),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        params.signed_by(&self.certificate, &self.key).map_err(failed("the revocation list"))?.pem().map_err(failed("the revocation list"))
    }

    /// The CA certificate, PEM: every party trusts it.
    pub fn certificate_pem(&self) -> String {
        self.certificate.pem()
    }

    /// The CA's private key, PEM: only the key custodian keeps it.
    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }

    fn issue(&self, name: &str, alt_names: Vec<SanType>, purpose: ExtendedKeyUsagePurpose) -> Result<Issued, PkiError> {
        let key = KeyPair::generate().map_err(failed(name))?;
        let mut params = CertificateParams::default();
        params.distinguished_name = named(name);
        params.subject_alt_names = alt_names;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![purpose];
        params.not_before = rcgen::date_time_ymd(self.years.0, 1, 1);
        params.not_after = rcgen::date_time_ymd(self.years.1, 1, 1);
        let certificate = params.signed_by(&key, &self.certificate, &self.key).map_err(failed(name))?;
        Ok(Issued { name: name.to_owned(), certificate_pem: certificate.pem(), key_pem: key.serialize_pem() })
    }

    /// The node's server certificate, valid for `hosts` (DNS names or IP
    /// addresses).
    pub fn server(&self, name: &str, hosts: &[String]) -> Result<Issued, PkiError> {
        let alt_names = hosts
            .iter()
            .map(|host| match host.parse::<IpAddr>() {
                Ok(ip) => Ok(SanType::IpAddress(ip)),
                Err(_) => host.clone().try_into().map(SanType::DnsName).map_err(failed(name)),
            })
            .collect::<Result<_, _>>()?;
        self.issue(name, alt_names, ExtendedKeyUsagePurpose::ServerAuth)
    }

    /// A client certificate whose common name is the principal.
    pub fn client(&self, principal: &str) -> Result<Issued, PkiError> {
        self.issue(principal, Vec::new(), ExtendedKeyUsagePurpose::ClientAuth)
    }
}

/// Whether `key` is the private key of the certificate `parsed`.
fn key_matches(parsed: &x509_parser::certificate::X509Certificate<'_>, key: &KeyPair) -> Result<(), String> {
    if parsed.public_key().subject_public_key.data.as_ref() == key.public_key_raw() {
        Ok(())
    } else {
        Err("the private key does not belong to the CA certificate".to_owned())
    }
}

/// The serial number of a certificate (PEM), as its bytes.
pub fn serial_of(certificate_pem: &str) -> Option<Vec<u8>> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(certificate_pem.as_bytes()).ok()?;
    let (_, parsed) = x509_parser::parse_x509_certificate(&pem.contents).ok()?;
    Some(parsed.raw_serial().to_vec())
}

#[cfg(test)]
mod tests {
    use x509_parser::prelude::*;

    use super::*;

    fn parse(pem: &str) -> Vec<u8> {
        let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).expect("PEM");
        pem.contents
    }

    #[test]
    fn issued_certificates_chain_to_the_ca_and_name_their_principal() {
        let ca = DevCa::new("Braid dev CA", 2026).expect("CA");
        let ca_der = parse(&ca.certificate_pem());
        let (_, ca_cert) = X509Certificate::from_der(&ca_der).expect("CA parses");
        assert!(ca_cert.is_ca());
        let node = ca.server("braid-node", &["localhost".into(), "127.0.0.1".into()]).expect("server");
        let client = ca.client("panel-north").expect("client");
        for (issued, server) in [(&node, true), (&client, false)] {
            let der = parse(&issued.certificate_pem);
            let (_, cert) = X509Certificate::from_der(&der).expect("parses");
            assert!(cert.verify_signature(Some(ca_cert.public_key())).is_ok(), "signed by the CA");
            assert_eq!(crate::principal_of(&der).as_deref(), Some(issued.name.as_str()));
            let usage = cert.extended_key_usage().expect("extension").expect("present").value;
            assert_eq!((usage.server_auth, usage.client_auth), (server, !server));
            assert!(issued.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        }
        let der = parse(&node.certificate_pem);
        let (_, cert) = X509Certificate::from_der(&der).expect("parses");
        let names = cert.subject_alternative_name().expect("extension").expect("present").value;
        let text = format!("{:?}", names.general_names);
        assert!(text.contains("localhost") && text.contains("[127, 0, 0, 1]"), "{text}");
        // A different CA's certificate does not verify.
        let other = DevCa::new("Another CA", 2026).expect("CA");
        let other_der = parse(&other.certificate_pem());
        let (_, other_cert) = X509Certificate::from_der(&other_der).expect("parses");
        let der = parse(&client.certificate_pem);
        let (_, cert) = X509Certificate::from_der(&der).expect("parses");
        assert!(cert.verify_signature(Some(other_cert.public_key())).is_err());
        assert_eq!(crate::principal_of(b"not a certificate"), None);
    }

    #[test]
    fn a_server_certificate_must_be_for_servers_and_in_date() {
        let now = ::time::OffsetDateTime::now_utc();
        let ca = DevCa::new("Braid dev CA", now.year()).expect("CA");
        let server = parse(&ca.server("braid-node", &["localhost".into()]).expect("server").certificate_pem);
        assert_eq!(crate::server_certificate_problem(&server, now), None);
        let client = parse(&ca.client("admin").expect("client").certificate_pem);
        let problem = crate::server_certificate_problem(&client, now).expect("a client certificate cannot serve");
        assert!(problem.contains("server authentication"), "{problem}");
        let old = DevCa::new("Braid dev CA", 2001).expect("CA");
        let expired = parse(&old.server("braid-node", &["localhost".into()]).expect("server").certificate_pem);
        assert!(crate::server_certificate_problem(&expired, now).expect("expired").starts_with("it expired on 2004-01-01"));
        let early = now - ::time::Duration::days(2 * 366);
        assert!(crate::server_certificate_problem(&server, early).expect("not yet valid").starts_with("it is not valid until"));
        assert!(crate::server_certificate_problem(b"junk", now).is_some());
    }
}
