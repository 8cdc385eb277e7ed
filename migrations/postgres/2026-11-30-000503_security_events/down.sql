DROP TABLE tool_definition_hashes;
DROP TABLE security_events;
