//! Outcome events: what happened to a child after a referral, as a code
//! list from the California CSEC outcomes framework's domains that fit UK
//! services (placement stability, missing episodes, education, health
//! access, justice involvement, family, engagement). Not a template item:
//! an outcome event is a dated record of its own, never a case.

/// What an outcome event records (the API's `OutcomeKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OutcomeKind {
    /// A missing-from-home or missing-from-care episode.
    MissingEpisode,
    /// A move of care placement.
    PlacementMove,
    /// An exclusion from school.
    SchoolExclusion,
    /// A concern about school attendance.
    AttendanceConcern,
    /// A health appointment the child attended.
    HealthAppointmentAttended,
    /// An arrest or a charge.
    ArrestOrCharge,
    /// A return home from care.
    ReturnHome,
    /// Engagement with a service offered.
    ServiceEngagement,
}

impl OutcomeKind {
    /// Every kind, in the API's order.
    pub const ALL: [OutcomeKind; 8] = [
        OutcomeKind::MissingEpisode,
        OutcomeKind::PlacementMove,
        OutcomeKind::SchoolExclusion,
        OutcomeKind::AttendanceConcern,
        OutcomeKind::HealthAppointmentAttended,
        OutcomeKind::ArrestOrCharge,
        OutcomeKind::ReturnHome,
        OutcomeKind::ServiceEngagement,
    ];

    /// From the API's number (1 to 8).
    pub fn from_number(number: i32) -> Option<OutcomeKind> {
        let index = usize::try_from(number).ok()?.checked_sub(1)?;
        OutcomeKind::ALL.get(index).copied()
    }

    /// The API's number (1 to 8).
    pub fn number(self) -> i32 {
        OutcomeKind::ALL.iter().position(|k| *k == self).map_or(0, |i| i as i32 + 1)
    }

    /// The name in mapping files (`missing_episode`…).
    pub fn code(self) -> &'static str {
        match self {
            OutcomeKind::MissingEpisode => "missing_episode",
            OutcomeKind::PlacementMove => "placement_move",
            OutcomeKind::SchoolExclusion => "school_exclusion",
            OutcomeKind::AttendanceConcern => "attendance_concern",
            OutcomeKind::HealthAppointmentAttended => "health_appointment_attended",
            OutcomeKind::ArrestOrCharge => "arrest_or_charge",
            OutcomeKind::ReturnHome => "return_home",
            OutcomeKind::ServiceEngagement => "service_engagement",
        }
    }

    /// The kind from its name in mapping files.
    pub fn from_code(code: &str) -> Option<OutcomeKind> {
        OutcomeKind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// The name panels see.
    pub fn name(self) -> &'static str {
        match self {
            OutcomeKind::MissingEpisode => "missing episode",
            OutcomeKind::PlacementMove => "placement move",
            OutcomeKind::SchoolExclusion => "school exclusion",
            OutcomeKind::AttendanceConcern => "attendance concern",
            OutcomeKind::HealthAppointmentAttended => "health appointment attended",
            OutcomeKind::ArrestOrCharge => "arrest or charge",
            OutcomeKind::ReturnHome => "return home",
            OutcomeKind::ServiceEngagement => "service engagement",
        }
    }
}
