//! The CSA Centre's data collection template as types.
//!
//! The template's 37 numbered items and the marked extensions live in
//! `template.toml` (a copy of `shared/csa-data-collection-template.toml`, kept
//! in step by a test). [`Template::standard`] parses it into [`Field`]s with
//! their [`FieldKind`], numbered [`Category`] codes, ranges and conditional
//! rules ([`Condition`]). Agencies' own labels are turned into [`Value`]s
//! through a [`LabelMap`]; "Not known" is a recorded answer, distinct from a
//! missing one, and [`Completeness`] counts both per field.
//!
//! This crate does no I/O beyond parsing text it is given, and must not depend
//! on gRPC, storage or identity handling.

mod case;
mod completeness;
mod condition;
mod date;
mod labels;
mod model;
mod outcomes;

pub use case::{CaseType, Role};
pub use completeness::{Completeness, FieldCompleteness};

/// The agency types Braid knows (an agency's mapping names one; the node's
/// `[agencies]` config gives each uploading agency's).
pub const AGENCY_TYPES: [&str; 8] = ["children_services", "police", "yot", "health", "voluntary", "education", "probation", "victim_services"];
pub use condition::Condition;
pub use date::Date;
pub use labels::LabelMap;
pub use model::{Answers, Category, Field, FieldKind, Section, Template, Value, Wider, EXTENSIONS_TOML, MAX_TEXT_CHARS, MAX_WRITE_IN_CHARS, TEMPLATE_TOML};
pub use outcomes::OutcomeKind;

/// Errors from parsing the template or validating answers against it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// The template text itself is malformed.
    #[error("template: {0}")]
    Template(String),
    /// A field id that the template does not have.
    #[error("unknown template field `{0}`")]
    UnknownField(String),
    /// An agency label that the mapping does not know for this field.
    #[error("unknown label `{}` for template field `{field}`", quote(label))]
    UnknownLabel {
        /// The template field.
        field: String,
        /// The label as found in the extract (a category label, never identity).
        label: String,
    },
    /// A value of the wrong kind for the field, or outside its categories.
    #[error("invalid value for template field `{field}`: {reason}")]
    InvalidValue {
        /// The template field.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// An answer given to a conditional item whose condition is not met.
    #[error("template field `{field}` applies only when {condition}")]
    NotApplicable {
        /// The conditional field.
        field: String,
        /// The rule, as written in the template.
        condition: String,
    },
}

/// At most this many characters of a cell are quoted in a message.
pub const QUOTE_CHARS: usize = 40;

/// Whether a character hides text or turns it around when printed: the
/// zero-width space and word joiner, the byte-order mark, and the
/// bidirectional embeddings, overrides and isolates (U+202E writes what
/// follows right to left), so that a caller's text could read as something
/// it is not. The joiners that Persian, Urdu and Indic scripts need
/// (U+200C, U+200D) and the direction marks keyboards insert in mixed
/// Hebrew or Arabic text (U+200E, U+200F, U+061C) are ordinary text.
/// Also invisible: characters that render as nothing or as a blank where
/// no script needs them — the combining grapheme joiner, Hangul and
/// Mongolian fillers, a braille blank, the Khmer inherent vowels, musical
/// formatting, the invisible mathematical operators, interlinear
/// annotation marks, the line and paragraph separators, and the tag
/// characters (which can carry a whole hidden sentence).
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200b}'
            | '\u{2060}'..='\u{2064}'
            | '\u{feff}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{206f}'
            | '\u{034f}'
            | '\u{115f}'
            | '\u{1160}'
            | '\u{3164}'
            | '\u{ffa0}'
            | '\u{2800}'
            | '\u{180b}'..='\u{180f}'
            | '\u{17b4}'
            | '\u{17b5}'
            | '\u{fff9}'..='\u{fffb}'
            | '\u{1d173}'..='\u{1d17a}'
            | '\u{e0000}'..='\u{e007f}'
            | '\u{2028}'
            | '\u{2029}'
    )
}

/// Whether a caller's text shows anything: at least one letter, digit,
/// punctuation mark or symbol (a value of joiners, direction marks and
/// spaces alone reads as empty).
pub fn shows_anything(text: &str) -> bool {
    text.chars().any(|c| {
        !c.is_whitespace() && !c.is_control() && !is_invisible(c) && !matches!(c, '\u{200c}'..='\u{200f}' | '\u{061c}' | '\u{00ad}' | '\u{fe00}'..='\u{fe0f}')
    })
}

/// A caller's text made safe to print on one line: control characters (a
/// line break, an escape sequence) and invisible ones (see
/// [`is_invisible`]) are shown escaped.
pub fn printable(text: &str) -> String {
    text.chars().fold(String::new(), |mut shown, c| {
        if c.is_control() {
            shown.extend(c.escape_default());
        } else if is_invisible(c) {
            shown.extend(c.escape_unicode());
        } else {
            shown.push(c);
        }
        shown
    })
}

/// An error and its causes as a command reports them when it fails: what
/// returning the error from `main` prints, without the stack trace that
/// `RUST_BACKTRACE` would add to every refusal (a trace is for a panic, not
/// for a wrong flag).
pub fn error_report(error: &(dyn std::error::Error + 'static)) -> String {
    let mut report = format!("Error: {error}");
    let causes: Vec<String> = std::iter::successors(error.source(), |cause| cause.source()).map(ToString::to_string).collect();
    match causes.as_slice() {
        [] => {}
        [cause] => report.push_str(&format!("\n\nCaused by:\n    {cause}")),
        _ => {
            report.push_str("\n\nCaused by:");
            for (n, cause) in causes.iter().enumerate() {
                report.push_str(&format!("\n    {n}: {cause}"));
            }
        }
    }
    report
}

/// How a command's `main` ends: success, or its error reported (see
/// [`error_report`]) on stderr and a failing exit status.
pub fn exit_with<E: AsRef<dyn std::error::Error + Send + Sync + 'static>>(result: std::result::Result<(), E>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            let error: &(dyn std::error::Error + 'static) = error.as_ref();
            eprintln!("{}", error_report(error));
            std::process::ExitCode::FAILURE
        }
    }
}

/// A TOML file's parse error as a message that quotes nothing of the file:
/// the line and column, and what was wrong with any quoted value left out.
/// (The parser's own message shows the offending line; given the wrong
/// file — an extract, a scheme secret — that line is someone's identity or
/// the secret itself.)
pub fn toml_error(text: &str, error: &toml::de::Error) -> String {
    let mut message = String::new();
    let (mut quoted, mut escaped) = (false, false);
    // Values in backticks first: one may hold a double quote.
    for c in hide_given_values(error.message()).chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' if !quoted => {
                quoted = true;
                message.push_str("\"…\"");
            }
            '"' => quoted = false,
            _ if quoted => {}
            _ => message.push(c),
        }
    }
    // The parser's lines (what it found, then what it expected) as one.
    let message = printable(&message.trim().replace('\n', "; "));
    match error.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message,
    }
}

/// A parser's message with the value it quotes from the file (in
/// backticks: `unknown variant `x``, `invalid type: integer `7``) left out,
/// up to what is expected (which the program holds) or to the end; the
/// name of an unknown or a repeated key, which the user needs to find it,
/// stays, quoted short ([`quote`]).
fn hide_given_values(message: &str) -> String {
    let Some(open) = message.find('`') else {
        return message.to_owned();
    };
    let (before, after) = message.split_at(open);
    // The value may hold backticks, or text like the tail, of its own: it
    // runs to the last tail, or else to the last backtick.
    let rest = &after[1..];
    let end = ["`, expected", "`, there are no"].iter().filter_map(|tail| rest.rfind(tail)).max().or_else(|| rest.rfind('`'));
    let key = before.ends_with("field ") || before.ends_with("duplicate key ");
    match end {
        Some(end) if key => format!("{before}`{}{}", quote(&rest[..end]), &rest[end..]),
        Some(end) => format!("{before}`…{}", &rest[end..]),
        None => format!("{before}`…`"),
    }
}

/// A cell's text as quoted in a message: at most [`QUOTE_CHARS`]
/// characters, then an ellipsis and the full length, so that a runaway cell
/// is never echoed whole; made [`printable`], so a cell cannot add lines of
/// its own to the output or hide what it says.
pub fn quote(text: &str) -> String {
    let count = text.chars().count();
    let shown = printable(&text.chars().take(QUOTE_CHARS).collect::<String>());
    if count <= QUOTE_CHARS {
        shown
    } else {
        format!("{shown}… ({count} characters)")
    }
}

impl Error {
    /// What is wrong, without the field's name (for messages that name the
    /// field separately).
    pub fn reason(&self) -> String {
        match self {
            Error::UnknownLabel { label, .. } => format!("unknown label `{}`", quote(label)),
            Error::InvalidValue { reason, .. } => reason.clone(),
            Error::NotApplicable { condition, .. } => format!("applies only when {condition}"),
            Error::UnknownField(_) => "is not a template field".to_owned(),
            Error::Template(message) => message.clone(),
        }
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests;
