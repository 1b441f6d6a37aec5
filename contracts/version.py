"""The wire schema version. Bump the major part on any change a consumer could notice."""

SCHEMA_VERSION = "1.0"
SCHEMA_MAJOR = SCHEMA_VERSION.split(".", 1)[0]
