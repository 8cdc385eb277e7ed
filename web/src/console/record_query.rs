//! What the record pages share (MCP activity, security events, audit log): the filter form's
//! query turned into the admin API's query — so the pages filter exactly as the API and its
//! exports do — the links built from it (export, live stream, next page), and the fields the
//! form shows again.
//!
//! The form sends times as UTC (`from`, `to`; what a `datetime-local` field sends); the API
//! takes unix milliseconds (`since`, `until`). Pages go by id (`before`: the last id shown), so
//! a record written meanwhile never shifts a page.

use std::collections::HashMap;

use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use actix_web::web;

use super::{chart, forms};
use actors::audit::AuditHandle;
use actors::storage::audit_records::AuditFilter;

use crate::admin_api::query::Query;
use crate::admin_api::{AdminApiError, audit};
use crate::state::AppState;

/// Rows per page.
pub(super) const PAGE_SIZE: i64 = 50;
/// Most rows an export link asks for (the API's own limit).
const EXPORT_LIMIT: &str = "10000";

/// The filters of one page request.
pub(super) struct RecordQuery {
    /// The admin API's query: the filters with `since`/`until` in unix ms, plus `before`.
    pub api: Query,
    /// The form's fields as sent (every one, empty when not sent), to fill it again.
    pub filled: HashMap<String, String>,
    /// A time that does not parse, as a sentence for the page.
    pub problem: Option<String>,
}

impl RecordQuery {
    /// Reads `fields` (and `from`, `to`, `before`) from the request's query; other keys are
    /// dropped. A time that does not parse becomes [`RecordQuery::problem`].
    pub(super) fn read(req: &HttpRequest, fields: &[&str]) -> RecordQuery {
        let sent: HashMap<String, String> =
            url::form_urlencoded::parse(req.query_string().as_bytes())
                .filter(|(_, v)| !v.trim().is_empty())
                .map(|(k, v)| (k.into_owned(), v.trim().to_string()))
                .collect();
        let mut api = HashMap::new();
        let mut filled = HashMap::new();
        for (key, value) in &sent {
            if fields.contains(&key.as_str()) || key == "before" {
                api.insert(key.clone(), value.clone());
            }
        }
        let mut problem = None;
        for (field, api_key, label) in [("from", "since", "From"), ("to", "until", "To")] {
            if let Some(text) = sent.get(field) {
                match chart::parse_utc(text) {
                    Some(ms) => {
                        api.insert(api_key.to_string(), ms.to_string());
                    }
                    None => {
                        problem = Some(format!(
                            "{label}: `{text}` is not a UTC time like 2026-01-31 14:00."
                        ))
                    }
                }
            }
        }
        // Every field present (empty when not sent), so the templates need no defaults.
        for key in fields.iter().chain(&["from", "to"]) {
            let value = sent.get(*key).cloned().unwrap_or_default();
            filled.insert(key.to_string(), value);
        }
        RecordQuery {
            api: web::Query(api),
            filled,
            problem,
        }
    }

    /// Adds a fixed filter (the activity page shows MCP requests only).
    pub(super) fn fix(&mut self, key: &str, value: &str) {
        self.api.insert(key.to_string(), value.to_string());
    }

    /// The filters as a query string (no page, no limit), with `extra` pairs appended.
    pub(super) fn link(&self, keys: &[&str], extra: &[(&str, &str)]) -> String {
        let mut pairs: Vec<(&str, &str)> = keys
            .iter()
            .filter_map(|k| self.api.get(*k).map(|v| (*k, v.as_str())))
            .collect();
        pairs.extend_from_slice(extra);
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
    }

    /// Export links to `api_path` with these filters, for the template: `jsonl` and `csv`.
    pub(super) fn exports(&self, api_path: &str, keys: &[&str]) -> HashMap<&'static str, String> {
        ["jsonl", "csv"]
            .into_iter()
            .map(|format| {
                let query = self.link(keys, &[("format", format), ("limit", EXPORT_LIMIT)]);
                (format, format!("{api_path}?{query}"))
            })
            .collect()
    }

    /// The page's own link with the form's fields: the first page, or (`before`) the rows
    /// older than that id.
    pub(super) fn page_link(&self, page_path: &str, before: Option<i64>) -> String {
        let mut pairs: Vec<(&str, &str)> = self
            .filled
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        pairs.sort();
        let before = before.map(|id| id.to_string());
        if let Some(id) = &before {
            pairs.push(("before", id.as_str()));
        }
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        format!("{page_path}?{query}")
    }

    /// Whether this is a later page (`before` given).
    pub(super) fn is_later_page(&self) -> bool {
        self.api.contains_key("before")
    }

    /// The store's filter (`filter`: the API's reading of [`RecordQuery::api`]) and the store
    /// to search, or what the page says instead: `not_running` while the store is not running,
    /// the API's reasons for a filter it refuses, or a time that does not parse.
    pub(super) fn searchable<F, S>(
        &self,
        filter: Result<F, AdminApiError>,
        store: Option<S>,
        not_running: &str,
    ) -> Result<(F, S), Problem> {
        let filter = filter.map_err(|error| {
            let (status, messages) = forms::messages(&error);
            Problem {
                status,
                message: messages.join(" "),
            }
        });
        match (filter, store) {
            (filter, None) => Err(Problem {
                status: filter.err().map_or(StatusCode::BAD_REQUEST, |p| p.status),
                message: not_running.to_string(),
            }),
            (Err(problem), _) => Err(problem),
            (Ok(_), Some(_)) if self.problem.is_some() => Err(Problem {
                status: StatusCode::BAD_REQUEST,
                message: self.problem.clone().unwrap_or_default(),
            }),
            (Ok(filter), Some(store)) => Ok((filter, store)),
        }
    }
}

impl RecordQuery {
    /// [`RecordQuery::searchable`] over the audit trail (the activity and audit log pages).
    pub(super) fn in_audit_trail<'s>(
        &self,
        state: &'s AppState,
    ) -> Result<(AuditFilter, &'s AuditHandle), Problem> {
        self.searchable(
            audit::filter(&self.api),
            state.audit.get(),
            "The audit trail is not running yet.",
        )
    }
}

/// Why a record page shows no rows: its status and the sentence above the table.
pub(super) struct Problem {
    pub status: StatusCode,
    pub message: String,
}

impl Problem {
    /// `what` could not be read (the caller logs why).
    pub(super) fn unreadable(what: &str) -> Problem {
        Problem {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: format!("{what} could not be read; try again in a moment."),
        }
    }

    /// The page's status and the sentence it shows: 200 and none without a problem.
    pub(super) fn shown(problem: Option<Problem>) -> (StatusCode, Option<String>) {
        problem.map_or((StatusCode::OK, None), |p| (p.status, Some(p.message)))
    }
}

/// The first `PAGE_SIZE` rows and the id to continue after, when `rows` (read with a limit of
/// `PAGE_SIZE + 1`) holds more.
pub(super) fn page<T>(mut rows: Vec<T>, id: impl Fn(&T) -> i64) -> (Vec<T>, Option<i64>) {
    if rows.len() as i64 > PAGE_SIZE {
        rows.truncate(PAGE_SIZE as usize);
        let last = rows.last().map(&id);
        (rows, last)
    } else {
        (rows, None)
    }
}
