"""Message payloads: Multi Format Schema Objects that point at the committed JSON Schemas.

`schemaFormat` is JSON Schema draft-07 and `schema` a `$ref` to the committed file in
`contracts/schemas/` (a `$defs` entry of it for one event type). The files declare draft
2020-12 but use no keyword that draft-07 reads differently (a test checks it), and they carry
pydantic's OpenAPI-style `discriminator` object, which an AsyncAPI Schema Object (where
`discriminator` is a string) would refuse: under the draft-07 format the parser validates them
against the draft-07 meta-schema, where it is an unknown keyword, ignored. Two payloads have no
file and are inline: `discover` (the model has no committed schema) and dead letters (any body,
as it was published).
"""

from __future__ import annotations

from typing import Any

from contracts.asyncapi.refs import ref

# Relative to the document: the parser resolves `$ref`s from the document's directory.
SCHEMA_REF_DIR = "./schemas"
SCHEMA_FORMAT = "application/schema+json;version=draft-07"
# Messages whose payload is inline, not a file of contracts/schemas/ (see the module doc).
INLINE_PAYLOADS = frozenset({"discover", "deadLetter"})


def schema_file(file_name: str, definition: str | None = None) -> dict[str, Any]:
    target = f"{SCHEMA_REF_DIR}/{file_name}"
    if definition is not None:
        target += f"#/$defs/{definition}"
    return inline(ref(target))


def inline(schema: dict[str, Any]) -> dict[str, Any]:
    return {"schemaFormat": SCHEMA_FORMAT, "schema": schema}
