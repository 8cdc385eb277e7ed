DROP TABLE backend_credentials;
