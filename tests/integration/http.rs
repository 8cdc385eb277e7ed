//! A small HTTP client for tests (awc on the actix test runtime), returning status, headers and
//! the JSON body so assertions read plainly.

use awc::http::header::HeaderMap;
use serde_json::Value;

pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

fn client() -> awc::Client {
    awc::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .finish()
}

pub async fn get(url: &str, token: Option<&str>) -> Reply {
    let mut request = client().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let mut response = request.send().await.expect("request failed");
    let bytes = response.body().limit(1 << 20).await.unwrap_or_default();
    Reply {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

pub async fn post_raw(url: &str, token: Option<&str>, content_type: &str, body: Vec<u8>) -> Reply {
    let mut request = client()
        .post(url)
        .insert_header(("content-type", content_type));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let mut response = request.send_body(body).await.expect("request failed");
    let bytes = response.body().limit(1 << 20).await.unwrap_or_default();
    Reply {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

pub async fn post_json(url: &str, token: Option<&str>, body: &Value) -> Reply {
    post_raw(
        url,
        token,
        "application/json",
        serde_json::to_vec(body).unwrap(),
    )
    .await
}
