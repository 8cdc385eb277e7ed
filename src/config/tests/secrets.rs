//! `[secrets]`: where the backend credentials' key file is, and that moving it needs a restart.

use super::{Scratch, defaults, env, keys_of, with_file};
use crate::config::restart_only_changes;

#[test]
fn the_key_file_defaults_to_the_data_directory() {
    let scratch = Scratch::new();
    let config = defaults(&scratch);
    assert_eq!(config.secrets.key_file, None);
    assert_eq!(
        config.secrets_key_file(),
        config.data_dir.join(actors::secrets::KEY_FILE_NAME)
    );
}

#[test]
fn a_configured_key_file_resolves_against_the_working_directory() {
    let scratch = Scratch::new();
    let config = scratch
        .load_toml("[secrets]\nkey_file = \"keys/backend.key\"\n")
        .unwrap();
    let expected = scratch.path().join("keys/backend.key");
    assert_eq!(config.secrets.key_file.as_deref(), Some(expected.as_path()));
    assert_eq!(config.secrets_key_file(), expected);

    let file = scratch.write("empty.toml", "");
    let from_env = scratch
        .load(
            &with_file(file),
            &env(&[("AUTHMCP__SECRETS__KEY_FILE", "/etc/gw/secret.key")]),
        )
        .unwrap();
    assert_eq!(
        from_env.secrets_key_file(),
        std::path::Path::new("/etc/gw/secret.key")
    );
    assert_eq!(
        restart_only_changes(&config, &from_env),
        ["secrets.key_file"]
    );
}

#[test]
fn an_empty_or_unknown_secrets_key_is_refused() {
    let scratch = Scratch::new();
    let report = scratch
        .load_toml("[secrets]\nkey_file = \" \"\nkey = \"inline\"\n")
        .unwrap_err();
    let mut keys = keys_of(&report);
    keys.sort();
    assert_eq!(keys, ["secrets.key", "secrets.key_file"]);
}
