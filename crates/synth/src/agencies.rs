//! The four synthetic agencies: each with its own columns, date format and
//! labels, as real extracts differ.

use std::collections::BTreeMap;

use braid_pseudonym::mapping::{AgencySection, CaseColumns, FieldColumn, IdentityColumns, SystemSection};
use braid_pseudonym::Mapping;

/// Index of each agency in [`AGENCIES`].
pub const CSC: usize = 0;
/// Police.
pub const POL: usize = 1;
/// Youth offending team.
pub const YOT: usize = 2;
/// Specialist voluntary service.
pub const VOL: usize = 3;

/// How one agency writes its extract.
pub struct AgencySpec {
    /// Agency code.
    pub code: &'static str,
    /// Agency type.
    pub agency_type: &'static str,
    /// Column names: record, person, role, case type, event date, forename,
    /// surname, dob, sex, postcode, nhs (empty when not recorded).
    pub columns: [&'static str; 11],
    /// Date format of every date column.
    pub date_format: &'static str,
    /// Labels for known victim, suspected victim, perpetrator, hsb.
    pub roles: [&'static str; 4],
    /// Labels for CSA, CSE, HSB.
    pub case_types: [&'static str; 3],
    /// Labels for male and female.
    pub sex: [&'static str; 2],
    /// Ethnicity codes in template order (17 entries), or empty for template wording.
    pub ethnicity: &'static [&'static str],
    /// Share of rows with an NHS number.
    pub nhs_share: f64,
}

const POLICE_ETHNICITY: &[&str] = &["W1", "W2", "W9", "A1", "A2", "A3", "A4", "A9", "B1", "B2", "B9", "M1", "M2", "M3", "M9", "O9", "NS"];
const DFE_ETHNICITY: &[&str] =
    &["WBRI", "WIRI", "WOTH", "AIND", "APKN", "ABAN", "CHNE", "AOTH", "BCRB", "BAFR", "BOTH", "MWBC", "MWBA", "MWAS", "MOTH", "OOTH", "NOBT"];

/// The agencies, in index order.
pub const AGENCIES: [AgencySpec; 4] = [
    AgencySpec {
        code: "CSC-NORTH",
        agency_type: "children_services",
        columns: ["Case ID", "Person ID", "Role", "Category", "Referral Date", "First Name", "Last Name", "DOB", "Gender", "Postcode", "NHS No"],
        date_format: "%d/%m/%Y",
        roles: ["Victim", "Suspected victim", "Alleged perpetrator", "Child displaying HSB"],
        case_types: ["CSA", "CSE", "HSB"],
        sex: ["Male", "Female"],
        ethnicity: &[],
        nhs_share: 0.6,
    },
    AgencySpec {
        code: "POL-NORTH",
        agency_type: "police",
        columns: ["crime_ref", "nominal_id", "involvement", "flag", "date_reported", "forenames", "surname", "birth_date", "sex", "post_code", ""],
        date_format: "%Y-%m-%d",
        roles: ["VICTIM", "VICTIM (SUSPECTED)", "SUSPECT", "SUSPECT (U18 HSB)"],
        case_types: ["CSA FLAG", "CSE FLAG", "HSB FLAG"],
        sex: ["M", "F"],
        ethnicity: POLICE_ETHNICITY,
        nhs_share: 0.0,
    },
    AgencySpec {
        code: "YOT-NORTH",
        agency_type: "yot",
        columns: ["YOT Case", "Client No", "Type", "Concern", "Opened", "Given Name", "Family Name", "Date of Birth", "Sex", "Postcode", "NHS Number"],
        date_format: "%d-%b-%Y",
        roles: ["Victim", "Possible victim", "Perpetrator", "HSB"],
        case_types: ["Sexual abuse", "Sexual exploitation", "Harmful sexual behaviour"],
        sex: ["Male", "Female"],
        ethnicity: DFE_ETHNICITY,
        nhs_share: 0.3,
    },
    AgencySpec {
        code: "VOL-NORTH",
        agency_type: "voluntary",
        columns: ["ref", "client", "role", "type", "date", "first", "last", "dob", "gender", "postcode", ""],
        date_format: "%d.%m.%Y",
        roles: ["client (disclosed)", "client (concern)", "abuser", "harmful behaviour"],
        case_types: ["sexual abuse", "exploitation", "hsb"],
        sex: ["male", "female"],
        ethnicity: &[],
        nhs_share: 0.1,
    },
];

/// Template items each agency records, with the column name it uses.
pub fn recorded_fields(agency: usize) -> &'static [(&'static str, &'static str)] {
    match agency {
        CSC => &[
            ("victim.status", "Victim Status"),
            ("victim.age_at_referral", "Age at Referral"),
            ("victim.sex", "Child Gender"),
            ("victim.ethnicity", "Ethnicity"),
            ("victim.looked_after_or_child_in_need", "LAC/CIN"),
            ("victim.cse_risk_level", "CSE Risk"),
            ("perpetrator.sex", "Alleged Perp Gender"),
            ("perpetrator.age", "Alleged Perp Age"),
            ("context.duration", "Duration"),
            ("context.abuse_types", "Abuse Types"),
            ("services.recorded_as", "Recorded As"),
            ("services.referral_type", "Referral Type"),
            ("case.concern_status", "Concern Status"),
        ],
        POL => &[
            ("victim.sex", "victim_sex"),
            ("victim.ethnicity", "victim_ethnicity"),
            ("victim.age_at_referral", "victim_age"),
            ("perpetrator.sex", "suspect_sex"),
            ("perpetrator.age", "suspect_age"),
            ("perpetrator.lone", "lone_offender"),
            ("context.locations", "locations"),
            ("services.police_investigation", "investigation"),
            ("services.investigation_outcome", "outcome"),
        ],
        YOT => &[
            ("victim.sex", "Victim Sex"),
            ("victim.ethnicity", "Ethnicity Code"),
            ("perpetrator.sex", "Client Sex"),
            ("perpetrator.age", "Client Age"),
            ("services.recorded_as", "Concern Type"),
            ("services.referral_type", "New or Re-referral"),
        ],
        _ => &[
            ("victim.status", "status"),
            ("victim.sex", "victim gender"),
            ("victim.age_at_referral", "age"),
            ("victim.sexual_orientation", "orientation"),
            ("context.abuse_types", "abuse"),
            ("context.frequency", "frequency"),
            ("case.concern_status", "concern"),
        ],
    }
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect()
}

/// How an agency's system holds the template items its extract does not
/// carry, as the pilot found: statutory services (children's services,
/// police, youth offending) hold most of them in narrative text; others
/// have no place for them. Extension items are left undeclared.
fn system(agency: usize) -> SystemSection {
    let spec = &AGENCIES[agency];
    let template = braid_template::Template::standard();
    let mapped = recorded_fields(agency);
    let unmapped: Vec<String> = template
        .fields()
        .iter()
        .filter(|field| field.section != braid_template::Section::Case && !mapped.iter().any(|(id, _)| *id == field.id))
        .map(|field| field.id.clone())
        .collect();
    if ["children_services", "police", "yot"].contains(&spec.agency_type) {
        SystemSection { free_text: unmapped, not_held: Vec::new() }
    } else {
        SystemSection { free_text: Vec::new(), not_held: unmapped }
    }
}

/// The mapping file an agency would write for its own extract.
pub fn mapping(agency: usize) -> Mapping {
    let spec = &AGENCIES[agency];
    let c = spec.columns;
    let optional = |name: &str| (!name.is_empty()).then(|| name.to_owned());
    let ethnicity_labels: BTreeMap<String, String> = if spec.ethnicity.is_empty() {
        BTreeMap::new()
    } else {
        let template = braid_template::Template::standard();
        let field = template.field("victim.ethnicity").unwrap_or_else(|_| unreachable!());
        spec.ethnicity.iter().zip(&field.categories).map(|(code, category)| ((*code).to_owned(), category.label.clone())).collect()
    };
    let sex_labels = labels(&[(spec.sex[0], "Male"), (spec.sex[1], "Female")]);
    let fields = recorded_fields(agency)
        .iter()
        .map(|(id, column)| {
            let labels = match *id {
                "victim.ethnicity" => ethnicity_labels.clone(),
                "victim.sex" | "perpetrator.sex" => sex_labels.clone(),
                _ => BTreeMap::new(),
            };
            ((*id).to_owned(), FieldColumn { column: (*column).to_owned(), labels, separator: ';' })
        })
        .collect();
    Mapping {
        system: system(agency),
        agency: AgencySection { code: spec.code.to_owned(), agency_type: spec.agency_type.to_owned() },
        columns: CaseColumns {
            record_ref: c[0].to_owned(),
            person_ref: c[1].to_owned(),
            role: Some(c[2].to_owned()),
            case_type: Some(c[3].to_owned()),
            event_date: c[4].to_owned(),
            incident_start: None,
            last_occurrence: None,
            date_format: spec.date_format.to_owned(),
        },
        identity: IdentityColumns {
            forename: optional(c[5]),
            surname: optional(c[6]),
            date_of_birth: optional(c[7]),
            date_of_birth_format: None,
            sex: optional(c[8]),
            postcode: optional(c[9]),
            nhs_number: optional(c[10]),
            ..IdentityColumns::default()
        },
        roles: labels(&[(spec.roles[0], "known_victim"), (spec.roles[1], "suspected_victim"), (spec.roles[2], "perpetrator"), (spec.roles[3], "hsb")]),
        case_types: labels(&[(spec.case_types[0], "CSA"), (spec.case_types[1], "CSE"), (spec.case_types[2], "HSB")]),
        outcome: None,
        fields,
    }
}
