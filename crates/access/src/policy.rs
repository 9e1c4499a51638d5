//! Grants and the policy file that gives them to principals.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

/// What a principal is granted (the policy file's `role`; not the role a
/// person has in a case, which is an involvement's).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Grant {
    /// Upload, withdraw and read the quality of one agency's records.
    Agency(String),
    /// Query the profiles, signals and reports of one partnership.
    Panel(String),
    /// Read and verify the audit log.
    Auditor,
    /// Export clusters, explain links, read statistics.
    Admin,
}

impl Grant {
    /// Reads `agency:CODE`, `panel:PARTNERSHIP`, `auditor` or `admin`.
    pub fn parse(text: &str) -> Option<Grant> {
        let valid = |name: &str| !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        match text.split_once(':') {
            Some(("agency", code)) if valid(code) => Some(Grant::Agency(code.to_owned())),
            Some(("panel", partnership)) if valid(partnership) => Some(Grant::Panel(partnership.to_owned())),
            None if text == "auditor" => Some(Grant::Auditor),
            None if text == "admin" => Some(Grant::Admin),
            _ => None,
        }
    }
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Grant::Agency(code) => write!(f, "agency:{code}"),
            Grant::Panel(partnership) => write!(f, "panel:{partnership}"),
            Grant::Auditor => f.write_str("auditor"),
            Grant::Admin => f.write_str("admin"),
        }
    }
}

/// Why a policy file was refused.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// Not TOML of the expected shape.
    #[error("the policy file is not valid: {0}")]
    Syntax(String),
    /// A principal name that no certificate may carry.
    #[error("`{0}` is not a valid principal name (1 to 64 characters: letters, digits, - _ . @)")]
    BadPrincipal(String),
    /// A role that does not exist.
    #[error("principal `{principal}`: `{role}` is not a role (agency:CODE, panel:PARTNERSHIP, auditor or admin)")]
    UnknownRole {
        /// The principal (a certificate name, not a secret).
        principal: String,
        /// What was written.
        role: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    principals: BTreeMap<String, String>,
}

/// Principals (certificate common names) and their roles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    principals: BTreeMap<String, Grant>,
}

impl Policy {
    /// An empty policy: nobody may do anything.
    pub fn new() -> Policy {
        Policy::default()
    }

    /// Gives `grant` to `principal` (replacing any earlier grant).
    pub fn grant(&mut self, principal: &str, grant: Grant) {
        self.principals.insert(principal.to_owned(), grant);
    }

    /// What a principal is granted, if anything.
    pub fn grant_of(&self, principal: &str) -> Option<&Grant> {
        self.principals.get(principal)
    }

    /// Every principal and its grant.
    pub fn principals(&self) -> impl Iterator<Item = (&str, &Grant)> {
        self.principals.iter().map(|(p, r)| (p.as_str(), r))
    }

    /// Reads the TOML form:
    ///
    /// ```toml
    /// [principals]
    /// "csc-north" = "agency:CSC-NORTH"
    /// "panel-north" = "panel:north"
    /// "auditor" = "auditor"
    /// ```
    pub fn from_toml(text: &str) -> Result<Policy, PolicyError> {
        let raw: RawPolicy = toml::from_str(text).map_err(|e| PolicyError::Syntax(e.message().to_owned()))?;
        let mut policy = Policy::new();
        for (principal, role) in raw.principals {
            if !crate::valid_principal(&principal) {
                return Err(PolicyError::BadPrincipal(principal.escape_debug().take(80).collect()));
            }
            let parsed = Grant::parse(&role).ok_or_else(|| PolicyError::UnknownRole { principal: principal.clone(), role: role.clone() })?;
            policy.grant(&principal, parsed);
        }
        Ok(policy)
    }

    /// The TOML form, with a header that explains it.
    pub fn to_toml(&self) -> String {
        let mut out = String::from(
            "# Braid access policy: each principal (the common name of a client\n\
             # certificate) and its one role: agency:CODE, panel:PARTNERSHIP,\n\
             # auditor or admin. A certificate whose name is not here may do nothing.\n\
             [principals]\n",
        );
        for (principal, role) in &self.principals {
            out.push_str(&format!("{principal:?} = \"{role}\"\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_read_and_print_the_same() {
        for text in ["agency:CSC-NORTH", "panel:north", "auditor", "admin"] {
            assert_eq!(Grant::parse(text).map(|r| r.to_string()).as_deref(), Some(text));
        }
        for bad in ["agency:", "panel", "root", "agency:a b", "auditor:x"] {
            assert_eq!(Grant::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_policy_round_trips_and_names_a_bad_role() {
        let mut policy = Policy::new();
        policy.grant("csc-north", Grant::Agency("CSC-NORTH".into()));
        policy.grant("panel-north", Grant::Panel("north".into()));
        policy.grant("auditor", Grant::Auditor);
        let back = Policy::from_toml(&policy.to_toml()).expect("round trip");
        assert_eq!(back, policy);
        assert_eq!(back.grant_of("panel-north"), Some(&Grant::Panel("north".into())));
        assert_eq!(back.grant_of("someone"), None);
        let error = Policy::from_toml("[principals]\nmallory = \"root\"\n").expect_err("bad role");
        assert!(error.to_string().contains("principal `mallory`: `root` is not a role"), "{error}");
        assert!(Policy::from_toml("[principal]\n").is_err(), "unknown tables are refused");
    }
}
