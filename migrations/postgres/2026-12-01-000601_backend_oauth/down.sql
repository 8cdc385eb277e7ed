DROP TABLE backend_token_state;
DROP TABLE backend_oauth;
