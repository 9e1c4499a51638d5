//! Conditional rules (`applies_when`): when a sub-item such as A1a or D9a
//! applies.

use crate::model::{Answers, Template, Value};
use crate::{Error, Result};

/// A rule over other fields' answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// The single-choice field has this category.
    Equals {
        /// The parent field.
        field: String,
        /// The category code the parent must have.
        code: u32,
    },
    /// The multi-choice field includes this category.
    Includes {
        /// The parent field.
        field: String,
        /// The category code the parent must include.
        code: u32,
    },
    /// The field is unanswered or answered "not known".
    IsNotKnown {
        /// The parent field.
        field: String,
    },
    /// Every rule holds.
    All(Vec<Condition>),
}

impl Condition {
    /// Parses the template's rule syntax: `a = Label`, `a includes Label`,
    /// `a is not known`, joined by `and`.
    pub fn parse(text: &str, template: &Template) -> Result<Condition> {
        let parts: Vec<&str> = text.split(" and ").map(str::trim).collect();
        if parts.len() > 1 {
            let conditions = parts.iter().map(|part| Condition::parse_one(part, template)).collect::<Result<Vec<_>>>()?;
            return Ok(Condition::All(conditions));
        }
        Condition::parse_one(text.trim(), template)
    }

    fn parse_one(text: &str, template: &Template) -> Result<Condition> {
        let malformed = || Error::Template(format!("cannot read the condition `{text}`"));
        if let Some(field) = text.strip_suffix(" is not known") {
            template.field(field.trim())?;
            return Ok(Condition::IsNotKnown { field: field.trim().to_owned() });
        }
        let (field, label, includes) = if let Some((field, label)) = text.split_once(" includes ") {
            (field.trim(), label.trim(), true)
        } else if let Some((field, label)) = text.split_once(" = ") {
            (field.trim(), label.trim(), false)
        } else {
            return Err(malformed());
        };
        let parent = template.field(field)?;
        let category =
            parent.category_by_label(label).ok_or_else(|| Error::Template(format!("condition `{text}` names a category that `{field}` does not have")))?;
        let field = field.to_owned();
        let code = category.code;
        Ok(if includes { Condition::Includes { field, code } } else { Condition::Equals { field, code } })
    }

    /// Evaluates the rule: `Some(true)` or `Some(false)` when the answers
    /// decide it, `None` when a parent is unanswered and so nothing can be said.
    pub fn evaluate(&self, template: &Template, answers: &Answers) -> Option<bool> {
        match self {
            Condition::Equals { field, code } => match answers.get(field.as_str())? {
                Value::Single { code: given, .. } => Some(given == code),
                Value::NotKnown => None,
                _ => Some(false),
            },
            Condition::Includes { field, code } => match answers.get(field.as_str())? {
                Value::Multi { codes, .. } => Some(codes.contains(code)),
                Value::NotKnown => None,
                _ => Some(false),
            },
            Condition::IsNotKnown { field } => match answers.get(field.as_str()) {
                None => Some(true),
                Some(value) => {
                    let parent = template.field(field).ok()?;
                    Some(parent.is_not_known(value))
                }
            },
            Condition::All(conditions) => {
                let mut undecided = false;
                for condition in conditions {
                    match condition.evaluate(template, answers) {
                        Some(false) => return Some(false),
                        None => undecided = true,
                        Some(true) => {}
                    }
                }
                if undecided {
                    None
                } else {
                    Some(true)
                }
            }
        }
    }
}
