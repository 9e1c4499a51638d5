//! Which role may do what. Every call is one [`Action`]; [`authorize`]
//! answers with a [`Denial`] that says why in words a caller can act on
//! (it names roles, agencies and partnerships, never data).

use crate::Grant;

/// What a caller asks to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action<'a> {
    /// Upload records as this agency.
    Upload {
        /// The agency named in the upload.
        agency: &'a str,
    },
    /// Withdraw records of this agency.
    Withdraw {
        /// The agency whose records are withdrawn.
        agency: &'a str,
    },
    /// Read an agency's data completeness.
    AgencyCompleteness {
        /// The agency.
        agency: &'a str,
    },
    /// A panel query (profiles, signals, networks, reports, completeness,
    /// interconnectedness) for a partnership.
    PanelQuery {
        /// The partnership asked about.
        partnership: &'a str,
        /// Why (free text).
        purpose: &'a str,
        /// The panel's case or meeting reference.
        case_reference: &'a str,
    },
    /// Cluster export, link explanations, node statistics.
    Administer,
    /// Read the audit log, checkpoints and proofs.
    ReadAudit,
}

/// Why a call is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Denial(pub String);

fn deny(text: impl Into<String>) -> Result<(), Denial> {
    Err(Denial(text.into()))
}

/// A name the caller sent, as a denial may show it: whole when it is a
/// plausible code or partnership name, otherwise not at all.
fn shown(name: &str) -> &str {
    if (1..=64).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_')) {
        name
    } else {
        "(a name that is not a valid code)"
    }
}

/// Decides whether `role` (`None`: a principal the policy does not name)
/// may perform `action`.
pub fn authorize(role: Option<&Grant>, action: &Action<'_>) -> Result<(), Denial> {
    let Some(role) = role else {
        return deny("this certificate's principal is not in the node's policy, so it may do nothing");
    };
    match (role, action) {
        (Grant::Agency(own), Action::Upload { agency } | Action::Withdraw { agency } | Action::AgencyCompleteness { agency }) => {
            if own == agency {
                Ok(())
            } else {
                deny(format!("agency {own} may touch only its own records, not {}'s", shown(agency)))
            }
        }
        (Grant::Panel(own), Action::PanelQuery { partnership, purpose, case_reference }) => {
            if own != partnership {
                deny(format!("a panel of {own} may query only its own partnership, not {}", shown(partnership)))
            } else if purpose.trim().is_empty() {
                deny("a panel query must state its purpose")
            } else if case_reference.trim().is_empty() {
                deny("a panel query must give the panel's case or meeting reference")
            } else {
                Ok(())
            }
        }
        (Grant::Admin, Action::Administer) | (Grant::Auditor, Action::ReadAudit) => Ok(()),
        (role, action) => deny(format!("the role {role} may not {}", describe(action))),
    }
}

fn describe(action: &Action<'_>) -> &'static str {
    match action {
        Action::Upload { .. } => "upload records",
        Action::Withdraw { .. } => "withdraw records",
        Action::AgencyCompleteness { .. } => "read an agency's completeness or uploads",
        Action::PanelQuery { .. } => "make panel queries",
        Action::Administer => "make administrative calls (cluster export, explanations, statistics)",
        Action::ReadAudit => "read the audit log",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panel(partnership: &'static str, purpose: &'static str, case_reference: &'static str) -> Action<'static> {
        Action::PanelQuery { partnership, purpose, case_reference }
    }

    #[test]
    fn each_role_may_do_its_own_work_only() {
        let csc = Grant::Agency("CSC-NORTH".into());
        let north = Grant::Panel("north".into());
        let allowed = [
            (&csc, Action::Upload { agency: "CSC-NORTH" }),
            (&csc, Action::Withdraw { agency: "CSC-NORTH" }),
            (&csc, Action::AgencyCompleteness { agency: "CSC-NORTH" }),
            (&north, panel("north", "monthly MACE panel", "MACE-24-03")),
            (&Grant::Admin, Action::Administer),
            (&Grant::Auditor, Action::ReadAudit),
        ];
        for (role, action) in &allowed {
            assert_eq!(authorize(Some(role), action), Ok(()), "{role} {action:?}");
        }
        let denied: [(Option<&Grant>, Action<'_>, &str); 10] = [
            (None, Action::Upload { agency: "CSC-NORTH" }, "not in the node's policy"),
            (Some(&csc), Action::Upload { agency: "POL-NORTH" }, "only its own records, not POL-NORTH's"),
            (Some(&csc), Action::Withdraw { agency: "POL-NORTH" }, "only its own records"),
            (Some(&csc), Action::AgencyCompleteness { agency: "POL-NORTH" }, "only its own records"),
            (Some(&north), panel("south", "review", "R-1"), "only its own partnership, not south"),
            (Some(&north), panel("north", "  ", "R-1"), "must state its purpose"),
            (Some(&north), panel("north", "review", ""), "case or meeting reference"),
            (Some(&Grant::Auditor), panel("north", "review", "R-1"), "the role auditor may not make panel queries"),
            (Some(&north), Action::ReadAudit, "may not read the audit log"),
            (Some(&csc), Action::Administer, "may not make administrative calls"),
        ];
        for (role, action, reason) in &denied {
            let denial = authorize(*role, action).expect_err("denied");
            assert!(denial.0.contains(reason), "{action:?}: {}", denial.0);
        }
        assert!(authorize(Some(&Grant::Admin), &Action::Upload { agency: "CSC-NORTH" }).is_err());
        assert!(authorize(Some(&Grant::Admin), &Action::ReadAudit).is_err(), "the auditor's log is not the admin's");
    }
}
