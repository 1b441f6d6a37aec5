"""DTMF_TRANSFER_ALLOW: which transfer targets the edge dials, and in which form."""

from __future__ import annotations

import pytest

from services.runtime.transfers import BadAllowEntry, TransferAllowlist, TransferRefused

ALLOW = TransferAllowlist.parse(
    "+1800, +44 20, sip:*@pbx.example.com, sips:support-*@Help.Example.com:5061"
)


@pytest.mark.parametrize(
    ("target", "dialled"),
    [
        ("+18005550100", "+18005550100"),
        # Visual separators and tel: URIs, dialled as the E.164 number that was checked.
        ("+1 (800) 555-0100", "+18005550100"),
        ("tel:+1-800-555-0100", "+18005550100"),
        ("TEL:+1.800.555.0100", "+18005550100"),
        ("+44 20 7946 0000", "+442079460000"),
        ("sip:alice@pbx.example.com", "sip:alice@pbx.example.com"),
        (
            "sip:+18005550100@pbx.example.com;user=phone",
            "sip:+18005550100@pbx.example.com;user=phone",
        ),
        # Host case and its trailing dot don't matter; the scheme's case neither.
        ("SIP:alice@PBX.Example.COM.", "sip:alice@pbx.example.com"),
        ("sip:alice@pbx.example.com;transport=TLS", "sip:alice@pbx.example.com;transport=tls"),
        ("sips:support-eu@help.example.com:5061", "sips:support-eu@help.example.com:5061"),
        ("  sip:alice@pbx.example.com  ", "sip:alice@pbx.example.com"),
    ],
)
def test_allowed_targets_are_dialled_normalised(target: str, dialled: str) -> None:
    assert ALLOW.permit(target) == dialled


@pytest.mark.parametrize(
    "target",
    [
        # Numbers: outside the prefixes, or not E.164 at all.
        "+19005550100",
        "+4430 1234 5678",
        "18005550100",  # no country code: what it reaches depends on the trunk
        "0018005550100",
        "+1-800-FLOWERS",
        "+\uff11\uff18\uff10\uff10\uff15\uff15\uff15\uff10\uff11\uff10\uff10",  # fullwidth digits
        "tel:+18005550100;ext=9",
        "tel:5550100;phone-context=+1800",
        "+1800555010012345",  # 16 digits
        # SIP: another host, or a URI that reads two ways.
        "sip:alice@evil.com",
        "sip:alice@pbx.example.com.evil.com",
        "sip:alice@evilpbx.example.com",
        "sip:+1800@evil.com;x=@pbx.example.com",
        "sip:alice@pbx.example.com@evil.com",
        "sip:alice@evil.com#@pbx.example.com",
        "sip:alice@evil.com?@pbx.example.com",
        "sip:alice@pbx.example.com;maddr=evil.com",
        "sip:alice@pbx.example.com?Route=%3Csip:evil.com%3E",
        "sip:alice:secret@pbx.example.com",
        "sip:al%69ce@pbx.example.com",
        "sip:alice@pbx%2eexample.com",
        "sip:alice@pbx.example.%63om",
        "sip:alice@pbx.example.\u212aom",  # the Kelvin sign lower-cases to k
        "<sip:alice@pbx.example.com>",
        '"PBX" <sip:alice@pbx.example.com>',
        "sip:ali ce@pbx.example.com",
        "sip:@pbx.example.com",
        "sip:pbx.example.com",
        "sip:*72@pbx.example.com",  # a feature code, not a user
        # A port the pattern does not name; sip where the pattern says sips.
        "sip:alice@pbx.example.com:5080",
        "sip:support-eu@help.example.com:5061",
        "sips:support-eu@help.example.com",
        "sips:sales@help.example.com:5061",
        "http://pbx.example.com/",
        " ",
    ],
)
def test_other_targets_are_refused(target: str) -> None:
    with pytest.raises(TransferRefused):
        ALLOW.permit(target)


def test_nothing_is_allowed_until_set() -> None:
    for raw in ("", "  "):
        with pytest.raises(TransferRefused, match="not in DTMF_TRANSFER_ALLOW"):
            TransferAllowlist.parse(raw).permit("+18005550100")
    with pytest.raises(TransferRefused):
        TransferAllowlist().permit("sip:alice@pbx.example.com")


def test_the_user_wildcard_stays_in_the_user_part() -> None:
    allow = TransferAllowlist.parse("sip:desk-*@pbx.example.com")
    assert allow.permit("sip:desk-12@pbx.example.com") == "sip:desk-12@pbx.example.com"
    assert allow.permit("sip:desk-@pbx.example.com") == "sip:desk-@pbx.example.com"
    for target in ("sip:sales@pbx.example.com", "sip:Desk-12@pbx.example.com"):
        with pytest.raises(TransferRefused):
            allow.permit(target)  # the user part is case-sensitive (RFC 3261)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("1800", "entry 1 of 1 .*neither"),
        ("+", "not an E.164 prefix"),
        ("+0800", "not an E.164 prefix"),
        ("+1800,", "entry 2 of 2 .*empty"),
        ("+1800,,+44", "entry 2 of 3 .*empty"),
        ("sip:pbx.example.com", "neither"),
        ("sip:*@", "not a DNS name"),
        ("sip:*@pbx.example.com:99999", "port 99999"),
        ("sip:*@pbx.example.com:50a", "is not a number"),
        ("sip:*@pbx.example.com;transport=tls", "not a DNS name"),
        ("sip:a b@pbx.example.com", "the user part"),
        ("sip:*@*.example.com", "not a DNS name"),
        ("sip:*@evil.com@pbx.example.com", "neither"),
        ("http://pbx.example.com", "neither"),
    ],
)
def test_malformed_entries_are_refused_naming_the_entry(raw: str, message: str) -> None:
    with pytest.raises(BadAllowEntry, match=message):
        TransferAllowlist.parse(raw)
