//! Precedence: defaults < file < --env-file < environment < flags, and the env name schemes.

use std::path::PathBuf;
use std::time::Duration;

use super::{Scratch, defaults, env, with_file};
use crate::config::Sources;

#[test]
fn built_in_defaults_match_the_documented_values() {
    let scratch = Scratch::new();
    let cfg = defaults(&scratch);
    let data = scratch.path().join("data");
    assert_eq!(cfg.server.host, "0.0.0.0");
    assert_eq!(cfg.server.port, 8000);
    assert_eq!(cfg.server.public_base(), "http://localhost:8000");
    assert!(cfg.server.trusted_proxies.is_empty());
    assert_eq!(cfg.server.drain_timeout, Duration::from_millis(5000));
    assert_eq!(cfg.server.max_body_bytes, 4 * 1024 * 1024);
    assert_eq!(cfg.server.workers, 0);
    assert_eq!(cfg.data_dir, data);
    assert_eq!(
        cfg.database.url,
        format!("sqlite://{}", data.join("authmcp.db").display())
    );
    assert_eq!(cfg.database.pool_size, 8);
    assert!(cfg.auth.required);
    assert_eq!(cfg.auth.jwt_secret, None);
    assert_eq!(cfg.auth.access_token_ttl, Duration::from_secs(30 * 60));
    assert_eq!(cfg.auth.refresh_token_ttl, Duration::from_secs(7 * 86400));
    assert_eq!(cfg.auth.bcrypt_cost, 12);
    assert_eq!(cfg.auth.max_concurrent_hashes, 4);
    assert_eq!(
        cfg.auth.password_policy,
        actors::auth::passwords::PasswordPolicy::default()
    );
    assert_eq!(cfg.logging.level, "info");
    assert_eq!(cfg.logging.max_file_bytes, 10 * 1024 * 1024);
    assert_eq!(cfg.logging.max_files, 5);
    assert!(cfg.backends.is_empty());
}

#[test]
fn each_layer_overrides_the_one_below() {
    let scratch = Scratch::new();
    let file = scratch.write(
        "gw.toml",
        "[server]\nport = 1001\nhost = \"10.0.0.1\"\n[logging]\nlevel = \"debug\"\n[auth]\nbcrypt_cost = 5\n",
    );
    let env_file = scratch.write(".env", "PORT=1002\nHOST=10.0.0.2\nLOG_LEVEL=error\n");
    let sources = Sources {
        env_file: Some(env_file),
        ..with_file(file.clone())
    };

    // File over defaults (bcrypt_cost only in the file), env file over file.
    let cfg = scratch.load(&sources, &env(&[])).unwrap();
    assert_eq!(cfg.auth.bcrypt_cost, 5);
    assert_eq!(cfg.server.port, 1002);
    assert_eq!(cfg.logging.level, "error");

    // Process environment over the env file.
    let process = env(&[("PORT", "1003"), ("HOST", "10.0.0.3")]);
    let cfg = scratch.load(&sources, &process).unwrap();
    assert_eq!(cfg.server.port, 1003);
    assert_eq!(cfg.server.host, "10.0.0.3");
    assert_eq!(cfg.logging.level, "error");

    // Flags over everything.
    let flagged = Sources {
        host: Some("10.0.0.4".into()),
        port: Some(1004),
        log_level: Some("TRACE".into()),
        ..sources
    };
    let cfg = scratch.load(&flagged, &process).unwrap();
    assert_eq!(cfg.server.port, 1004);
    assert_eq!(cfg.server.host, "10.0.0.4");
    assert_eq!(cfg.logging.level, "trace");
    assert_eq!(cfg.server.public_base(), "http://localhost:1004");
}

#[test]
fn process_env_beats_env_file_even_across_spellings() {
    let scratch = Scratch::new();
    let env_file = scratch.write("gw.env", "AUTHMCP__SERVER__PORT=2001\n");
    let sources = Sources {
        env_file: Some(env_file),
        ..with_file(scratch.write("gw.toml", ""))
    };
    let cfg = scratch.load(&sources, &env(&[("PORT", "2002")])).unwrap();
    assert_eq!(cfg.server.port, 2002);
}

#[test]
fn seed_variable_names_map_to_their_keys() {
    let scratch = Scratch::new();
    let vars = env(&[
        ("HOST", "127.0.0.1"),
        ("PORT", "9105"),
        ("MCP_PUBLIC_URL", "https://mcp.example.com/"),
        ("TRUSTED_PROXIES", "10.0.0.0/8, ::1"),
        ("AUTH_REQUIRED", "false"),
        ("JWT_SECRET_KEY", "s3cret-value-from-the-seed"),
        ("JWT_ACCESS_TOKEN_EXPIRE_MINUTES", "60"),
        ("JWT_REFRESH_TOKEN_EXPIRE_DAYS", "2"),
        ("PASSWORD_MIN_LENGTH", "12"),
        ("PASSWORD_REQUIRE_UPPERCASE", "no"),
        ("PASSWORD_REQUIRE_LOWERCASE", "0"),
        ("PASSWORD_REQUIRE_DIGIT", "off"),
        ("PASSWORD_REQUIRE_SPECIAL", "FALSE"),
        ("LOG_LEVEL", "WARNING"),
        ("AUTH_SQLITE_PATH", "db/users.db"),
        ("JWT_ALGORITHM", "HS256"),
        ("GATEWAY_PORT", "not ours, ignored"),
    ]);
    let cfg = scratch
        .load(&with_file(scratch.write("gw.toml", "")), &vars)
        .unwrap();
    assert_eq!(cfg.server.host, "127.0.0.1");
    assert_eq!(cfg.server.port, 9105);
    assert_eq!(cfg.server.public_base(), "https://mcp.example.com");
    assert_eq!(cfg.server.trusted_proxies.len(), 2);
    assert!(!cfg.auth.required);
    assert_eq!(
        cfg.auth.jwt_secret.as_deref(),
        Some("s3cret-value-from-the-seed")
    );
    assert_eq!(cfg.auth.access_token_ttl, Duration::from_secs(3600));
    assert_eq!(cfg.auth.refresh_token_ttl, Duration::from_secs(2 * 86400));
    let policy = &cfg.auth.password_policy;
    assert_eq!(policy.min_length, 12);
    assert!(!policy.require_uppercase && !policy.require_lowercase);
    assert!(!policy.require_digit && !policy.require_special);
    assert_eq!(cfg.logging.level, "warning");
    let db = scratch.path().join("db/users.db");
    assert_eq!(cfg.database.url, format!("sqlite://{}", db.display()));

    // DATABASE_URL beats AUTH_SQLITE_PATH in the same layer.
    let both = env(&[
        ("AUTH_SQLITE_PATH", "x.db"),
        ("DATABASE_URL", "postgres://u@h/db"),
    ]);
    let cfg = scratch
        .load(&with_file(scratch.write("gw.toml", "")), &both)
        .unwrap();
    assert_eq!(cfg.database.url, "postgres://u@h/db");
}

#[test]
fn authmcp_prefixed_names_reach_every_scalar_key_case_insensitively() {
    let scratch = Scratch::new();
    let vars = env(&[
        ("AUTHMCP__SERVER__DRAIN_TIMEOUT_MS", "750"),
        ("authmcp__server__workers", "3"),
        ("AUTHMCP__SERVER__TRUSTED_PROXIES", "192.168.0.0/16"),
        ("AUTHMCP__DATA_DIR", "/srv/gw-data"),
        ("AUTHMCP__DATABASE__POOL_SIZE", "2"),
        ("AUTHMCP__AUTH__PASSWORD_POLICY__MIN_LENGTH", "20"),
        ("Authmcp__Logging__Max_Files", "9"),
        // The prefixed form wins over the seed name in the same layer.
        ("PORT", "1111"),
        ("AUTHMCP__SERVER__PORT", "2222"),
    ]);
    let cfg = scratch
        .load(&with_file(scratch.write("gw.toml", "")), &vars)
        .unwrap();
    assert_eq!(cfg.server.drain_timeout, Duration::from_millis(750));
    assert_eq!(cfg.server.workers, 3);
    assert_eq!(cfg.server.trusted_proxies[0].prefix, 16);
    assert_eq!(cfg.data_dir, PathBuf::from("/srv/gw-data"));
    assert_eq!(cfg.database.url, "sqlite:///srv/gw-data/authmcp.db");
    assert_eq!(cfg.database.pool_size, 2);
    assert_eq!(cfg.auth.password_policy.min_length, 20);
    assert_eq!(cfg.logging.max_files, 9);
    assert_eq!(cfg.server.port, 2222);
}

#[test]
fn empty_variables_count_as_unset() {
    let scratch = Scratch::new();
    let vars = env(&[
        ("PORT", ""),
        ("JWT_SECRET_KEY", ""),
        ("AUTHMCP__SERVER__HOST", ""),
    ]);
    let cfg = scratch
        .load(&with_file(scratch.write("gw.toml", "")), &vars)
        .unwrap();
    assert_eq!(cfg, defaults(&scratch));
}

#[test]
fn data_dir_and_db_path_resolve_against_cwd_and_flags_win() {
    let scratch = Scratch::new();
    let file = scratch.write("gw.toml", "data_dir = \"state\"\n");
    let cfg = scratch.load(&with_file(file.clone()), &env(&[])).unwrap();
    assert_eq!(cfg.data_dir, scratch.path().join("state"));
    assert!(cfg.database.url.ends_with("/state/authmcp.db"));

    let flags = Sources {
        data_dir: Some("other".into()),
        db_path: Some("dbs/main.db".into()),
        ..with_file(file)
    };
    let vars = env(&[("DATABASE_URL", "postgres://u@h/db")]);
    let cfg = scratch.load(&flags, &vars).unwrap();
    assert_eq!(cfg.data_dir, scratch.path().join("other"));
    let db = scratch.path().join("dbs/main.db");
    assert_eq!(cfg.database.url, format!("sqlite://{}", db.display()));
}

#[test]
fn default_file_is_found_in_cwd_and_used_only_when_present() {
    let scratch = Scratch::new();
    let none = scratch.load(&Sources::default(), &env(&[])).unwrap();
    assert_eq!(none.server.port, 8000);
    scratch.write(
        crate::config::DEFAULT_CONFIG_FILE,
        "[server]\nport = 7777\n",
    );
    let found = scratch.load(&Sources::default(), &env(&[])).unwrap();
    assert_eq!(found.server.port, 7777);
    assert_eq!(found.server.public_base(), "http://localhost:7777");
}

#[test]
fn missing_config_or_env_file_is_an_error_naming_the_path() {
    let scratch = Scratch::new();
    let missing = scratch.path().join("nope.toml");
    let report = scratch
        .load(&with_file(missing.clone()), &env(&[]))
        .unwrap_err();
    assert_eq!(report.errors.len(), 1);
    assert_eq!(report.errors[0].source, missing.display().to_string());
    assert!(report.to_string().contains("not found"), "{report}");

    let sources = Sources {
        env_file: Some("missing.env".into()),
        ..Sources::default()
    };
    let report = scratch.load(&sources, &env(&[])).unwrap_err();
    assert_eq!(report.errors[0].source, "missing.env");
}

#[test]
fn sources_from_cli_args() {
    let args = crate::cli::StartArgs {
        sources: crate::cli::SourceArgs {
            config: Some("c.toml".into()),
            env_file: Some(".env".into()),
            data_dir: Some("d".into()),
            db_path: Some("x.db".into()),
        },
        host: Some("::".into()),
        port: Some(1),
        log_level: Some("debug".into()),
    };
    let s = Sources::from_start(&args);
    assert_eq!(s.config_file, Some(PathBuf::from("c.toml")));
    assert_eq!((s.host.as_deref(), s.port), (Some("::"), Some(1)));
    let s = Sources::from_args(&args.sources);
    assert_eq!((s.host, s.port, s.log_level), (None, None, None));
    assert_eq!(s.db_path, Some(PathBuf::from("x.db")));
}
