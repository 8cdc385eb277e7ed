//! `[metrics]`: the scrape token, inline or from a file, kept only as its digest.

use super::{Scratch, env, keys_of, with_file};

#[test]
fn metrics_are_on_without_a_scrape_token_by_default() {
    let scratch = Scratch::new();
    let config = scratch.load_toml("").unwrap();
    assert!(config.metrics.enabled);
    assert_eq!(config.metrics.scrape_token_sha256, None);
}

#[test]
fn the_scrape_token_is_kept_as_its_digest_from_the_file_or_the_env() {
    let scratch = Scratch::new();
    let token = "a-scrape-token-of-enough-length";
    let digest = Some(actors::auth::clients::sha256_hex(token));
    scratch.write("metrics-token", &format!("{token}\n"));
    let config = scratch
        .load_toml("[metrics]\nscrape_token_file = \"metrics-token\"\n")
        .unwrap();
    assert_eq!(config.metrics.scrape_token_sha256, digest);
    assert!(!format!("{config:?}").contains(token), "the token leaks");

    let file = scratch.write("empty.toml", "");
    let from_env = scratch
        .load(
            &with_file(file),
            &env(&[("AUTHMCP__METRICS__SCRAPE_TOKEN", token)]),
        )
        .unwrap();
    assert_eq!(from_env.metrics.scrape_token_sha256, digest);
}

#[test]
fn short_missing_or_doubled_scrape_tokens_are_refused() {
    let scratch = Scratch::new();
    let report = scratch
        .load_toml("[metrics]\nscrape_token = \"short\"\nenabled = \"yes\"\n")
        .unwrap_err();
    let keys = keys_of(&report);
    assert!(
        keys.contains(&"metrics.scrape_token".to_string()),
        "{keys:?}"
    );
    assert!(keys.contains(&"metrics.enabled".to_string()), "{keys:?}");

    let report = scratch
        .load_toml("[metrics]\nscrape_token_file = \"absent\"\n")
        .unwrap_err();
    assert_eq!(keys_of(&report), ["metrics.scrape_token_file"]);

    scratch.write("t", "another-scrape-token-long-enough");
    let report = scratch
        .load_toml(
            "[metrics]\nscrape_token = \"a-scrape-token-of-enough-length\"\nscrape_token_file = \"t\"\n",
        )
        .unwrap_err();
    assert_eq!(keys_of(&report), ["metrics.scrape_token_file"]);
}
