//! The export formats the record listings share (`mcp-requests`, `security-events`): JSON
//! lines and CSV, chosen with `format=`.

use actix_web::HttpResponse;
use serde_json::Value;

use super::AdminApiError;
use super::query::{Query, bad};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    Json,
    Jsonl,
    Csv,
}

/// `format`: `json` (default), `jsonl` or `csv`.
pub(super) fn format(q: &Query) -> Result<Format, AdminApiError> {
    match q.get("format").map(String::as_str).unwrap_or("json") {
        "json" => Ok(Format::Json),
        "jsonl" => Ok(Format::Jsonl),
        "csv" => Ok(Format::Csv),
        other => Err(bad(format!("format: `{other}` is not json, jsonl or csv"))),
    }
}

/// One JSON value per line.
pub(super) fn jsonl(values: impl Iterator<Item = Value>) -> HttpResponse {
    let mut body = String::new();
    for value in values {
        body.push_str(&value.to_string());
        body.push('\n');
    }
    HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .body(body)
}

/// A CSV download named `filename`: the header line `columns`, then one line per row.
pub(super) fn csv(
    filename: &str,
    columns: &str,
    rows: impl Iterator<Item = Vec<String>>,
) -> HttpResponse {
    let mut out = String::from(columns);
    out.push('\n');
    for fields in rows {
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "content-disposition",
            format!("attachment; filename=\"{filename}\""),
        ))
        .body(out)
}

/// An optional number as a CSV field (empty when absent).
pub(super) fn int(value: Option<i64>) -> String {
    value.map(|n| n.to_string()).unwrap_or_default()
}

/// RFC 4180 quoting; a leading `=`, `+`, `-` or `@` is prefixed with `'` so a spreadsheet
/// never runs a value as a formula.
fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=cmd()"), "'=cmd()");
    }
}
