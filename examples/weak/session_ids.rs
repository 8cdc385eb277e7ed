//! The weak server's guessable session ids: rmcp's own (random UUIDs) stay behind the ones
//! clients see, which are either a counter from 1001 (sequential) or rmcp's id cut to its first
//! 8 hex digits (random, but only 32 bits: short).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::HeaderValue;

pub const SESSION_HEADER: &str = "mcp-session-id";

/// How the ids clients see are made.
#[derive(Clone, Copy)]
pub enum ShownIds {
    Counted,
    Short,
}

#[derive(Clone)]
pub struct Sessions {
    shown: ShownIds,
    ids: Arc<Mutex<SessionIds>>,
}

#[derive(Default)]
struct SessionIds {
    shown_to_real: HashMap<String, String>,
    real_to_shown: HashMap<String, String>,
}

impl Sessions {
    pub fn new(shown: ShownIds) -> Self {
        Sessions {
            shown,
            ids: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SessionIds> {
        self.ids.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The id clients see for rmcp's `real` one (made on first sight).
    fn shown_for(&self, real: &str) -> String {
        let mut ids = self.lock();
        let count = ids.real_to_shown.len();
        let shown = ids
            .real_to_shown
            .entry(real.to_string())
            .or_insert_with(|| match self.shown {
                ShownIds::Counted => (1001 + count).to_string(),
                ShownIds::Short => real.chars().take(8).collect(),
            })
            .clone();
        ids.shown_to_real.insert(shown.clone(), real.to_string());
        shown
    }
}

/// Swaps the shown id for rmcp's on the way in and rmcp's for a shown one on the way out.
pub async fn swap_session_ids(
    axum::extract::State(sessions): axum::extract::State<Sessions>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let shown = request
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok());
    let real = shown.and_then(|id| sessions.lock().shown_to_real.get(id).cloned());
    if let Some(real) = real.and_then(|r| HeaderValue::from_str(&r).ok()) {
        request.headers_mut().insert(SESSION_HEADER, real);
    }
    let mut response = next.run(request).await;
    let real = response
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let Some(real) = real
        && let Ok(value) = HeaderValue::from_str(&sessions.shown_for(&real))
    {
        response.headers_mut().insert(SESSION_HEADER, value);
    }
    response
}
