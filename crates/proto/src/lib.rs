//! The `braid.v1` API: prost messages and tonic clients and servers generated
//! from `proto/braid/v1/` at build time (the clients and servers with the
//! default `grpc` feature only).
//!
//! Only service adapters (the node and the CLI) use these types; domain crates
//! convert from them with `TryFrom` at the boundary and never import tonic.

#![allow(missing_docs)]

/// The API's encoded `FileDescriptorSet`, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/braid_descriptor.bin"));

/// Version 1 of the API.
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/braid.v1.rs"));
}

/// The one conversion between the template's words of a case
/// ([`braid_template::Role`], [`braid_template::CaseType`]) and the API's
/// enums; both number them alike, which the test checks.
mod case {
    use braid_template::{CaseType, Role};

    use crate::v1;

    impl From<Role> for v1::Role {
        fn from(role: Role) -> v1::Role {
            match role {
                Role::KnownVictim => v1::Role::KnownVictim,
                Role::SuspectedVictim => v1::Role::SuspectedVictim,
                Role::Perpetrator => v1::Role::Perpetrator,
                Role::Hsb => v1::Role::Hsb,
                Role::OutcomeSubject => v1::Role::OutcomeSubject,
            }
        }
    }

    impl From<CaseType> for v1::CaseType {
        fn from(case_type: CaseType) -> v1::CaseType {
            match case_type {
                CaseType::Csa => v1::CaseType::Csa,
                CaseType::Cse => v1::CaseType::Cse,
                CaseType::Hsb => v1::CaseType::Hsb,
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_template_numbers_roles_and_case_types_as_the_api_does() {
            for role in Role::ALL {
                assert_eq!(v1::Role::from(role) as i32, role.number(), "{role:?}");
            }
            for case_type in CaseType::ALL {
                assert_eq!(v1::CaseType::from(case_type) as i32, case_type.number(), "{case_type:?}");
            }
        }
    }
}

/// The one conversion between the API's dates and calendar dates
/// ([`braid_template::Date`], which owns what a valid date is).
mod date {
    use braid_template::Date;

    use crate::v1;

    impl From<Date> for v1::Date {
        fn from(date: Date) -> v1::Date {
            // Month and day are at most 12 and 31.
            v1::Date { year: date.year, month: date.month as i32, day: date.day as i32 }
        }
    }

    impl v1::Date {
        /// The calendar date, if this is a real one.
        pub fn to_date(&self) -> Option<Date> {
            Date::new(self.year, u32::try_from(self.month).ok()?, u32::try_from(self.day).ok()?)
        }

        /// Days since 1970-01-01, if this is a real date.
        pub fn days_since_epoch(&self) -> Option<i64> {
            self.to_date().map(|date| date.days_since_epoch())
        }

        /// The date `days` after 1970-01-01.
        pub fn from_days_since_epoch(days: i64) -> v1::Date {
            Date::from_days_since_epoch(days).into()
        }
    }

    /// `2024-03-31`, as written whether or not it is a real date.
    impl std::fmt::Display for v1::Date {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn dates_cross_the_wire_and_back() {
            let date = Date::new(2024, 2, 29).expect("a leap day");
            let wire = v1::Date::from(date);
            assert_eq!(wire.to_date(), Some(date));
            assert_eq!(wire.to_string(), "2024-02-29");
            assert_eq!(v1::Date::from_days_since_epoch(date.days_since_epoch()), wire);
            assert_eq!(wire.days_since_epoch(), Some(date.days_since_epoch()));
            for impossible in
                [v1::Date { year: 2023, month: 2, day: 29 }, v1::Date { year: 2024, month: 13, day: 1 }, v1::Date { year: 2024, month: -1, day: 1 }]
            {
                assert_eq!(impossible.to_date(), None, "{impossible}");
            }
        }
    }
}
