"""A new service's name and keys: what is refused, and how they are spelled in its files."""

from __future__ import annotations

import keyword
import re
from collections.abc import Sequence

from contracts.keys import InvalidKey, normalize_key

# The service whose deployment a new service copies, with its names replaced.
TEMPLATE_SERVICE = "sales"
# Names that are taken: the kit's packages under services/ that are no consumer service, the
# template, and compose services that are no consumer service. The operator tools live in
# tools/, so their names are free for services.
RESERVED = frozenset(
    {"runtime", "edge"} | {TEMPLATE_SERVICE} | {"rabbitmq", "keypad", "prometheus"}
)
# A Python package name that is also a valid Kubernetes object name (RFC 1035 label):
# no underscores, which Kubernetes refuses in names, and no hyphens, which Python refuses.
NAME_PATTERN = re.compile(r"[a-z][a-z0-9]*")
MAX_NAME_LENGTH = 32


class ScaffoldError(Exception):
    """The scaffold refused; the message says why. Nothing was written."""


def check_name(name: str) -> None:
    if not NAME_PATTERN.fullmatch(name):
        raise ScaffoldError(
            f"invalid service name {name!r}: use a lower-case letter followed by lower-case "
            "letters and digits (it names a Python package and Kubernetes objects)"
        )
    if len(name) > MAX_NAME_LENGTH:
        raise ScaffoldError(f"service name {name!r} is longer than {MAX_NAME_LENGTH} characters")
    if name in RESERVED or keyword.iskeyword(name):
        raise ScaffoldError(f"service name {name!r} is reserved: choose another")


def parse_keys(text: str) -> list[str]:
    """`3` or `*,#` (as given to --keys) -> the keys, not yet checked."""
    return [item.strip() for item in text.split(",")]


def normalize_keys(raw: Sequence[str]) -> tuple[str, ...]:
    """The canonical keys, in the order given; refuses bad, empty and repeated keys."""
    if isinstance(raw, str):  # "12" is keys 1 and 2 only when written 1,2
        raw = parse_keys(raw)
    if not raw:
        raise ScaffoldError("at least one key is needed, e.g. --keys 3")
    found: list[str] = []
    for item in raw:
        if not item.strip():
            raise ScaffoldError(f"empty key in {','.join(raw)!r}: give keys like 3 or 1,2")
        try:
            key = normalize_key(item)
        except InvalidKey as exc:
            hint = "quote * and # in a shell: --keys '*,#'"
            raise ScaffoldError(f"{exc} ({hint})") from None
        if key in found:
            raise ScaffoldError(f"key {key} is given twice")
        found.append(key)
    return tuple(found)


def describe_keys(keys: Sequence[str]) -> str:
    """`key 3`, `keys 1 and 2`, `keys *, # and 0`."""
    if len(keys) == 1:
        return f"key {keys[0]}"
    return f"keys {', '.join(keys[:-1])} and {keys[-1]}"


def rename(text: str, name: str) -> str:
    """Replace the template service's name, as a whole word, in each of its spellings."""
    for old, new in (
        (TEMPLATE_SERVICE, name),
        (TEMPLATE_SERVICE.title(), name.title()),
        (TEMPLATE_SERVICE.upper(), name.upper()),
    ):
        text = re.sub(rf"\b{old}\b", new, text)
    return text


def check_renamed(text: str, what: str) -> None:
    for number, line in enumerate(text.splitlines(), start=1):
        if re.search(rf"\b{TEMPLATE_SERVICE}\b", line, re.IGNORECASE):
            raise ScaffoldError(f"{what} still mentions {TEMPLATE_SERVICE} on line {number}")
