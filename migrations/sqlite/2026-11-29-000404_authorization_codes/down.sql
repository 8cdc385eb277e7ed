DROP TABLE oauth_consents;
DROP TABLE authorization_codes;
