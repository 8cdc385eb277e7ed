//! The console's stylesheet and script, compiled in and served under names that carry a hash
//! of their content: a new build changes the URL, so browsers may cache them for a year.

use std::sync::LazyLock;

use actix_web::{HttpResponse, get, web};
use sha2::{Digest, Sha256};

const CSS: &str = include_str!("../../../templates/admin/console.css");
const JS: &str = include_str!("../../../templates/admin/console.js");

struct Asset {
    /// `console.<hash>.css`
    file: String,
    body: &'static str,
    content_type: &'static str,
}

fn hashed(stem: &str, ext: &str, body: &'static str, content_type: &'static str) -> Asset {
    let digest = Sha256::digest(body.as_bytes());
    let hash: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    Asset {
        file: format!("{stem}.{hash}.{ext}"),
        body,
        content_type,
    }
}

static ASSETS: LazyLock<[Asset; 2]> = LazyLock::new(|| {
    [
        hashed("console", "css", CSS, "text/css; charset=utf-8"),
        hashed("console", "js", JS, "text/javascript; charset=utf-8"),
    ]
});

/// The URLs pages link to.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct AssetUrls {
    pub css: String,
    pub js: String,
}

pub(crate) fn urls() -> AssetUrls {
    AssetUrls {
        css: format!("/admin/static/{}", ASSETS[0].file),
        js: format!("/admin/static/{}", ASSETS[1].file),
    }
}

#[get("/admin/static/{file}")]
async fn serve(file: web::Path<String>) -> HttpResponse {
    match ASSETS.iter().find(|a| a.file == *file) {
        Some(asset) => HttpResponse::Ok()
            .content_type(asset.content_type)
            .insert_header(("cache-control", "public, max-age=31536000, immutable"))
            .insert_header(("x-content-type-options", "nosniff"))
            .body(asset.body),
        None => HttpResponse::NotFound()
            .insert_header(("cache-control", "no-store"))
            .json(serde_json::json!({
                "error": "not_found",
                "detail": format!("No console asset `{file}` (asset names change with each build; reload the page)."),
            })),
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(serve);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_names_carry_their_content_hash() {
        let urls = urls();
        assert!(
            urls.css.starts_with("/admin/static/console."),
            "{}",
            urls.css
        );
        assert!(urls.css.ends_with(".css"));
        assert!(urls.js.ends_with(".js"));
        assert_ne!(
            hashed("a", "css", "x", "").file,
            hashed("a", "css", "y", "").file
        );
    }
}
