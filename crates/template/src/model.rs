//! Fields, categories and values.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::condition::Condition;
use crate::{Error, Result};

/// Longest free-text answer accepted, in characters.
pub const MAX_TEXT_CHARS: usize = 2000;
/// Longest write-in detail accepted, in characters.
pub const MAX_WRITE_IN_CHARS: usize = 200;

/// The template text this crate is built from.
pub const TEMPLATE_TOML: &str = include_str!("../template.toml");
/// Braid's own extension items, in the same shape, read after the template.
pub const EXTENSIONS_TOML: &str = include_str!("../braid-extensions.toml");

/// The section of the template a field belongs to, from its id's prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Section {
    /// A: about a victim; answered per victim involvement.
    Victim,
    /// B: about a perpetrator; answered per perpetrator involvement.
    Perpetrator,
    /// C: context of the abuse; answered per case.
    Context,
    /// D: services and processes; answered per case.
    Services,
    /// Case-level extensions such as concern status.
    Case,
}

impl Section {
    /// True for sections answered once per case rather than per person.
    pub fn is_case_level(self) -> bool {
        matches!(self, Section::Context | Section::Services | Section::Case)
    }
}

/// What kind of answer a field takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Exactly one category.
    Single,
    /// Any number of categories ("tick all that apply").
    Multi,
    /// A whole number within the field's range.
    Integer,
    /// Free text, optionally one of a few fixed categories.
    Text,
}

/// One category of a single- or multi-choice field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    /// 1-based position: core categories first, then extension categories.
    pub code: u32,
    /// The template's own wording.
    pub label: String,
    /// The label ends "(write in)": the answer may carry free-text detail.
    pub write_in: bool,
    /// Added beyond the draft template (marked `extension_categories`).
    pub extension: bool,
    /// This category records that the answer is not known.
    pub not_known: bool,
}

/// One template item.
#[derive(Debug, Clone)]
pub struct Field {
    /// Stable id, e.g. `victim.ethnicity`.
    pub id: String,
    /// The template's item number, e.g. `A5`, or `X1` for extensions.
    pub item: String,
    /// The question as the template asks it.
    pub question: String,
    /// The kind of answer.
    pub kind: FieldKind,
    /// Categories, for single, multi and text fields.
    pub categories: Vec<Category>,
    /// Inclusive range, for integer fields.
    pub range: Option<(i64, i64)>,
    /// The rule that decides whether this item applies.
    pub applies_when: Option<Condition>,
    /// The rule as written in the template, for messages.
    pub applies_when_text: Option<String>,
    /// Not one of the 37 items.
    pub extension: bool,
    /// The section, from the id's prefix.
    pub section: Section,
    /// A wider range another item's answer opens (a young adult's age).
    pub wider: Option<Wider>,
}

/// A wider range for an integer item, open only when a rule over other
/// answers holds (e.g. ages 18 to 24 for a record flagged as a young adult).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wider {
    /// The inclusive range when the rule holds.
    pub range: (i64, i64),
    /// The rule.
    pub when: Condition,
    /// The rule as written, for messages.
    pub when_text: String,
    /// What the numbers beyond the usual range are called in reports.
    pub label: String,
}

impl Field {
    /// The category with this 1-based code.
    pub fn category(&self, code: u32) -> Option<&Category> {
        code.checked_sub(1).and_then(|index| self.categories.get(index as usize))
    }

    /// The category whose label matches, ignoring case and surrounding space.
    pub fn category_by_label(&self, label: &str) -> Option<&Category> {
        self.category_by_folded_label(&fold_label(label))
    }

    /// The category whose label folds to `folded`, an already folded label.
    pub(crate) fn category_by_folded_label(&self, folded: &str) -> Option<&Category> {
        self.categories.iter().find(|category| folds_to(&category.label, folded))
    }

    /// Checks that a value has this field's kind and lies within its
    /// categories or range.
    pub fn validate(&self, value: &Value) -> Result<()> {
        let invalid = |reason: String| Error::InvalidValue { field: self.id.clone(), reason };
        let write_in = match value {
            Value::Single { write_in, .. } | Value::Multi { write_in, .. } => write_in.as_deref(),
            _ => None,
        };
        if write_in.is_some_and(|text| text.chars().count() > MAX_WRITE_IN_CHARS) {
            return Err(invalid(format!("write-in detail longer than {MAX_WRITE_IN_CHARS} characters")));
        }
        match (self.kind, value) {
            (_, Value::NotKnown) => Ok(()),
            (FieldKind::Single, Value::Single { code, write_in }) => {
                let category = self.category(*code).ok_or_else(|| invalid(format!("category code {code} does not exist")))?;
                if write_in.is_some() && !category.write_in {
                    return Err(invalid(format!("category `{}` takes no write-in detail", category.label)));
                }
                Ok(())
            }
            (FieldKind::Multi, Value::Multi { codes, .. }) => {
                if codes.is_empty() {
                    return Err(invalid("no category ticked".to_owned()));
                }
                if codes.len() > self.categories.len() {
                    return Err(invalid(format!("more categories ticked than the field's {}", self.categories.len())));
                }
                for code in codes {
                    if self.category(*code).is_none() {
                        return Err(invalid(format!("category code {code} does not exist")));
                    }
                }
                let mut sorted = codes.clone();
                sorted.sort_unstable();
                sorted.dedup();
                if sorted.len() != codes.len() {
                    return Err(invalid("a category is ticked twice".to_owned()));
                }
                Ok(())
            }
            // The wider range, if any: whether its rule holds is checked
            // with the other answers (`Template::validate_answer`).
            (FieldKind::Integer, Value::Integer(number)) => match self.wider.as_ref().map(|w| w.range).or(self.range) {
                Some((low, high)) if *number < low || *number > high => Err(invalid(format!("{number} is outside the range {low} to {high}"))),
                _ => Ok(()),
            },
            (FieldKind::Text, Value::Text(text)) => {
                if text.trim().is_empty() {
                    Err(invalid("empty text".to_owned()))
                } else if text.chars().count() > MAX_TEXT_CHARS {
                    Err(invalid(format!("text longer than {MAX_TEXT_CHARS} characters")))
                } else {
                    Ok(())
                }
            }
            (FieldKind::Text, Value::Single { code, .. }) => {
                self.category(*code).map(|_| ()).ok_or_else(|| invalid(format!("category code {code} does not exist")))
            }
            (kind, value) => Err(invalid(format!("a {} answer was given to a {} field", value.kind_name(), kind_name(kind)))),
        }
    }

    /// True when the value records that the answer is not known.
    pub fn is_not_known(&self, value: &Value) -> bool {
        match value {
            Value::NotKnown => true,
            Value::Single { code, .. } => self.category(*code).is_some_and(|c| c.not_known),
            Value::Multi { codes, .. } => codes.iter().all(|code| self.category(*code).is_some_and(|c| c.not_known)),
            Value::Integer(_) | Value::Text(_) => false,
        }
    }
}

fn kind_name(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::Single => "single-choice",
        FieldKind::Multi => "multi-choice",
        FieldKind::Integer => "whole-number",
        FieldKind::Text => "free-text",
    }
}

pub(crate) fn fold_label(label: &str) -> String {
    let mut out = String::with_capacity(label.len());
    for word in label.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        if word.is_ascii() {
            out.extend(word.chars().map(|c| c.to_ascii_lowercase()));
        } else {
            // Whole words, so that context-dependent lowering (a final
            // sigma) is the same as for the whole label.
            out.push_str(&word.to_lowercase());
        }
    }
    out
}

/// Whether `label` folds to `folded` (an already folded label), without
/// allocating for ASCII labels.
pub(crate) fn folds_to(label: &str, folded: &str) -> bool {
    if !label.is_ascii() {
        return fold_label(label) == folded;
    }
    let mut want = folded.bytes();
    for (i, word) in label.split_whitespace().enumerate() {
        if i > 0 && want.next() != Some(b' ') {
            return false;
        }
        if !word.bytes().all(|b| want.next() == Some(b.to_ascii_lowercase())) {
            return false;
        }
    }
    want.next().is_none()
}

/// One answer to a template item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A single category, with write-in detail where the category takes it.
    Single {
        /// The category's code.
        code: u32,
        /// Free-text detail for a "(write in)" category.
        write_in: Option<String>,
    },
    /// Several categories.
    Multi {
        /// The ticked categories' codes.
        codes: Vec<u32>,
        /// Free-text detail for "(write in)" categories.
        write_in: Option<String>,
    },
    /// A whole number.
    Integer(i64),
    /// Free text.
    Text(String),
    /// The agency recorded that it does not know (distinct from no answer).
    NotKnown,
}

impl Value {
    fn kind_name(&self) -> &'static str {
        match self {
            Value::Single { .. } => "single-choice",
            Value::Multi { .. } => "multi-choice",
            Value::Integer(_) => "whole-number",
            Value::Text(_) => "free-text",
            Value::NotKnown => "not-known",
        }
    }
}

/// Answers to template items, by field id: what a condition is evaluated
/// against (a case's fields together with one involvement's fields).
pub type Answers<'a> = HashMap<&'a str, &'a Value>;

/// The whole template.
#[derive(Debug)]
pub struct Template {
    fields: Vec<Field>,
    by_id: HashMap<String, usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTemplate {
    field: Vec<RawField>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawField {
    id: String,
    item: String,
    question: String,
    kind: String,
    #[serde(default)]
    categories: Vec<String>,
    #[serde(default)]
    extension_categories: Vec<String>,
    same_categories_as: Option<String>,
    range: Option<[i64; 2]>,
    applies_when: Option<String>,
    #[serde(default)]
    extension: bool,
    #[allow(dead_code)]
    source: Option<String>,
    #[allow(dead_code)]
    note: Option<String>,
    widens: Option<RawWidens>,
}

/// `widens = { field, range, when, label }`: this item's category `when`
/// opens `range` on `field`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWidens {
    field: String,
    range: [i64; 2],
    when: String,
    label: String,
}

impl Template {
    /// The template this crate ships, parsed once.
    pub fn standard() -> &'static Template {
        static STANDARD: OnceLock<Template> = OnceLock::new();
        STANDARD.get_or_init(|| {
            // The embedded text is checked by this crate's tests, so a failure
            // here means the build itself is broken.
            Template::parse(&format!("{TEMPLATE_TOML}\n{EXTENSIONS_TOML}")).unwrap_or_else(|error| panic!("the embedded template does not parse: {error}"))
        })
    }

    /// Parses template text in the shape of `template.toml`.
    pub fn parse(text: &str) -> Result<Template> {
        let raw: RawTemplate = toml::from_str(text).map_err(|error| Error::Template(error.to_string()))?;
        let mut fields: Vec<Field> = Vec::with_capacity(raw.field.len());
        let mut widening: Vec<(String, RawWidens)> = Vec::new();
        let mut by_id = HashMap::new();
        for raw_field in raw.field {
            let kind = match raw_field.kind.as_str() {
                "single" => FieldKind::Single,
                "multi" => FieldKind::Multi,
                "integer" => FieldKind::Integer,
                "text" => FieldKind::Text,
                other => return Err(Error::Template(format!("field `{}` has unknown kind `{other}`", raw_field.id))),
            };
            let categories = match &raw_field.same_categories_as {
                Some(other) => {
                    let index = by_id
                        .get(other)
                        .ok_or_else(|| Error::Template(format!("field `{}` copies categories from `{other}`, which is not defined before it", raw_field.id)))?;
                    let source: &Field = &fields[*index];
                    source.categories.clone()
                }
                None => number_categories(&raw_field.categories, &raw_field.extension_categories),
            };
            let section = match raw_field.id.split('.').next() {
                Some("victim") => Section::Victim,
                Some("perpetrator") => Section::Perpetrator,
                Some("context") => Section::Context,
                Some("services") => Section::Services,
                Some("case") => Section::Case,
                _ => return Err(Error::Template(format!("field `{}` has no known section prefix", raw_field.id))),
            };
            let field = Field {
                id: raw_field.id.clone(),
                item: raw_field.item,
                question: raw_field.question,
                kind,
                categories,
                range: raw_field.range.map(|[low, high]| (low, high)),
                applies_when: None,
                applies_when_text: raw_field.applies_when.clone(),
                extension: raw_field.extension,
                section,
                wider: None,
            };
            if let Some(widens) = raw_field.widens {
                widening.push((raw_field.id.clone(), widens));
            }
            if by_id.insert(raw_field.id.clone(), fields.len()).is_some() {
                return Err(Error::Template(format!("field `{}` appears twice", raw_field.id)));
            }
            fields.push(field);
        }
        let mut template = Template { fields, by_id };
        for (id, widens) in widening {
            let text = format!("{id} = {}", widens.when);
            let when = Condition::parse(&text, &template)?;
            let target =
                template.by_id.get(&widens.field).copied().ok_or_else(|| Error::Template(format!("`{id}` widens `{}`, which does not exist", widens.field)))?;
            let field = &mut template.fields[target];
            if field.kind != FieldKind::Integer || field.range.is_none_or(|(low, high)| widens.range[0] > low || widens.range[1] < high) {
                return Err(Error::Template(format!("`{id}` may only widen the range of a whole-number item")));
            }
            field.wider = Some(Wider { range: (widens.range[0], widens.range[1]), when, when_text: text, label: widens.label });
        }
        // Conditions refer to other fields' categories, so they are parsed
        // once every field is known.
        for index in 0..template.fields.len() {
            if let Some(text) = template.fields[index].applies_when_text.clone() {
                let condition = Condition::parse(&text, &template)?;
                template.fields[index].applies_when = Some(condition);
            }
        }
        Ok(template)
    }

    /// All fields, in template order.
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// The field with this id.
    pub fn field(&self, id: &str) -> Result<&Field> {
        self.by_id.get(id).map(|index| &self.fields[*index]).ok_or_else(|| Error::UnknownField(id.to_owned()))
    }

    /// Validates one answer and, for conditional items, checks that the
    /// condition is not contradicted by the other answers. A condition whose
    /// parent is unanswered is given the benefit of the doubt.
    pub fn validate_answer(&self, field_id: &str, value: &Value, answers: &Answers) -> Result<()> {
        let field = self.field(field_id)?;
        field.validate(value)?;
        if let (Value::Integer(number), Some(wider), Some((low, high))) = (value, &field.wider, field.range) {
            if !(low..=high).contains(number) && wider.when.evaluate(self, answers) != Some(true) {
                return Err(Error::InvalidValue {
                    field: field.id.clone(),
                    reason: format!("{number} is outside the range {low} to {high} ({} to {} only where {})", high + 1, wider.range.1, wider.when_text),
                });
            }
        }
        if let Some(condition) = &field.applies_when {
            if condition.evaluate(self, answers) == Some(false) {
                return Err(Error::NotApplicable { field: field.id.clone(), condition: field.applies_when_text.clone().unwrap_or_default() });
            }
        }
        Ok(())
    }
}

fn number_categories(core: &[String], extension: &[String]) -> Vec<Category> {
    core.iter()
        .map(|label| (label, false))
        .chain(extension.iter().map(|label| (label, true)))
        .enumerate()
        .map(|(index, (label, is_extension))| Category {
            code: index as u32 + 1,
            label: label.clone(),
            write_in: label.ends_with("(write in)"),
            extension: is_extension,
            not_known: fold_label(label) == "not known",
        })
        .collect()
}
