"""Hypothesis strategies for any instance of a JSON Schema, for the keywords ours use.

hypothesis-jsonschema does this in general, but it reaches into Hypothesis internals that
current Hypothesis no longer has; the schemas in contracts/schemas/ use a small subset of
JSON Schema, so this covers that subset, and refuses (NotImplementedError) any keyword it
does not know rather than generate less than the schema allows. Optional properties are
left out or present, unknown extra properties are added where the schema allows them
(receivers must ignore them), integers also come as integral floats (2.0 is an integer in
JSON Schema), and date-times cover every offset and fraction length the pattern allows.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from jsonschema import FormatChecker

_ANNOTATIONS = {"title", "description", "default", "examples", "$schema", "$id", "discriminator"}
_KNOWN = _ANNOTATIONS | {
    "$ref",
    "$defs",
    "oneOf",
    "anyOf",
    "const",
    "enum",
    "type",
    "properties",
    "required",
    "additionalProperties",
    "pattern",
    "format",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "items",
    "minItems",
    "maxItems",
}
_FORMATS = FormatChecker()

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    return _Builder(schema).strategy(schema)


class _Builder:
    """Builds every strategy once, up front: one per `$defs` entry, shared by its `$ref`s."""

    def __init__(self, root: dict[str, Any]) -> None:
        self._root = root
        self._refs: dict[str, st.SearchStrategy[Any]] = {}

    def strategy(self, schema: dict[str, Any] | bool) -> st.SearchStrategy[Any]:
        if schema is True or schema == {}:
            return json_values
        if not isinstance(schema, dict):
            raise NotImplementedError(f"schema {schema!r}")
        unknown = set(schema) - _KNOWN
        if unknown:
            raise NotImplementedError(f"keywords {sorted(unknown)}")
        if "$ref" in schema:
            return self._ref(schema["$ref"])
        if "oneOf" in schema or "anyOf" in schema:
            # Our alternatives exclude each other (distinct `type` consts, or null vs a value).
            alternatives = schema.get("oneOf", schema.get("anyOf"))
            return st.one_of([self.strategy(s) for s in alternatives])
        if "const" in schema:
            return st.just(schema["const"])
        if "enum" in schema:
            return st.sampled_from(schema["enum"])
        kind = schema.get("type")
        if kind == "object":
            return self._object(schema)
        if kind == "string":
            return _string(schema)
        if kind == "integer":
            low = schema.get("minimum", schema.get("exclusiveMinimum", -(2**63)) + 1)
            high = schema.get("maximum", schema.get("exclusiveMaximum", 2**63) - 1)
            ints = st.integers(min_value=low, max_value=high)
            return ints | ints.filter(lambda n: abs(n) < 2**53).map(float)
        if kind == "number":
            return st.floats(
                min_value=schema.get("minimum", schema.get("exclusiveMinimum")),
                max_value=schema.get("maximum", schema.get("exclusiveMaximum")),
                exclude_min="exclusiveMinimum" in schema,
                exclude_max="exclusiveMaximum" in schema,
                allow_nan=False,
                allow_infinity=False,
            )
        if kind == "boolean":
            return st.booleans()
        if kind == "null":
            return st.none()
        if kind == "array":
            return st.lists(
                self.strategy(schema.get("items", True)),
                min_size=schema.get("minItems", 0),
                max_size=min(schema.get("maxItems", 5), 5 + schema.get("minItems", 0)),
            )
        raise NotImplementedError(f"type {kind!r}")

    def _ref(self, ref: str) -> st.SearchStrategy[Any]:
        prefix = "#/$defs/"
        if not ref.startswith(prefix):
            raise NotImplementedError(ref)
        name = ref[len(prefix) :]
        if name not in self._refs:
            self._refs[name] = self.strategy(self._root["$defs"][name])
        return self._refs[name]

    def _object(self, schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
        properties: dict[str, Any] = schema.get("properties", {})
        required = set(schema.get("required", []))
        known = st.fixed_dictionaries(
            {n: self.strategy(s) for n, s in properties.items() if n in required},
            optional={n: self.strategy(s) for n, s in properties.items() if n not in required},
        )
        extra = schema.get("additionalProperties", True)
        if extra is False:
            return known
        names = st.text(min_size=1, max_size=8).filter(lambda n: n not in properties)
        extras = st.dictionaries(names, self.strategy(extra), max_size=2)
        return st.tuples(extras, known).map(lambda pair: {**pair[0], **pair[1]})


def _string(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    low, high = schema.get("minLength", 0), schema.get("maxLength")
    if "pattern" in schema:
        strings = st.from_regex(schema["pattern"], fullmatch=True).filter(
            lambda s: low <= len(s) <= (len(s) if high is None else high)
        )
    elif "format" in schema:
        raise NotImplementedError(f"format {schema['format']!r} without a pattern")
    else:
        strings = st.text(min_size=low, max_size=min(high or 50, 50 + low))
    if "format" in schema:
        # The pattern admits a few dates no calendar has (02-30): the format refuses them.
        strings = strings.filter(lambda s: _FORMATS.conforms(s, schema["format"]))
    return strings
