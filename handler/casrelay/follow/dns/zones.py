"""DNS names as the Alidns automation compares them, and the split of a record name into zone and RR.

CAS hands the record's full name (``_dnsauth.www.example.com``) in its own spelling: any case, maybe with a
trailing dot, maybe in U-labels for an internationalised name. Alidns wants the zone (``DomainName``) and the
part in front of it (``RR``, ``@`` at the apex) separately, and it cannot tell them apart for us: a suffix
such as ``com.cn`` or a delegated ``shop.example.org`` is a zone only because the account holds it. So the
name is put in one canonical form (lower case, A-labels, no trailing dot) and matched against the zones the
account lists, the longest one first, on a label boundary only: ``badexample.com`` is not in ``example.com``.

Pure functions, no SDK: the split is the one rule here that decides which zone gets written to.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import idna

from ..exceptions import ZoneNotFound, record_not_automatable, zone_not_found

#: One label as it appears in a record name: LDH plus the underscore of ``_dnsauth`` and ``_acme-challenge``
#: (legal in DNS, refused by IDNA, which is why labels are checked one by one).
_ASCII_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
MAX_NAME = 253


def _label(label: str, raw: str) -> str:
    """One label in A-label form; raises ``ZoneNotFound`` (a record to create by hand) for a bad one."""
    if not label.isascii():
        try:
            label = idna.alabel(label).decode("ascii")
        except (idna.IDNAError, UnicodeError):
            raise record_not_automatable(ascii(raw[:100]), "a label is not a valid internationalised name") from None
    if not _ASCII_LABEL.fullmatch(label):
        raise record_not_automatable(ascii(raw[:100]), "not a valid DNS name")
    if label.startswith("xn--"):
        try:
            idna.decode(label)
        except (idna.IDNAError, UnicodeError):
            raise record_not_automatable(ascii(raw[:100]), "a label is not a valid A-label") from None
    return label


def normalise(name: str) -> str:
    """``name`` as it is compared and sent: no surrounding space, no trailing dot, lower case, A-labels.

    Non-ASCII input is first mapped as UTS #46 says (case folding, full-width dots and letters), so
    ``_dnsauth.Bücher.example`` and ``_dnsauth.xn--bcher-kva.example`` are one name. An empty name, an empty
    label (``a..b``) or a label no DNS name can hold raises ``ZoneNotFound``: nothing can be created for it.
    """
    raw = name
    text = name.strip()
    if text.endswith("."):
        text = text[:-1]
    if text.isascii():
        text = text.lower()
    else:
        try:
            text = idna.uts46_remap(text, std3_rules=False, transitional=False)
        except (idna.IDNAError, UnicodeError):
            raise record_not_automatable(ascii(raw[:100]), "not a valid internationalised name") from None
    if not text:
        raise record_not_automatable(ascii(raw[:100]), "the name is empty")
    labels = [_label(label, raw) for label in text.split(".")]
    result = ".".join(labels)
    if len(result) > MAX_NAME:
        raise record_not_automatable(ascii(raw[:100]), f"longer than {MAX_NAME} characters")
    return result


def canonical_zones(zones: Iterable[str]) -> list[str]:
    """The zones in canonical form; one that cannot be normalised can hold no valid name and is skipped."""
    found: list[str] = []
    for zone in zones:
        try:
            found.append(normalise(zone))
        except ZoneNotFound:  # a zone listed in a form no valid name can be in matches nothing
            continue
    return found


def find_zone(name: str, zones: Iterable[str]) -> str | None:
    """The longest of ``zones`` that holds ``name`` (equal to it, or ending in ``.`` + zone), or None.

    Longest, because an account can hold a zone and a delegated zone under it (``example.org`` and
    ``shop.example.org``): the record belongs in the one Alidns actually serves for the name.
    """
    wanted = normalise(name)
    matches = [z for z in canonical_zones(zones) if wanted == z or wanted.endswith("." + z)]
    return max(matches, key=len) if matches else None


def split(name: str, zones: Iterable[str]) -> tuple[str, str]:
    """``(zone, rr)`` for a full record name: ``_dnsauth.a.shop.example.org`` with zones ``example.org`` and
    ``shop.example.org`` is (``shop.example.org``, ``_dnsauth.a``); a name equal to its zone has RR ``@``.
    Raises ``ZoneNotFound`` when no zone holds the name."""
    wanted = normalise(name)
    zone = find_zone(wanted, zones)
    if zone is None:
        raise zone_not_found(wanted)
    return zone, "@" if wanted == zone else wanted[: -len(zone) - 1]
