//! The mapping file: how one agency's extract CSV maps to identity fields,
//! case fields and template items.

use std::collections::{BTreeMap, HashMap};

use braid_template::{LabelMap, Template};
use serde::{Deserialize, Serialize};

use crate::date::DateFormat;

/// A whole mapping file (TOML).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// Who the agency is.
    pub agency: AgencySection,
    /// Columns of the case and the involvement.
    pub columns: CaseColumns,
    /// Columns of the person's identity; these never leave the premises.
    pub identity: IdentityColumns,
    /// Agency role label → `known_victim`, `suspected_victim`, `perpetrator`
    /// or `hsb`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub roles: BTreeMap<String, String>,
    /// Agency case-type label → `CSA`, `CSE` or `HSB`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub case_types: BTreeMap<String, String>,
    /// Present in the mapping of an outcomes extract (one row per outcome
    /// event: a missing episode, a placement move…) instead of a case
    /// extract: which column says what happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<OutcomeSection>,
    /// Template items by their `id`.
    #[serde(default)]
    pub fields: BTreeMap<String, FieldColumn>,
    /// How the agency's own system holds the template items it does not
    /// map: only as narrative text, or not at all. Completeness reports use
    /// it to tell "our system has no such field" from "left blank".
    #[serde(default, skip_serializing_if = "SystemSection::is_empty")]
    pub system: SystemSection,
}

/// Items the agency's system holds other than in categories (mapped items
/// are held in categories).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SystemSection {
    /// Template field ids held only as narrative (free) text: collected,
    /// but not reportable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub free_text: Vec<String>,
    /// Template field ids the system has no place for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_held: Vec<String>,
}

impl SystemSection {
    fn is_empty(&self) -> bool {
        self.free_text.is_empty() && self.not_held.is_empty()
    }
}

/// How an outcomes extract says what happened. Its other columns are a
/// case extract's: `columns.record_ref` is the event's id,
/// `columns.person_ref` the child's, `columns.event_date` the day it
/// happened; it has no role, case type or template items.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OutcomeSection {
    /// The column holding the kind of event.
    pub column: String,
    /// Agency label → outcome kind (`missing_episode`, `placement_move`,
    /// `school_exclusion`, `attendance_concern`,
    /// `health_appointment_attended`, `arrest_or_charge`, `return_home`,
    /// `service_engagement`). Labels not listed are matched against those
    /// codes and the kinds' names (`missing episode`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// The outcome kinds' codes, for errors.
pub const OUTCOME_CODES: &str =
    "missing_episode, placement_move, school_exclusion, attendance_concern, health_appointment_attended, arrest_or_charge, return_home, service_engagement";

/// The agency.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AgencySection {
    /// Short code, e.g. `CSC-NORTH`.
    pub code: String,
    /// `children_services`, `police`, `yot`, `health` or `voluntary`.
    #[serde(rename = "type")]
    pub agency_type: String,
}

/// Case-level columns.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CaseColumns {
    /// The agency's case id (becomes the opaque record ref).
    pub record_ref: String,
    /// The agency's local person id (becomes the opaque person ref).
    pub person_ref: String,
    /// The person's role in the case (not in an outcomes extract).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// CSA / CSE / HSB in the agency's labels (not in an outcomes extract).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_type: Option<String>,
    /// The referral or event date.
    pub event_date: String,
    /// When the abuse started, if recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident_start: Option<String>,
    /// When the abuse last occurred, if recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_occurrence: Option<String>,
    /// Format of every date column, strftime style, e.g. `%d/%m/%Y`.
    pub date_format: String,
}

/// Identity columns. Each is optional: an agency maps what it records.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct IdentityColumns {
    /// Given name(s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forename: Option<String>,
    /// Family name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub surname: Option<String>,
    /// Date of birth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<String>,
    /// Format of the date of birth when it differs from `columns.date_format`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_of_birth_format: Option<String>,
    /// Sex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sex: Option<String>,
    /// UK postcode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postcode: Option<String>,
    /// NHS number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nhs_number: Option<String>,
    /// Previous or alternative family names: one or more columns, each cell
    /// holding one name or several separated by `;`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alternative_surnames: Vec<String>,
    /// First line of the address (street, with the house number or name
    /// unless `house` names its own column).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// House number or name, when the extract keeps it apart from `address`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub house: Option<String>,
    /// Other identifiers by name → column, e.g. `upn = "UPN"`,
    /// `pnc = "PNC ID"`, `local_child_id = "Child ID"`; compared exactly.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ids: BTreeMap<String, String>,
}

impl IdentityColumns {
    /// Whether any column that identifies a person across agencies is
    /// mapped (a name, date of birth, NHS number, postcode, address or
    /// other identifier); without one, records link only by the agency's
    /// own person ids.
    pub fn any(&self) -> bool {
        [&self.forename, &self.surname, &self.date_of_birth, &self.nhs_number, &self.postcode, &self.address].iter().any(|c| c.is_some())
            || !self.alternative_surnames.is_empty()
            || !self.ids.is_empty()
    }

    /// Each identity field that one column holds, by its name under
    /// `[identity]`, with that column when the mapping names one.
    pub fn single_columns(&self) -> [(&'static str, Option<&str>); 8] {
        [
            ("forename", self.forename.as_deref()),
            ("surname", self.surname.as_deref()),
            ("date_of_birth", self.date_of_birth.as_deref()),
            ("sex", self.sex.as_deref()),
            ("postcode", self.postcode.as_deref()),
            ("nhs_number", self.nhs_number.as_deref()),
            ("address", self.address.as_deref()),
            ("house", self.house.as_deref()),
        ]
    }
}

/// Where one template item is and how the agency labels its categories.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FieldColumn {
    /// The CSV column.
    pub column: String,
    /// Agency label → template category wording. Labels not listed are
    /// matched against the template's own wording.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Separator of ticked categories in multi-choice cells.
    #[serde(default = "default_separator")]
    pub separator: char,
}

fn default_separator() -> char {
    ';'
}

/// Problems with a mapping file that stop pseudonymisation before any row is
/// read.
#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    /// Not valid TOML, or not in the mapping's shape.
    #[error("mapping file: {0}")]
    Parse(String),
    /// A template field id the template does not have.
    #[error("mapping names template field `{0}`, which the template does not have")]
    UnknownField(String),
    /// An item in `[system]` that the template lacks, that `[fields]`
    /// already maps, or that is listed twice.
    #[error("mapping system.{list}: {reason}")]
    System {
        /// `free_text` or `not_held`.
        list: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A case extract's section missing, or one an outcomes extract does
    /// not have.
    #[error("mapping {0}")]
    Shape(String),
    /// A role, case-type or outcome target that does not exist.
    #[error("mapping {section}: `{target}` is not one of {allowed}")]
    UnknownTarget {
        /// `roles`, `case_types` or `outcome.labels`.
        section: &'static str,
        /// The bad target.
        target: String,
        /// What is allowed.
        allowed: &'static str,
    },
    /// A date format that cannot be read: which field, and why.
    #[error("mapping {field}: {reason}")]
    DateFormat {
        /// `columns.date_format` or `identity.date_of_birth_format`.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The header is one column holding another separator: the file is
    /// not comma-separated.
    #[error("the extract's header is one column holding `{separator}`: Braid reads comma-separated files; export the extract with commas between the columns")]
    WrongSeparator {
        /// The separator found (`;`, or a tab shown as `\t`).
        separator: String,
    },
    /// The extract is not UTF-8 text Braid can read line by line.
    #[error("the extract {0}")]
    Unreadable(&'static str),
    /// A column the mapping names is in the header more than once.
    #[error("the extract's header has column `{column}` {count} times; the mapping names it for {purpose}, and which one it means is unclear")]
    RepeatedColumn {
        /// The column name.
        column: String,
        /// How often it is there.
        count: usize,
        /// What it was mapped to.
        purpose: String,
    },
    /// Two labels of one section read as the same label (cells are
    /// compared in any case, with spacing folded) but map to different
    /// targets.
    #[error("mapping {section}: the labels `{first}` and `{second}` read as one label in the extract but map to different targets")]
    ClashingLabels {
        /// The section.
        section: String,
        /// One label.
        first: String,
        /// The other.
        second: String,
    },
    /// A column named in the mapping is missing from the extract's header.
    #[error("the extract has no column `{column}`, which the mapping names for {purpose}")]
    MissingColumn {
        /// The column name.
        column: String,
        /// What it was mapped to.
        purpose: String,
    },
    /// A label mapped to a category the template item does not have.
    #[error(
        "mapping fields.\"{field}\".labels maps a label to `{target}`, which is not a category of {field} (use the template's own wording, or \"Not known\")"
    )]
    UnknownCategory {
        /// The template item.
        field: String,
        /// The target wording.
        target: String,
    },
    /// An agency code the node would refuse.
    #[error("mapping agency.code `{0}` must be 1 to 64 letters, digits, '-' or '_' (as the node and the certificates name the agency)")]
    AgencyCode(String),
    /// An agency type that is not known.
    #[error("mapping agency.type `{0}` is not one of children_services, police, yot, health, voluntary, education, probation, victim_services")]
    AgencyType(String),
}

pub use braid_template::AGENCY_TYPES;

impl Mapping {
    /// Reads and checks a mapping file.
    pub fn parse(text: &str) -> Result<Mapping, MappingError> {
        let mapping: Mapping = toml::from_str(text).map_err(|error| MappingError::Parse(braid_template::toml_error(text, &error)))?;
        mapping.validate()?;
        Ok(mapping)
    }

    /// The TOML text of this mapping.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|error| unreachable!("a mapping always serialises: {error}"))
    }

    fn validate(&self) -> Result<(), MappingError> {
        let code = &self.agency.code;
        if code.is_empty() || code.len() > 64 || !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(MappingError::AgencyCode(braid_template::quote(code)));
        }
        if !AGENCY_TYPES.contains(&self.agency.agency_type.as_str()) {
            return Err(MappingError::AgencyType(braid_template::quote(&self.agency.agency_type)));
        }
        let template = Template::standard();
        for id in self.fields.keys() {
            template.field(id).map_err(|_| MappingError::UnknownField(id.clone()))?;
        }
        let mut declared = std::collections::HashSet::new();
        for (list, ids) in [("free_text", &self.system.free_text), ("not_held", &self.system.not_held)] {
            for id in ids {
                let shown: String = id.chars().take(40).collect();
                let reason = if template.field(id).is_err() {
                    format!("`{shown}` is not a template item")
                } else if self.fields.contains_key(id) {
                    format!("{id} is mapped to a column in [fields], so the system holds it in categories")
                } else if !declared.insert(id.as_str()) {
                    format!("{id} is listed twice (an item is held in one way only)")
                } else {
                    continue;
                };
                return Err(MappingError::System { list, reason });
            }
        }
        for (id, labels) in self.label_maps() {
            let Ok(field) = template.field(&id) else { continue };
            if let Some(target) = labels.unknown_targets(field).into_iter().next() {
                return Err(MappingError::UnknownCategory { field: id, target: braid_template::quote(&target) });
            }
        }
        self.validate_shape()?;
        self.identity_columns_apart()?;
        for target in self.roles.values() {
            if Role::parse(target).is_none() {
                return Err(MappingError::UnknownTarget {
                    section: "roles",
                    target: target.clone(),
                    allowed: "known_victim, suspected_victim, perpetrator, hsb",
                });
            }
        }
        for target in self.case_types.values() {
            if CaseType::parse(target).is_none() {
                return Err(MappingError::UnknownTarget { section: "case_types", target: target.clone(), allowed: "CSA, CSE, HSB" });
            }
        }
        let outcome_labels = self.outcome.as_ref().map(|o| &o.labels);
        for (section, labels) in [("roles", Some(&self.roles)), ("case_types", Some(&self.case_types)), ("outcome.labels", outcome_labels)] {
            if let Some(labels) = labels {
                Mapping::clashing_labels(section, labels)?;
            }
        }
        for (id, field) in &self.fields {
            Mapping::clashing_labels(&format!("fields.\"{id}\".labels"), &field.labels)?;
        }
        if self.identity.ids.len() > crate::normalise::MAX_IDS {
            return Err(MappingError::Parse(format!(
                "[identity.ids] names {} identifiers; at most {} are used",
                self.identity.ids.len(),
                crate::normalise::MAX_IDS
            )));
        }
        let mut id_names: BTreeMap<String, &str> = BTreeMap::new();
        for name in self.identity.ids.keys() {
            let folded = crate::normalise::fold_text(name);
            if folded.is_empty() {
                return Err(MappingError::Parse(format!(
                    "[identity.ids] names an identifier `{}` with no letters or digits; name it in letters or digits",
                    braid_template::quote(name)
                )));
            }
            if let Some(first) = id_names.insert(folded, name) {
                return Err(MappingError::Parse(format!(
                    "[identity.ids] names `{}` and `{}`, which read as one identifier (names are compared in any case, with spacing folded); give them different names",
                    braid_template::quote(first),
                    braid_template::quote(name)
                )));
            }
        }
        self.date_format()?;
        self.date_of_birth_format()?;
        Ok(())
    }

    /// The case dates' format (`columns.date_format`).
    pub(crate) fn date_format(&self) -> Result<DateFormat, MappingError> {
        read_date_format(&self.columns.date_format, "columns.date_format")
    }

    /// The dates of birth's format: `identity.date_of_birth_format`, else
    /// the case dates'.
    pub(crate) fn date_of_birth_format(&self) -> Result<DateFormat, MappingError> {
        match &self.identity.date_of_birth_format {
            Some(format) => read_date_format(format, "identity.date_of_birth_format"),
            None => self.date_format(),
        }
    }

    /// Refuses a column named both under `[identity]` and as a case or
    /// template column: a label column's cells are quoted when they are not
    /// labels it knows, and an identity value never may be (nor is a name a
    /// role or an answer). Sex is the exception: one column is both the
    /// person's sex and the template's `victim.sex`, and it identifies no one.
    fn identity_columns_apart(&self) -> Result<(), MappingError> {
        let i = &self.identity;
        let mut identity: Vec<(String, &str)> = i
            .single_columns()
            .into_iter()
            .filter(|(name, _)| *name != "sex")
            .filter_map(|(name, column)| Some((format!("identity.{name}"), column?)))
            .collect();
        identity.extend(i.alternative_surnames.iter().map(|column| ("identity.alternative_surnames".to_owned(), column.as_str())));
        identity.extend(i.ids.iter().map(|(id, column)| (format!("identity.ids.{id}"), column.as_str())));
        let c = &self.columns;
        let mut case: Vec<(String, &str)> = [
            ("columns.role", c.role.as_deref()),
            ("columns.case_type", c.case_type.as_deref()),
            ("columns.event_date", Some(c.event_date.as_str())),
            ("columns.incident_start", c.incident_start.as_deref()),
            ("columns.last_occurrence", c.last_occurrence.as_deref()),
            ("outcome.column", self.outcome.as_ref().map(|o| o.column.as_str())),
        ]
        .into_iter()
        .filter_map(|(name, column)| Some((name.to_owned(), column?)))
        .collect();
        case.extend(self.fields.iter().map(|(id, field)| (format!("fields.\"{id}\""), field.column.as_str())));
        for (identity_name, identity_column) in &identity {
            if let Some((case_name, _)) = case.iter().find(|(_, column)| fold(column) == fold(identity_column)) {
                return Err(MappingError::Shape(format!(
                    "names column `{}` both as {identity_name} and as {case_name}: an identity column is only ever pseudonymised",
                    braid_template::quote(identity_column)
                )));
            }
        }
        Ok(())
    }

    /// Refuses two labels that an extract's cell cannot tell apart (the same
    /// once case and spacing are folded) when they map to different targets:
    /// which applied would depend on the order they are read in.
    fn clashing_labels(section: &str, labels: &BTreeMap<String, String>) -> Result<(), MappingError> {
        let mut seen: BTreeMap<String, (&str, &str)> = BTreeMap::new();
        for (label, target) in labels {
            if let Some((first, first_target)) = seen.insert(fold(label), (label, target)) {
                if first_target != target {
                    return Err(MappingError::ClashingLabels {
                        section: section.to_owned(),
                        first: braid_template::quote(first),
                        second: braid_template::quote(label),
                    });
                }
            }
        }
        Ok(())
    }

    /// A case extract needs its role and case-type columns; an outcomes
    /// extract has none of what only cases have, and known outcome kinds.
    fn validate_shape(&self) -> Result<(), MappingError> {
        let shape = |text: &str| Err(MappingError::Shape(text.to_owned()));
        let Some(outcome) = &self.outcome else {
            if self.columns.role.is_none() {
                return shape("columns.role is required (or an [outcome] section, for an extract of outcome events)");
            }
            if self.columns.case_type.is_none() {
                return shape("columns.case_type is required (or an [outcome] section, for an extract of outcome events)");
            }
            if self.roles.is_empty() || self.case_types.is_empty() {
                return shape("[roles] and [case_types] are required in a case extract's mapping");
            }
            return Ok(());
        };
        let c = &self.columns;
        let case_only = [
            ("columns.role", c.role.is_some()),
            ("columns.case_type", c.case_type.is_some()),
            ("columns.incident_start", c.incident_start.is_some()),
            ("columns.last_occurrence", c.last_occurrence.is_some()),
            ("[roles]", !self.roles.is_empty()),
            ("[case_types]", !self.case_types.is_empty()),
            ("[fields]", !self.fields.is_empty()),
            ("[system]", !self.system.is_empty()),
        ];
        if let Some((name, _)) = case_only.iter().find(|(_, given)| *given) {
            return shape(&format!("{name} is for case extracts; a mapping with [outcome] reads outcome events, which have none"));
        }
        for target in outcome.labels.values() {
            if braid_template::OutcomeKind::from_code(target.trim()).is_none() {
                return Err(MappingError::UnknownTarget { section: "outcome.labels", target: braid_template::quote(target), allowed: OUTCOME_CODES });
            }
        }
        Ok(())
    }

    /// Label maps for every mapped template field.
    pub(crate) fn label_maps(&self) -> HashMap<String, LabelMap> {
        self.fields
            .iter()
            .map(|(id, column)| {
                let labels: HashMap<String, String> = column.labels.iter().map(|(a, b)| (a.clone(), b.clone())).collect();
                (id.clone(), LabelMap::new(&labels, column.separator))
            })
            .collect()
    }
}

pub use braid_template::{CaseType, Role};

/// A label as a cell is compared with it: lower case, runs of spaces
/// folded to one, trimmed.
pub(crate) fn fold(label: &str) -> String {
    label.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// Reads the date format a mapping gives in `field`.
fn read_date_format(text: &str, field: &'static str) -> Result<DateFormat, MappingError> {
    DateFormat::parse(text).map_err(|error| MappingError::DateFormat { field, reason: error.to_string() })
}
