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

diesel::joinable!(backend_credentials -> backends (backend_id));
diesel::joinable!(user_groups -> groups (group_id));
diesel::joinable!(user_groups -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    revisions,
    users,
    settings,
    backends,
    backend_credentials,
    groups,
    user_groups,
    policies
);
