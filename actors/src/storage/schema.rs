//! The diesel view of the tables in `migrations/`; both dialects must match it.
//! Column types stay within what the MultiConnection maps (see migrations/README.md).

diesel::table! {
    revisions (name) {
        name -> Text,
        value -> BigInt,
    }
}

diesel::table! {
    users (id) {
        id -> BigInt,
        username -> Text,
        email -> Text,
        password_hash -> Text,
        role -> Text,
        enabled -> Integer,
        created_at -> BigInt,
        updated_at -> BigInt,
        last_login_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    settings (key) {
        key -> Text,
        value -> Text,
        updated_at -> BigInt,
    }
}

diesel::table! {
    backends (id) {
        id -> BigInt,
        name -> Text,
        transport -> Text,
        url -> Nullable<Text>,
        command -> Nullable<Text>,
        args_json -> Text,
        env_json -> Text,
        cwd -> Nullable<Text>,
        tool_prefix -> Nullable<Text>,
        enabled -> Integer,
        timeout_ms -> BigInt,
        health_interval_s -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
        display_name -> Nullable<Text>,
    }
}

diesel::table! {
    backend_credentials (backend_id) {
        backend_id -> BigInt,
        auth_type -> Text,
        auth_header -> Nullable<Text>,
        token_ciphertext -> Text,
        token_nonce -> Text,
        updated_at -> BigInt,
    }
}

diesel::table! {
    backend_oauth (backend_id) {
        backend_id -> BigInt,
        grant_type -> Text,
        token_url -> Nullable<Text>,
        client_id -> Text,
        client_secret_ciphertext -> Nullable<Text>,
        client_secret_nonce -> Nullable<Text>,
        scope -> Nullable<Text>,
        resource -> Nullable<Text>,
        refresh_token_ciphertext -> Nullable<Text>,
        refresh_token_nonce -> Nullable<Text>,
        updated_at -> BigInt,
    }
}

diesel::table! {
    backend_token_state (backend_name) {
        backend_name -> Text,
        configured_fingerprint -> Text,
        refresh_token_ciphertext -> Text,
        refresh_token_nonce -> Text,
        updated_at -> BigInt,
    }
}

diesel::table! {
    token_families (sid) {
        sid -> Text,
        user_id -> BigInt,
        client_id -> Nullable<Text>,
        created_at -> BigInt,
        expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> BigInt,
        token_hash -> Text,
        family_id -> Text,
        user_id -> BigInt,
        client_id -> Nullable<Text>,
        scope -> Nullable<Text>,
        resource -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
        replaced_by -> Nullable<BigInt>,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> BigInt,
        user_id -> BigInt,
        name -> Text,
        token_hash -> Text,
        prefix -> Text,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
        expires_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    groups (id) {
        id -> BigInt,
        name -> Text,
        description -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    user_groups (user_id, group_id) {
        user_id -> BigInt,
        group_id -> BigInt,
    }
}

diesel::table! {
    policies (id) {
        id -> BigInt,
        subject -> Text,
        effect -> Text,
        backends_json -> Text,
        tools_json -> Nullable<Text>,
        prompts_json -> Nullable<Text>,
        resources_json -> Nullable<Text>,
        description -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    oauth_clients (client_id) {
        client_id -> Text,
        client_secret_hash -> Nullable<Text>,
        client_secret_expires_at -> Nullable<BigInt>,
        registration_token_hash -> Nullable<Text>,
        client_name -> Nullable<Text>,
        redirect_uris_json -> Text,
        grant_types_json -> Text,
        response_types_json -> Text,
        token_endpoint_auth_method -> Text,
        scope -> Nullable<Text>,
        metadata_json -> Text,
        source -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    authorization_codes (code_hash) {
        code_hash -> Text,
        client_id -> Text,
        user_id -> BigInt,
        redirect_uri -> Text,
        scope -> Text,
        resource -> Text,
        code_challenge -> Text,
        nonce -> Nullable<Text>,
        auth_time -> BigInt,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
        replayed_at -> Nullable<BigInt>,
        family_sid -> Nullable<Text>,
    }
}

diesel::table! {
    oauth_consents (user_id, client_id, resource) {
        user_id -> BigInt,
        client_id -> Text,
        resource -> Text,
        scope -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    audit_records (id) {
        id -> BigInt,
        at_ms -> BigInt,
        kind -> Text,
        event -> Nullable<Text>,
        user_id -> Nullable<BigInt>,
        username -> Nullable<Text>,
        method -> Nullable<Text>,
        backend -> Nullable<Text>,
        item -> Nullable<Text>,
        outcome -> Text,
        error_code -> Nullable<BigInt>,
        latency_us -> Nullable<BigInt>,
        ip -> Nullable<Text>,
        details -> Nullable<Text>,
        prev_hash -> Text,
        hash -> Text,
    }
}

diesel::table! {
    security_events (id) {
        id -> BigInt,
        at_ms -> BigInt,
        event_type -> Text,
        severity -> Text,
        user_id -> Nullable<BigInt>,
        username -> Nullable<Text>,
        ip -> Nullable<Text>,
        endpoint -> Nullable<Text>,
        details -> Nullable<Text>,
    }
}

diesel::table! {
    tool_definition_hashes (backend, tool) {
        backend -> Text,
        tool -> Text,
        hash -> Text,
        updated_at_ms -> BigInt,
    }
}

diesel::joinable!(backend_credentials -> backends (backend_id));
diesel::joinable!(backend_oauth -> backends (backend_id));
diesel::joinable!(token_families -> users (user_id));
diesel::joinable!(refresh_tokens -> token_families (family_id));
diesel::joinable!(api_tokens -> users (user_id));
diesel::joinable!(user_groups -> groups (group_id));
diesel::joinable!(user_groups -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    revisions,
    users,
    settings,
    backends,
    backend_credentials,
    backend_oauth,
    backend_token_state,
    token_families,
    refresh_tokens,
    api_tokens,
    groups,
    user_groups,
    policies,
    oauth_clients,
    authorization_codes,
    oauth_consents,
    audit_records,
    security_events,
    tool_definition_hashes,
    tool_approvals
);

diesel::table! {
    runtime_settings (key) {
        key -> Text,
        value_json -> Text,
        updated_at -> BigInt,
        updated_by -> Text,
    }
}

diesel::table! {
    tool_approvals (backend, tool) {
        backend -> Text,
        tool -> Text,
        approved_hash -> Text,
        approved_definition -> Text,
        approved_by -> Nullable<Text>,
        approved_at_ms -> BigInt,
        pending_hash -> Nullable<Text>,
        pending_definition -> Nullable<Text>,
        changed_at_ms -> Nullable<BigInt>,
    }
}
