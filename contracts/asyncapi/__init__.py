"""The AsyncAPI 3.0 document of the bus, generated from `contracts/` and committed.

`python -m contracts.asyncapi` (or `make schemas`) rewrites `contracts/asyncapi.json`; a unit
test fails when it drifts, and another validates it with the AsyncAPI project's own parser
(`tools/asyncapi/validate.mjs`); `make docs` renders it to HTML.

One module per part of the document:

- `document`: the whole document, its committed text, and writing it.
- `channels` (with `parameters`): routing-key patterns on exchanges, and queues.
- `operations`: who sends and who receives on which channel.
- `messages` (with `examples`): `components.messages`, with example bodies the models made.
- `bindings`: how AMQP maps onto AsyncAPI (channel, operation and message bindings).
- `payloads`: how a payload points at the committed JSON Schemas of `contracts/schemas/`.
- `refs`: the `$ref` pointers inside the document.
"""

from contracts.asyncapi.bindings import BINDING_VERSION
from contracts.asyncapi.document import DOCUMENT_PATH, document, generate, write
from contracts.asyncapi.payloads import INLINE_PAYLOADS, SCHEMA_FORMAT, SCHEMA_REF_DIR

__all__ = [
    "BINDING_VERSION",
    "DOCUMENT_PATH",
    "INLINE_PAYLOADS",
    "SCHEMA_FORMAT",
    "SCHEMA_REF_DIR",
    "document",
    "generate",
    "write",
]
