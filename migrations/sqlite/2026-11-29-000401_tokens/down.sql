DROP TABLE api_tokens;
DROP TABLE refresh_tokens;
DROP TABLE token_families;
DELETE FROM revisions WHERE name IN ('revocations', 'api_tokens');
