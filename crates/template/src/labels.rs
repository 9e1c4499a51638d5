//! Agencies' own labels for template categories.

use std::collections::HashMap;

use crate::model::{fold_label, folds_to, Field, FieldKind, Value};
use crate::{Error, Result};

/// How one agency writes one template field in its extract: its own labels
/// for the template's categories. Labels not in the map are matched against
/// the template's wording, ignoring case and spacing. A label mapped to the
/// target `Not known` records that the answer is not known even where the
/// template has no such category.
#[derive(Debug, Clone, Default)]
pub struct LabelMap {
    /// Folded agency label → (folded template label, template label as
    /// the mapping wrote it).
    labels: HashMap<String, (String, String)>,
    /// Separator between ticked categories of a multi-choice field.
    separator: char,
}

/// Agency label target that records "not known" for any field.
const NOT_KNOWN: &str = "not known";

impl LabelMap {
    /// A map from agency label to template category label; `separator`
    /// splits multi-choice cells.
    pub fn new(labels: &HashMap<String, String>, separator: char) -> LabelMap {
        LabelMap { labels: labels.iter().map(|(agency, template)| (fold_label(agency), (fold_label(template), template.clone()))).collect(), separator }
    }

    /// Parses one cell of an extract into an answer. An empty cell is a
    /// missing answer (`Ok(None)`), never "not known".
    pub fn parse(&self, field: &Field, cell: &str) -> Result<Option<Value>> {
        let cell = cell.trim();
        if cell.is_empty() {
            return Ok(None);
        }
        let value = match field.kind {
            FieldKind::Single => self.parse_single(field, cell)?,
            FieldKind::Multi => {
                let mut codes = Vec::new();
                let mut write_ins = Vec::new();
                for part in cell.split(self.separator).map(str::trim).filter(|p| !p.is_empty()) {
                    match self.parse_single(field, part)? {
                        Value::Single { code, write_in } => {
                            if !codes.contains(&code) {
                                codes.push(code);
                            }
                            write_ins.extend(write_in);
                        }
                        // "Not known" alone is the whole answer.
                        _ => return Ok(Some(Value::NotKnown)),
                    }
                }
                Value::Multi { codes, write_in: (!write_ins.is_empty()).then(|| write_ins.join("; ")) }
            }
            FieldKind::Integer => {
                if self.target(cell) == NOT_KNOWN {
                    Value::NotKnown
                } else {
                    let number = cell.parse::<i64>().map_err(|_| Error::InvalidValue { field: field.id.clone(), reason: "not a whole number".to_owned() })?;
                    Value::Integer(number)
                }
            }
            FieldKind::Text => {
                let target = self.target(cell);
                if let Some(category) = field.category_by_folded_label(&target) {
                    Value::Single { code: category.code, write_in: None }
                } else if target == NOT_KNOWN {
                    Value::NotKnown
                } else {
                    Value::Text(cell.to_owned())
                }
            }
        };
        field.validate(&value)?;
        Ok(Some(value))
    }

    /// The mapping's targets that name no category of a single- or
    /// multi-choice `field` (nor "Not known"): a mistake in the mapping, to
    /// report before any row is read.
    pub fn unknown_targets(&self, field: &Field) -> Vec<String> {
        if !matches!(field.kind, FieldKind::Single | FieldKind::Multi) {
            return Vec::new();
        }
        let mut unknown: Vec<String> = self
            .labels
            .values()
            .filter(|(folded, _)| {
                folded != NOT_KNOWN
                    && field.category_by_folded_label(folded).is_none()
                    && !field.categories.iter().any(|c| c.write_in && folds_to(c.label.trim_end_matches("(write in)"), folded))
            })
            .map(|(_, written)| written.clone())
            .collect();
        unknown.sort();
        unknown.dedup();
        unknown
    }

    /// The template label an agency label stands for (folded).
    fn target(&self, label: &str) -> String {
        let folded = fold_label(label);
        match self.labels.get(&folded) {
            Some((target, _)) => target.clone(),
            None => folded,
        }
    }

    fn parse_single(&self, field: &Field, cell: &str) -> Result<Value> {
        // "Label: detail" carries write-in detail for "(write in)" categories.
        let (label, detail) = match cell.split_once(':') {
            Some((label, detail)) if !detail.trim().is_empty() => (label.trim(), Some(detail.trim())),
            _ => (cell, None),
        };
        let target = self.target(label);
        let category = field.category_by_folded_label(&target).or_else(|| {
            // Allow "Other" for "Other (write in)".
            field.categories.iter().find(|category| category.write_in && folds_to(category.label.trim_end_matches("(write in)"), &target))
        });
        match category {
            Some(category) => Ok(Value::Single { code: category.code, write_in: detail.filter(|_| category.write_in).map(str::to_owned) }),
            None if target == NOT_KNOWN => Ok(Value::NotKnown),
            None => Err(Error::UnknownLabel { field: field.id.clone(), label: cell.to_owned() }),
        }
    }
}
