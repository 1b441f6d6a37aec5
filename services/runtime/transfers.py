"""Where a reply may transfer a call: the operator's allowlist, DTMF_TRANSFER_ALLOW.

A `transfer` reaches outside the call: a compromised or buggy service could send callers
to a premium-rate number (toll fraud). The edge dials only targets this allowlist permits,
and dials them in the normalised form that was checked, so the check and the dialer never
read one string two ways.

The setting is a comma-separated list of entries; empty or unset allows nothing:

- `+<digits>`: an E.164 prefix (country code first, 1-15 digits; spaces, `-`, `.`, `(`
  and `)` are ignored). It permits every E.164 number that starts with it: `+1800`.
- `sip:<user>@<host>[:<port>]` (or `sips:`): a SIP URI pattern. `*` in the user part
  matches any run of user characters (empty included); nothing else is a wildcard. The
  host is compared exactly, ignoring case and a trailing dot; the port exactly (no port
  permits only targets without one); the scheme exactly (`sip` does not permit `sips`).

A target is a number (optionally a `tel:` URI) or a SIP URI. It is refused, whatever the
allowlist says, unless it reads one way only:

- a number must be E.164 (`+` and the country code); visual separators are dropped;
  national numbers, `00` prefixes, letters and `tel:` parameters are refused;
- a SIP URI may have one `@`, a user of letters, digits and `+-_.!~`, a plain DNS name or
  IPv4 host, an optional port, and only the parameters `transport` and `user=phone`. No
  password, no headers (`?`), no escapes (`%`), no other parameters (`maddr` would send
  the call to another host than the one checked).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# What the caller hears instead of a transfer nobody allowed (documented in SECURITY.md).
TRANSFER_REFUSED_PROMPT = (
    "Sorry, I can't transfer your call right now. Please stay on the line for other options."
)

_SEPARATORS = re.compile(r"[ \-.()]")
_E164 = re.compile(r"\+[1-9][0-9]{0,14}")
# ASCII only: with re.IGNORECASE alone, [a-z] also matches the Kelvin sign and the like.
_SIP = re.compile(
    r"(?P<scheme>sips?):(?P<user>[a-z0-9+\-_.!~]+)@(?P<host>[a-z0-9.\-]+)"
    r"(?::(?P<port>[0-9]{1,5}))?(?P<params>(?:;[^;]*)*)",
    re.IGNORECASE | re.ASCII,
)
_SIP_SCHEME = re.compile(r"sips?:", re.IGNORECASE | re.ASCII)
_SIP_PATTERN_USER = re.compile(r"[A-Za-z0-9+\-_.!~*]+")
_HOST_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?")
_TRANSPORTS = ("udp", "tcp", "tls", "sctp", "ws", "wss")
_PARAMS_ALLOWED = frozenset({*(f"transport={t}" for t in _TRANSPORTS), "user=phone"})


class TransferRefused(ValueError):
    """A target the edge will not dial; the message says why (for the log)."""


class BadAllowEntry(ValueError):
    """An allowlist entry that is neither an E.164 prefix nor a SIP URI pattern."""


@dataclass(frozen=True)
class _Number:
    digits: str  # "+" and the digits: the E.164 form

    def __str__(self) -> str:
        return self.digits


@dataclass(frozen=True)
class _SipUri:
    scheme: str
    user: str
    host: str
    port: int | None
    params: tuple[str, ...]

    def __str__(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        params = "".join(f";{p}" for p in self.params)
        return f"{self.scheme}:{self.user}@{self.host}{port}{params}"


@dataclass(frozen=True)
class _SipPattern:
    scheme: str
    user: re.Pattern[str]
    host: str
    port: int | None

    def permits(self, uri: _SipUri) -> bool:
        where = (uri.scheme, uri.host, uri.port) == (self.scheme, self.host, self.port)
        return where and self.user.fullmatch(uri.user) is not None


@dataclass(frozen=True)
class TransferAllowlist:
    """The parsed DTMF_TRANSFER_ALLOW. The default (no entries) permits nothing."""

    prefixes: tuple[str, ...] = ()
    sip: tuple[_SipPattern, ...] = ()

    @classmethod
    def parse(cls, raw: str) -> TransferAllowlist:
        """Parse the setting; raises BadAllowEntry naming the entry and what is wrong."""
        if not raw.strip():
            return cls()
        prefixes: list[str] = []
        patterns: list[_SipPattern] = []
        entries = raw.split(",")
        for n, entry in enumerate(entries, start=1):
            where = f"entry {n} of {len(entries)} ({entry.strip()!r})"
            text = entry.strip()
            if not text:
                raise BadAllowEntry(f"{where} is empty (entries are separated by single commas)")
            if text.startswith("+"):
                prefixes.append(_prefix(text, where=where))
            else:
                patterns.append(_sip_pattern(text, where=where))
        return cls(prefixes=tuple(prefixes), sip=tuple(patterns))

    def permit(self, target: str) -> str:
        """The target as the edge dials it; raises TransferRefused when not permitted."""
        parsed = _target(target)
        if isinstance(parsed, _Number):
            if any(parsed.digits.startswith(prefix) for prefix in self.prefixes):
                return str(parsed)
        elif any(pattern.permits(parsed) for pattern in self.sip):
            return str(parsed)
        raise TransferRefused(f"{parsed} is not in DTMF_TRANSFER_ALLOW")


def _target(target: str) -> _Number | _SipUri:
    text = target.strip()
    if _SIP_SCHEME.match(text):
        return _sip_uri(text)
    number = _SEPARATORS.sub("", text[4:] if text[:4].lower() == "tel:" else text)
    if _E164.fullmatch(number) is None:
        raise TransferRefused("not an E.164 number (+ and country code) nor a SIP URI")
    return _Number(number)


def _sip_uri(text: str) -> _SipUri:
    match = _SIP.fullmatch(text)
    if match is None:
        raise TransferRefused("not a plain sip:user@host[:port] URI")
    params = tuple(p.lower() for p in match["params"].split(";")[1:])
    if not set(params) <= _PARAMS_ALLOWED:
        raise TransferRefused(f"SIP URI parameters {sorted(set(params) - _PARAMS_ALLOWED)}")
    return _SipUri(
        scheme=match["scheme"].lower(),
        user=match["user"],
        host=_host(match["host"]),
        port=_port(match["port"]),
        params=params,
    )


def _host(raw: str) -> str:
    host = raw.lower().removesuffix(".")
    if not raw.isascii() or not all(_HOST_LABEL.fullmatch(label) for label in host.split(".")):
        raise TransferRefused(f"SIP host {raw!r} is not a DNS name or IPv4 address")
    return host


def _port(raw: str | None) -> int | None:
    if raw is None:
        return None
    port = int(raw)
    if not 1 <= port <= 65535:
        raise TransferRefused(f"SIP port {port} out of range")
    return port


def _prefix(text: str, *, where: str) -> str:
    prefix = _SEPARATORS.sub("", text)
    if _E164.fullmatch(prefix) is None:
        raise BadAllowEntry(f"{where} is not an E.164 prefix: + then 1-15 digits, not 0 first")
    return prefix


def _sip_pattern(text: str, *, where: str) -> _SipPattern:
    scheme, _, rest = text.partition(":")
    user, at, hostport = rest.rpartition("@")
    host, _, port = hostport.partition(":")
    if scheme.lower() not in {"sip", "sips"} or not at or "@" in user:
        raise BadAllowEntry(f"{where} is neither +<E.164 prefix> nor sip:<user>@<host>[:port]")
    if _SIP_PATTERN_USER.fullmatch(user) is None:
        raise BadAllowEntry(f"{where}: the user part may hold letters, digits, +-_.!~ and *")
    if port and not (port.isascii() and port.isdigit()):
        raise BadAllowEntry(f"{where}: port {port!r} is not a number")
    try:
        checked_host, checked_port = _host(host), _port(port or None)
    except TransferRefused as error:
        raise BadAllowEntry(f"{where}: {error}") from None
    glob = "[^@]*".join(re.escape(part) for part in user.split("*"))
    return _SipPattern(scheme.lower(), re.compile(glob), checked_host, checked_port)
