"""The wire schema version. Bump the major part on any change a consumer could notice."""

SCHEMA_VERSION = "1.1"  # 1.1: `sensitive` on Gather, GatheredInput and KeyPress
SCHEMA_MAJOR = SCHEMA_VERSION.split(".", 1)[0]
