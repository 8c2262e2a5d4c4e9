"""Host-name rules for ``Domain`` and a CSR's names (its CN and its SubjectAlternativeNames).

CAS binds whatever names it is given, and a typo costs a paid package, so names are checked the way
a careful CA front end checks them before anything is spent: LDH labels of 1 to 63 octets, at most
253 octets in all, at least two labels, a non-numeric top-level label, no IP literals, a wildcard
only as the whole leftmost label, IDN converted to punycode with the ``idna`` package (UTS 46), and
no name twice.

A name must also end under a public suffix of the Public Suffix List's ICANN section (the
``publicsuffixlist`` package, which ships the list): no CA issues for ``printer.lan`` or
``host.internal``, nor for a public suffix itself (``co.uk``) or a wildcard over one (``*.co.uk``).
Exactly one trailing dot (the DNS root) is dropped before any rule sees the name; more are refused.
A label that mixes Latin letters with Cyrillic or Greek ones (``pаypal`` with a Cyrillic ``а``) is
a homograph and is refused, whether it is given in Unicode or as punycode.

Names made only of lower- or upper-case LDH labels take a fast path that skips ``idna``: that is
nearly every name, and the rules ``idna`` would apply to them are the regular expression's.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Sequence
from typing import Any

import idna

from ..errors import FieldError

MAX_DOMAINS = 5
#: The full stops UTS 46 maps to '.', so that 'example.com。' has its one trailing dot too.
_DOTS = ".\u3002\uff0e\uff61"
#: An LDH name whose labels cannot be A-labels (no '--' in the 3rd and 4th position): no ``idna`` needed.
_LDH_NAME = re.compile(r"(?:(?![a-z0-9][a-z0-9-]--)[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+"
                       r"(?![a-z0-9][a-z0-9-]--)[a-z0-9](?:[a-z0-9-]*[a-z0-9])?", re.IGNORECASE | re.ASCII)
#: The scripts whose letters pass for Latin ones.
_LOOKALIKE_SCRIPTS = frozenset({"CYRILLIC", "GREEK"})

_psl: Any = None


def public_suffix_list() -> Any:
    """The ICANN section of the Public Suffix List, built on first use and kept for the process."""
    global _psl
    if _psl is None:
        from publicsuffixlist import PublicSuffixList  # only an order with a name needs the list

        _psl = PublicSuffixList(only_icann=True, accept_unknown=False)
    return _psl


def _mixes_scripts(label: str) -> bool:
    """Whether a (Unicode) label has a Latin letter and a Cyrillic or Greek one; digits and hyphens are neutral."""
    latin = lookalike = False
    for ch in label:
        if ch.isascii():
            latin = latin or ch.isalpha()
        elif ch.isalpha():
            script = unicodedata.name(ch, "").split(" ", 1)[0]
            if script == "LATIN":
                latin = True
            elif script in _LOOKALIKE_SCRIPTS:
                lookalike = True
        if latin and lookalike:
            return True
    return False


def normalise_host(raw: str, field: str) -> tuple[str | None, FieldError | None]:
    """Return the ASCII (punycode) form of one host name, or the reason it is not one."""
    name = raw.strip()
    shown = name if len(name) <= 80 else name[:77] + "..."

    def bad(code: str, why: str) -> tuple[None, FieldError]:
        return None, FieldError(field, code, f"{shown!r} {why}")

    if not name:
        return bad("InvalidDomain.Empty", "is empty")
    if name[-1] in _DOTS:
        # One trailing dot names the DNS root, which CAS names leave implied; it goes before any rule
        # (and the duplicate check, and the idempotency key) sees the name. More than one is a typo.
        name = name[:-1]
        if name and name[-1] in _DOTS:
            return bad("InvalidDomain.TrailingDot", "ends in more than one dot; a host name has at most one")
        if not name:
            return bad("InvalidDomain.Empty", "is empty")
    wildcard = name.startswith("*.")
    rest = name[2:] if wildcard else name
    if "*" in rest:
        return bad("InvalidDomain.Wildcard", "has a '*' that is not the whole leftmost label")
    literal = rest.strip("[]")
    if ":" in literal or literal.rpartition(".")[2].isdigit():  # only these can be IP literals
        try:
            ipaddress.ip_address(literal)
        except ValueError:
            pass
        else:
            return bad("InvalidDomain.IpAddress", "is an IP address; certificates here bind host names")
    if _LDH_NAME.fullmatch(rest):
        ascii_name = rest.lower()
    else:
        if any(ch.isspace() for ch in rest):
            return bad("InvalidDomain.Syntax", "contains white space")
        try:
            ascii_name = idna.encode(rest, uts46=True).decode("ascii").lower()
        except idna.IDNAError as exc:
            # idna enforces the 63- and 253-octet limits itself; report them under their own codes
            if str(exc) == "Label too long":
                return bad("InvalidDomain.LabelLength", "has a label longer than 63 characters")
            if str(exc) == "Domain too long":
                return bad("InvalidDomain.Length", "is longer than 253 characters")
            return bad("InvalidDomain.Syntax", f"is not a valid host name ({exc})")
        except UnicodeError:
            return bad("InvalidDomain.Syntax", "is not a valid host name")
        for label in ascii_name.split("."):
            if not label:  # UTS 46 maps some characters to a dot, so the mapped name may end in one
                return bad("InvalidDomain.Syntax", "is not a valid host name (it has an empty label)")
            if not label.startswith("xn--"):
                continue
            try:
                unicode_label = idna.ulabel(label)
            except (idna.IDNAError, UnicodeError):
                return bad("InvalidDomain.Syntax", f"has a punycode label {label[:63]!r} that does not decode")
            if _mixes_scripts(unicode_label):
                return bad("InvalidDomain.MixedScript",
                           f"has a label ({unicode_label[:63]!r}) that mixes Latin letters with Cyrillic or "
                           "Greek ones, which makes it look like another name")
    labels = ascii_name.split(".")
    if len(labels) < 2:
        return bad("InvalidDomain.Syntax", "needs at least two labels, like example.com")
    if any(len(label) > 63 for label in labels):
        return bad("InvalidDomain.LabelLength", "has a label longer than 63 characters")
    full = ("*." if wildcard else "") + ascii_name
    if len(full) > 253:
        return bad("InvalidDomain.Length", "is longer than 253 characters")
    if labels[-1].isdigit():
        return bad("InvalidDomain.Syntax", "has an all-numeric top-level label")
    psl = public_suffix_list()
    if psl.privatesuffix(ascii_name) is None:
        suffix = psl.publicsuffix(ascii_name)
        if suffix is None:
            return bad("InvalidDomain.UnknownSuffix",
                       "does not end in a public suffix (such as com or co.uk); names under private or "
                       "reserved top-level domains (local, internal, lan, test, example) cannot be certified")
        if wildcard:
            return bad("InvalidDomain.PublicSuffix",
                       f"is a wildcard directly under the public suffix {suffix!r}; a certificate cannot cover "
                       "every domain registered under it")
        return bad("InvalidDomain.PublicSuffix",
                   "is itself a public suffix; name a domain registered under it, like example." + suffix)
    return full, None


def check_name_set(names: Sequence[str], field: str) -> list[FieldError]:
    """The rules for the names one certificate binds, together: how many, and no mix of wildcards and single names."""
    errors: list[FieldError] = []
    if len(names) > MAX_DOMAINS:
        errors.append(FieldError(field, "InvalidDomain.TooMany",
                                 f"{len(names)} names given; at most {MAX_DOMAINS} are allowed"))
    errors.extend(_mix_errors(names, field))
    return errors


def _mix_errors(names: Sequence[str], field: str) -> list[FieldError]:
    wild = [n for n in names if n.startswith("*.")]
    if wild and len(wild) != len(names):
        return [FieldError(field, "InvalidDomain.Mixed", "names must be all single names or all wildcards, not a mix")]
    return []


def parse_domain_list(value: str, field: str = "Domain") -> tuple[tuple[str, ...], list[FieldError]]:
    """Split the comma-separated ``Domain`` value and apply every rule; report all problems."""
    errors: list[FieldError] = []
    parts = value.split(",")
    if len(parts) > MAX_DOMAINS:  # counted on what was given, bad names included
        errors.append(FieldError(field, "InvalidDomain.TooMany",
                                 f"{len(parts)} names given; at most {MAX_DOMAINS} are allowed"))
    names: list[str] = []
    seen: set[str] = set()
    for part in parts:
        name, err = normalise_host(part, field)
        if err is not None:
            errors.append(err)
            continue
        assert name is not None
        if name in seen:
            errors.append(FieldError(field, "InvalidDomain.Duplicate", f"{name!r} is listed twice"))
            continue
        seen.add(name)
        names.append(name)
    errors.extend(_mix_errors(names, field))
    return tuple(names), errors
