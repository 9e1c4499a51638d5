//! Rows as read: the line each starts on, a quote never closed, and a row
//! that repeats another's case and person.

use std::cell::RefCell;
use std::io::Read;
use std::rc::Rc;

use super::{RowContext, RowIssue};
use crate::date::Date;

/// An extract's bytes as read, noting where each line feed is, so that a
/// row is numbered by the line it starts on in the file — blank lines
/// before it and line breaks in its quoted cells counted (the CSV reader's
/// own line count skips blank lines without counting them).
pub(super) struct LineBreaks<R> {
    inner: R,
    read: u64,
    seen: Rc<RefCell<Vec<u64>>>,
}

/// Where the line feeds read so far are, and how many lie before the
/// offset last asked about (offsets are asked about in order).
pub(super) struct Seen(Rc<RefCell<Vec<u64>>>, std::cell::Cell<usize>);

impl<R: Read> LineBreaks<R> {
    pub(super) fn new(inner: R) -> LineBreaks<R> {
        LineBreaks { inner, read: 0, seen: Rc::default() }
    }

    /// What this reader notes, for reading line numbers from.
    pub(super) fn seen(&self) -> Seen {
        Seen(Rc::clone(&self.seen), std::cell::Cell::new(0))
    }
}

impl<R: Read> Read for LineBreaks<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut seen = self.seen.borrow_mut();
        seen.extend(memchr::memchr_iter(b'\n', &buf[..n]).map(|at| self.read + at as u64));
        self.read += n as u64;
        Ok(n)
    }
}

impl Seen {
    /// The line (from 1) that the byte at `offset` is on.
    pub(super) fn line_of(&self, offset: u64) -> u64 {
        let seen = self.0.borrow();
        let mut before = self.1.get();
        if before > 0 && seen.get(before - 1).is_some_and(|&at| at >= offset) {
            before = seen.partition_point(|&at| at < offset);
        }
        while seen.get(before).is_some_and(|&at| at < offset) {
            before += 1;
        }
        self.1.set(before);
        before as u64 + 1
    }
}

impl RowContext<'_> {
    /// A row read from lines `line` to `end` with the header's cells, one
    /// of whose case or identity cells holds a line break: a quote opened
    /// and never closed has swallowed the lines after it into one cell
    /// (names, refs and dates never hold a line break), and the row is
    /// refused, naming the lines it took in. (A row it leaves with other
    /// than the header's cells is refused for that, with the same hint.)
    pub(super) fn unclosed_quote(&self, row: &csv::StringRecord, line: u64, end: u64) -> Option<RowIssue> {
        if end <= line || row.len() != self.width {
            return None;
        }
        let field = self.line_break_in(row)?;
        let taken = if end == line + 1 { format!("line {end} was") } else { format!("lines {} to {end} were", line + 1) };
        Some(RowIssue {
            row: line,
            field: field.to_owned(),
            reason: format!(
                "holds a line break, so the row runs on to line {end}: a quote opened and never closed reads the lines after it into one cell, and {taken} read into this row; it was not used (close the quote and pseudonymise again)"
            ),
        })
    }

    /// The first case or identity column whose cell holds a line break.
    fn line_break_in(&self, row: &csv::StringRecord) -> Option<&'static str> {
        let c = &self.columns;
        let columns = [
            ("record_ref", Some(c.record_ref)),
            ("person_ref", Some(c.person_ref)),
            ("role", c.role),
            ("case_type", c.case_type),
            ("outcome", c.outcome),
            ("event_date", Some(c.event_date)),
            ("forename", c.forename),
            ("surname", c.surname),
            ("date_of_birth", c.date_of_birth),
            ("sex", c.sex),
            ("postcode", c.postcode),
            ("nhs_number", c.nhs_number),
        ];
        columns.into_iter().find_map(|(field, column)| row.get(column?).filter(|cell| cell.contains(['\n', '\r'])).map(|_| field))
    }
}

/// A digest of a row's cells (spacing at their ends aside), to tell a row
/// repeated whole from one that names the same case and person with other
/// values.
pub(super) fn content_digest(row: &csv::StringRecord) -> u64 {
    // Multiply-rotate over 8-byte words: cheap, and a digest only tells
    // rows of one case and person apart (no one chooses them to collide).
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut digest = 0u64;
    let mut mix = |word: u64| digest = (digest.rotate_left(5) ^ word).wrapping_mul(K);
    for cell in row.iter() {
        let cell = cell.trim().as_bytes();
        mix(cell.len() as u64);
        for chunk in cell.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            mix(u64::from_le_bytes(word));
        }
    }
    digest
}

/// Warns of dates no record can truly have, all kept as written: a case's
/// date in the future or before 1900 (`13/08/0021`), a date of birth in the
/// future, a date of birth after the case's dates (a mistyped year, or day
/// and month read the wrong way round).
pub(super) fn implausible_dates(
    issue: &impl Fn(&str, String) -> RowIssue,
    warnings: &mut Vec<RowIssue>,
    today: Date,
    case_dates: [(&str, Option<Date>); 3],
    date_of_birth: Option<Date>,
) {
    for (field, date) in case_dates {
        if date.is_some_and(|date| date > today) {
            warnings.push(issue(field, "is in the future; kept as written".to_owned()));
        } else if date.is_some_and(|date| date.year < 1900) {
            warnings.push(issue(field, "is before 1900 (a mistyped year?); kept as written".to_owned()));
        }
    }
    if let Some(born) = date_of_birth {
        if born > today {
            warnings.push(issue("date_of_birth", "is in the future; kept as written".to_owned()));
        } else if let Some((field, _)) = case_dates.iter().find(|(_, date)| date.is_some_and(|date| date < born)) {
            warnings.push(issue("date_of_birth", format!("is after the {field}; kept as written")));
        }
    }
}
