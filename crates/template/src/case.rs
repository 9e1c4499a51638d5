//! The words every side uses of a case: how the recording agency classified
//! it, and each person's part in it. Numbered as the API numbers them
//! (`CaseType` and `Role` in `proto/braid/v1/records.proto`); the agency
//! side reads them from a mapping, the node's signals and reports count by
//! them.

/// How the recording agency classified a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CaseType {
    /// Child sexual abuse.
    Csa,
    /// Child sexual exploitation.
    Cse,
    /// Harmful sexual behaviour.
    Hsb,
}

impl CaseType {
    /// Every case type, in the API's order.
    pub const ALL: [CaseType; 3] = [CaseType::Csa, CaseType::Cse, CaseType::Hsb];

    /// From the API's number (1 to 3).
    pub fn from_number(number: i32) -> Option<CaseType> {
        CaseType::ALL.into_iter().find(|c| c.number() == number)
    }

    /// The API's number (1 to 3).
    pub fn number(self) -> i32 {
        match self {
            CaseType::Csa => 1,
            CaseType::Cse => 2,
            CaseType::Hsb => 3,
        }
    }

    /// `CSA`, `CSE` or `HSB`: what panels see and what a mapping names.
    pub fn name(self) -> &'static str {
        match self {
            CaseType::Csa => "CSA",
            CaseType::Cse => "CSE",
            CaseType::Hsb => "HSB",
        }
    }

    /// Reads a mapping's case-type target (`CSA`, `CSE` or `HSB`, in any
    /// case).
    pub fn parse(text: &str) -> Option<CaseType> {
        let text = text.trim();
        CaseType::ALL.into_iter().find(|c| c.name().eq_ignore_ascii_case(text))
    }
}

/// A person's part in a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// A victim whose abuse is established (disclosed).
    KnownVictim,
    /// A child suspected to be a victim.
    SuspectedVictim,
    /// A perpetrator or suspect.
    Perpetrator,
    /// A child displaying harmful sexual behaviour.
    Hsb,
    /// The child an outcome event is about: never a part in a case, and
    /// never named in a mapping (every row of an outcomes extract is one).
    OutcomeSubject,
}

impl Role {
    /// Every role, in the API's order.
    pub const ALL: [Role; 5] = [Role::KnownVictim, Role::SuspectedVictim, Role::Perpetrator, Role::Hsb, Role::OutcomeSubject];

    /// The parts a person can have in a case (every role but
    /// [`Role::OutcomeSubject`]).
    pub const IN_CASES: [Role; 4] = [Role::KnownVictim, Role::SuspectedVictim, Role::Perpetrator, Role::Hsb];

    /// From the API's number (1 to 5).
    pub fn from_number(number: i32) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.number() == number)
    }

    /// A part in a case from the API's number (1 to 4): `None` for an
    /// outcome event's child, as for an unknown number.
    pub fn in_case_from_number(number: i32) -> Option<Role> {
        Role::from_number(number).filter(|role| *role != Role::OutcomeSubject)
    }

    /// The API's number (1 to 5).
    pub fn number(self) -> i32 {
        match self {
            Role::KnownVictim => 1,
            Role::SuspectedVictim => 2,
            Role::Perpetrator => 3,
            Role::Hsb => 4,
            Role::OutcomeSubject => 5,
        }
    }

    /// A known or suspected victim.
    pub fn is_victim(self) -> bool {
        matches!(self, Role::KnownVictim | Role::SuspectedVictim)
    }

    /// A perpetrator or a child displaying HSB: someone who harmed.
    pub fn is_harmer(self) -> bool {
        matches!(self, Role::Perpetrator | Role::Hsb)
    }

    /// The name a mapping file, a truth file and a cluster export use
    /// (`known_victim`, …, `outcome_subject`).
    pub fn file_name(self) -> &'static str {
        match self {
            Role::KnownVictim => "known_victim",
            Role::SuspectedVictim => "suspected_victim",
            Role::Perpetrator => "perpetrator",
            Role::Hsb => "hsb",
            Role::OutcomeSubject => "outcome_subject",
        }
    }

    /// The words panels see (`known victim`, …, `displays HSB`).
    pub fn label(self) -> &'static str {
        match self {
            Role::KnownVictim => "known victim",
            Role::SuspectedVictim => "suspected victim",
            Role::Perpetrator => "perpetrator",
            Role::Hsb => "displays HSB",
            Role::OutcomeSubject => "outcome subject",
        }
    }

    /// Reads a mapping's role target (`known_victim`, `suspected_victim`,
    /// `perpetrator` or `hsb`, in any case): an outcome event's child is
    /// never named in a mapping.
    pub fn parse(text: &str) -> Option<Role> {
        let text = text.trim();
        Role::IN_CASES.into_iter().find(|r| r.file_name().eq_ignore_ascii_case(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_names_and_parsing_agree() {
        for role in Role::ALL {
            assert_eq!(Role::from_number(role.number()), Some(role));
        }
        for role in Role::IN_CASES {
            assert_eq!(Role::parse(&format!(" {} ", role.file_name().to_ascii_uppercase())), Some(role));
            assert_eq!(Role::in_case_from_number(role.number()), Some(role));
        }
        assert_eq!(Role::parse("outcome_subject"), None, "no mapping names an outcome's child");
        assert_eq!(Role::in_case_from_number(5), None);
        assert_eq!((Role::from_number(0), Role::from_number(6)), (None, None));
        for case_type in CaseType::ALL {
            assert_eq!(CaseType::from_number(case_type.number()), Some(case_type));
            assert_eq!(CaseType::parse(&case_type.name().to_ascii_lowercase()), Some(case_type));
        }
        assert_eq!((CaseType::from_number(0), CaseType::parse("abuse")), (None, None));
    }
}
