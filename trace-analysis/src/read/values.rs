//! The JSON values in a span file: one document (compact or pretty-printed,
//! or several in a row), or one value per line (JSON Lines).

use serde_json::{Deserializer, Value as Json};

use super::ReadOutcome;

/// Calls `each` with every JSON value in `bytes` and the line it starts on
/// (`line N`); a value that does not parse is counted in `outcome`.
///
/// The layout is decided from the start of the file. It is JSON Lines when
/// the first non-blank line is a JSON value by itself, or when reading a
/// document fails on that first line while the next non-blank line is a
/// value by itself (a JSON Lines file whose first line is broken): then each
/// bad line is one skipped record. Otherwise the file is read as documents,
/// and the first that does not parse (a truncated pretty-printed file, say)
/// is one error with serde_json's line and column, ending the read.
pub(super) fn for_each_value(
    bytes: &[u8],
    outcome: &mut ReadOutcome,
    mut each: impl FnMut(&str, Json, &mut ReadOutcome),
) {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut lines = lines(bytes).filter(|(_, line)| !line.trim_ascii().is_empty());
    let Some((first, first_line)) = lines.next() else {
        return;
    };
    if parses_alone(first_line) {
        return each_line(bytes, outcome, each);
    }
    let mut stream = Deserializer::from_slice(bytes).into_iter::<Json>();
    let mut start = 0;
    while let Some(value) = stream.next() {
        match value {
            Ok(value) => {
                let line = line_of(bytes, start);
                each(&format!("line {line}"), value, outcome);
                start = stream.byte_offset();
            }
            Err(e)
                if start == 0
                    && e.line() == first
                    && lines.next().is_some_and(|(_, l)| parses_alone(l)) =>
            {
                return each_line(bytes, outcome, each);
            }
            Err(e) => return outcome.skip(|| describe(&e, 0)),
        }
    }
}

/// Every line by itself, numbered from 1, without its `\r\n` or `\n`.
fn lines(bytes: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    bytes
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .zip(1..)
        .map(|(line, n)| (n, line))
}

fn each_line(
    bytes: &[u8],
    outcome: &mut ReadOutcome,
    mut each: impl FnMut(&str, Json, &mut ReadOutcome),
) {
    for (n, line) in lines(bytes).filter(|(_, line)| !line.trim_ascii().is_empty()) {
        match serde_json::from_slice(line) {
            Ok(value) => each(&format!("line {n}"), value, outcome),
            Err(e) => outcome.skip(|| describe(&e, n - 1)),
        }
    }
}

fn parses_alone(line: &[u8]) -> bool {
    serde_json::from_slice::<Json>(line).is_ok()
}

/// The line of the first non-blank byte at or after `offset`.
fn line_of(bytes: &[u8], offset: usize) -> usize {
    let start = bytes[offset..]
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map_or(offset, |p| offset + p);
    1 + bytes[..start].iter().filter(|&&b| b == b'\n').count()
}

/// `line L column C: what` from a serde_json error, its line shifted by
/// `line_offset` (for a line read by itself).
pub(super) fn describe(error: &serde_json::Error, line_offset: usize) -> String {
    let text = error.to_string();
    let position = format!(" at line {} column {}", error.line(), error.column());
    let what = text.strip_suffix(&position).unwrap_or(&text);
    format!("line {} column {}: not JSON: {what}", error.line() + line_offset, error.column())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str) -> (Vec<(String, Json)>, ReadOutcome) {
        let mut outcome = ReadOutcome::default();
        let mut values = Vec::new();
        for_each_value(text.as_bytes(), &mut outcome, |at, value, _| {
            values.push((at.to_owned(), value))
        });
        (values, outcome)
    }

    #[test]
    fn one_value_per_line_with_bad_lines_counted() {
        let (values, outcome) = values("{\"a\":1}\n\n{\"a\":\nnot json\r\n[2]\n");
        assert_eq!(
            values,
            [
                ("line 1".to_owned(), serde_json::json!({"a":1})),
                ("line 5".to_owned(), serde_json::json!([2]))
            ]
        );
        assert_eq!(outcome.malformed_lines, 2);
        assert_eq!(
            outcome.first_error.as_deref(),
            Some("line 3 column 5: not JSON: EOF while parsing a value")
        );
    }

    #[test]
    fn a_broken_first_line_still_reads_as_json_lines() {
        let (values, outcome) = values("{\"a\" 1}\n{\"a\":2}\n");
        assert_eq!(values.len(), 1);
        assert_eq!(outcome.malformed_lines, 1);
        assert!(
            outcome.first_error.unwrap().starts_with("line 1 column 6: not JSON: expected `:`")
        );
    }

    #[test]
    fn a_pretty_printed_document_is_one_value() {
        let (values, outcome) = values("\u{feff}\n{\n  \"a\": [\n    1\n  ]\n}\n");
        assert_eq!(values, [("line 2".to_owned(), serde_json::json!({"a":[1]}))]);
        assert_eq!(outcome.malformed_lines, 0);
    }

    #[test]
    fn a_truncated_document_is_one_error_with_its_position() {
        let (values, outcome) =
            values("{\n  \"a\": [\n    {\"b\": 1},\n    {\"b\": 2},\n    {\"b\"");
        assert!(values.is_empty());
        assert_eq!(outcome.malformed_lines, 1);
        assert_eq!(
            outcome.first_error.as_deref(),
            Some("line 5 column 8: not JSON: EOF while parsing an object")
        );
    }

    #[test]
    fn documents_in_a_row_then_a_truncated_one() {
        let (values, outcome) = values("{\n\"a\": 1\n}\n{\n\"a\": 2\n}\n{\n\"a\":");
        let lines: Vec<&str> = values.iter().map(|(at, _)| at.as_str()).collect();
        assert_eq!(lines, ["line 1", "line 4"]);
        assert_eq!(outcome.malformed_lines, 1);
        assert_eq!(
            outcome.first_error.as_deref(),
            Some("line 8 column 4: not JSON: EOF while parsing a value")
        );
    }

    #[test]
    fn blank_input_has_no_values_and_no_errors() {
        for text in ["", "\n \n\t", "\u{feff}"] {
            let (values, outcome) = values(text);
            assert!(values.is_empty() && outcome.malformed_lines == 0, "{text:?}");
        }
    }
}
