//! `runtime_settings` through `actors::storage`: set, replace, clear in one change set, and the
//! revision another instance polls — on both databases.

use std::collections::BTreeMap;

use actors::storage::runtime_settings;

use crate::fixture::{Backend, TestDb};

fn set_replace_and_clear_bump_the_revision(backend: Backend) {
    let t = TestDb::migrated(backend);
    t.db.run_blocking(|conn| {
        let start = runtime_settings::revision(conn)?;
        assert!(runtime_settings::list(conn)?.is_empty());
        let changes = BTreeMap::from([
            ("rate_limit.mcp_max".to_string(), Some("5".to_string())),
            (
                "auth.allow_registration".to_string(),
                Some("true".to_string()),
            ),
        ]);
        runtime_settings::apply(conn, &changes, "root")?;
        let after_set = runtime_settings::revision(conn)?;
        assert!(after_set > start, "a change bumps the revision");
        let stored = runtime_settings::list(conn)?;
        assert_eq!(stored.len(), 2);
        assert_eq!(stored["rate_limit.mcp_max"].value_json, "5");
        assert_eq!(stored["rate_limit.mcp_max"].updated_by, "root");

        // Replace one and clear the other in one change set; clearing an absent key is fine.
        let changes = BTreeMap::from([
            ("rate_limit.mcp_max".to_string(), Some("7".to_string())),
            ("auth.allow_registration".to_string(), None),
            ("oauth.dcr_enabled".to_string(), None),
        ]);
        runtime_settings::apply(conn, &changes, "ops")?;
        let stored = runtime_settings::list(conn)?;
        assert_eq!(stored.len(), 1);
        assert_eq!(stored["rate_limit.mcp_max"].value_json, "7");
        assert_eq!(stored["rate_limit.mcp_max"].updated_by, "ops");
        assert!(runtime_settings::revision(conn)? > after_set);
        Ok(())
    })
    .expect("runtime settings round trip");
}

#[test]
fn runtime_settings_round_trip_sqlite() {
    set_replace_and_clear_bump_the_revision(Backend::Sqlite);
}

#[test]
fn runtime_settings_round_trip_postgres() {
    set_replace_and_clear_bump_the_revision(Backend::Postgres);
}
