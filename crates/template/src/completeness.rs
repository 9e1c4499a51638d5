//! Data completeness per template item: known, not known, missing.

use std::collections::BTreeMap;

use crate::model::{Template, Value};

/// Counts for one field.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FieldCompleteness {
    /// Answered with a real value.
    pub known: u64,
    /// Answered "not known".
    pub not_known: u64,
    /// No answer where the item applies.
    pub missing: u64,
}

impl FieldCompleteness {
    /// All answers and gaps counted.
    pub fn total(&self) -> u64 {
        self.known + self.not_known + self.missing
    }

    /// Share of `total` that is known, 0 to 1; 0 when nothing was counted.
    pub fn known_share(&self) -> f64 {
        if self.total() == 0 {
            0.0
        } else {
            self.known as f64 / self.total() as f64
        }
    }
}

/// Completeness of every field over a set of records.
#[derive(Debug, Clone, Default)]
pub struct Completeness {
    /// By field id.
    pub fields: BTreeMap<String, FieldCompleteness>,
}

impl Completeness {
    /// Counts one answer set: each field of `section_fields` that applies is
    /// counted as known, not known or missing. Conditional items whose
    /// condition is false are not counted.
    pub fn record<'a>(&mut self, template: &Template, section_fields: impl IntoIterator<Item = &'a str>, answers: &crate::Answers) {
        for field_id in section_fields {
            let Ok(field) = template.field(field_id) else {
                continue;
            };
            if let Some(condition) = &field.applies_when {
                if condition.evaluate(template, answers) != Some(true) {
                    continue;
                }
            }
            let counts = self.fields.entry(field.id.clone()).or_default();
            match answers.get(field_id) {
                None => counts.missing += 1,
                Some(value) if field.is_not_known(value) => counts.not_known += 1,
                Some(Value::NotKnown) => counts.not_known += 1,
                Some(_) => counts.known += 1,
            }
        }
    }
}
