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
nearly every name, and the rules ``idna`` would apply to them are the regular expression's. The
commonest of them (``_PLAIN_NAME``: LDH labels that already fit every length rule, no trailing dot,
a top-level label that is not all digits, maybe a leading ``*.``) skip every rule but the public
suffix check, since each of those rules is already implied by the expression; ``idna`` itself is
imported only when a name needs it, so an order of ASCII names never loads it.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Sequence
from typing import Any

from ..errors import FieldError

MAX_DOMAINS = 5
#: The full stops UTS 46 maps to '.', so that 'example.com。' has its one trailing dot too.
_DOTS = ".\u3002\uff0e\uff61"
#: An LDH name whose labels cannot be A-labels (no '--' in the 3rd and 4th position): no ``idna`` needed.
_LDH_NAME = re.compile(r"(?:(?![a-z0-9][a-z0-9-]--)[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+"
                       r"(?![a-z0-9][a-z0-9-]--)[a-z0-9](?:[a-z0-9-]*[a-z0-9])?", re.IGNORECASE | re.ASCII)
#: A name every rule before the public-suffix check accepts unchanged but for case (see ``_plain_host``):
#: an optional ``*.``, then at least two LDH labels of 1 to 63 octets none of which can be an A-label
#: (no '--' in the 3rd and 4th position), the last not all digits (so never an IPv4 address, nor an
#: all-numeric top-level label); no trailing dot, no white space, nothing outside [A-Za-z0-9.-].
_PLAIN_NAME = re.compile(r"(?:\*\.)?(?:(?![a-z0-9][a-z0-9-]--)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+"
                         r"(?![a-z0-9][a-z0-9-]--)(?![0-9]+\Z)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?",
                         re.IGNORECASE | re.ASCII)
#: The longest name, wildcard included (``_check_labels``); a plain name is never longer.
MAX_NAME_OCTETS = 253
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


class _Refused(Exception):
    """A rule a host name breaks: its code, and why (the message puts the name as given in front)."""

    def __init__(self, code: str, why: str) -> None:
        super().__init__(code, why)
        self.code = code
        self.why = why


def normalise_host(raw: str, field: str, *, fast: bool = True) -> tuple[str | None, FieldError | None]:
    """Return the ASCII (punycode) form of one host name, or the reason it is not one.

    ``fast=False`` sends every name through ``idna`` (no ``_PLAIN_NAME`` or ``_LDH_NAME`` shortcut):
    the reference the fast paths are tested against, value for value and refusal for refusal.
    """
    name = raw.strip()
    try:
        plain = fast and len(name) <= MAX_NAME_OCTETS and _PLAIN_NAME.fullmatch(name) is not None
        return _plain_host(name) if plain else _normalise(name, fast), None
    except _Refused as refused:
        shown = name if len(name) <= 80 else name[:77] + "..."
        return None, FieldError(field, refused.code, f"{shown!r} {refused.why}")


def _plain_host(name: str) -> str:
    """A name ``_PLAIN_NAME`` matches, of at most 253 octets, normalised as ``_normalise`` would.

    For such a name ``_drop_root_dot`` changes nothing (it ends in a letter or digit), ``rest`` holds no
    '*', ``_refuse_ip_literal`` returns (no ':' and a last label that is not all digits), ``_LDH_NAME``
    matches so UTS 46 would only lower-case it, and ``_check_labels`` finds two or more labels of at
    most 63 octets, no more than 253 in all and a TLD that is not all digits: only the public suffix
    is left to check. (A longer name goes the general way, to be refused there, and is never matched
    against the pattern: that keeps a huge Domain value from costing a regular-expression scan.)
    """
    full = name.lower()
    wildcard = full.startswith("*.")
    _check_public_suffix(full[2:] if wildcard else full, wildcard)
    return full


def _normalise(name: str, fast: bool = True) -> str:
    """The rules, in the order they are checked: the first one broken is the one reported.

    ``fast`` lets an LDH name skip ``idna`` (``_LDH_NAME``); without it every name goes through UTS 46.
    """
    name = _drop_root_dot(name)
    wildcard = name.startswith("*.")
    rest = name[2:] if wildcard else name
    if "*" in rest:
        raise _Refused("InvalidDomain.Wildcard", "has a '*' that is not the whole leftmost label")
    _refuse_ip_literal(rest)
    ascii_name = rest.lower() if fast and _LDH_NAME.fullmatch(rest) else _idna_ascii(rest)
    full = ("*." if wildcard else "") + ascii_name
    _check_labels(ascii_name, full)
    _check_public_suffix(ascii_name, wildcard)
    return full


def _drop_root_dot(name: str) -> str:
    """The name without its one trailing dot, if it has one; an empty name is refused.

    One trailing dot names the DNS root, which CAS names leave implied; it goes before any rule (and the
    duplicate check, and the idempotency key) sees the name. More than one is a typo.
    """
    if not name:
        raise _Refused("InvalidDomain.Empty", "is empty")
    if name[-1] in _DOTS:
        name = name[:-1]
        if name and name[-1] in _DOTS:
            raise _Refused("InvalidDomain.TrailingDot", "ends in more than one dot; a host name has at most one")
        if not name:
            raise _Refused("InvalidDomain.Empty", "is empty")
    return name


def _refuse_ip_literal(rest: str) -> None:
    """Certificates here bind host names, so an IP address (bracketed or not) is refused."""
    literal = rest.strip("[]")
    if ":" in literal or literal.rpartition(".")[2].isdigit():  # only these can be IP literals
        try:
            ipaddress.ip_address(literal)
        except ValueError:
            return
        raise _Refused("InvalidDomain.IpAddress", "is an IP address; certificates here bind host names")


def _idna_ascii(rest: str) -> str:
    """The A-label form of a name the LDH fast path does not take, by UTS 46 (the ``idna`` package)."""
    if any(ch.isspace() for ch in rest):
        raise _Refused("InvalidDomain.Syntax", "contains white space")
    import idna  # only a name off the LDH fast paths needs UTS 46

    try:
        ascii_name = idna.encode(rest, uts46=True).decode("ascii").lower()
    except idna.IDNAError as exc:
        # idna enforces the 63- and 253-octet limits itself; report them under their own codes
        if str(exc) == "Label too long":
            raise _Refused("InvalidDomain.LabelLength", "has a label longer than 63 characters") from None
        if str(exc) == "Domain too long" and not _has_long_label(rest, idna):
            raise _Refused("InvalidDomain.Length", f"is longer than {MAX_NAME_OCTETS} characters") from None
        if str(exc) == "Domain too long":  # idna releases differ in which limit they test first: labels win
            raise _Refused("InvalidDomain.LabelLength", "has a label longer than 63 characters") from None
        raise _Refused("InvalidDomain.Syntax", f"is not a valid host name ({exc})") from None
    except UnicodeError:
        raise _Refused("InvalidDomain.Syntax", "is not a valid host name") from None
    for label in ascii_name.split("."):
        if not label:  # UTS 46 maps some characters to a dot, so the mapped name may end in one
            raise _Refused("InvalidDomain.Syntax", "is not a valid host name (it has an empty label)")
        if label.startswith("xn--"):
            _refuse_homograph(label)
    return ascii_name


def _has_long_label(rest: str, idna: Any) -> bool:
    """Some label's A-label is over 63 octets: what ``_check_labels`` reports before the whole name's length,
    whichever of the two limits the installed ``idna`` happens to test first. Only on the refusal path."""
    for label in rest.split("."):
        try:
            encoded = label.encode("ascii") if label.isascii() else idna.encode(label, uts46=True)
        except idna.IDNAError as exc:
            if str(exc) == "Label too long":
                return True
            continue
        except UnicodeError:
            continue
        if len(encoded) > 63:
            return True
    return False


def _refuse_homograph(label: str) -> None:
    """A punycode label must decode, and must not mix Latin letters with look-alike Cyrillic or Greek ones."""
    import idna  # already loaded by ``_idna_ascii``, the only caller

    try:
        unicode_label = idna.ulabel(label)
    except (idna.IDNAError, UnicodeError):
        raise _Refused("InvalidDomain.Syntax", f"has a punycode label {label[:63]!r} that does not decode") from None
    if _mixes_scripts(unicode_label):
        raise _Refused("InvalidDomain.MixedScript",
                       f"has a label ({unicode_label[:63]!r}) that mixes Latin letters with Cyrillic or "
                       "Greek ones, which makes it look like another name")


def _check_labels(ascii_name: str, full: str) -> None:
    """At least two labels of at most 63 octets, 253 in all (wildcard included), and a non-numeric TLD."""
    labels = ascii_name.split(".")
    if len(labels) < 2:
        raise _Refused("InvalidDomain.Syntax", "needs at least two labels, like example.com")
    if any(len(label) > 63 for label in labels):
        raise _Refused("InvalidDomain.LabelLength", "has a label longer than 63 characters")
    if len(full) > MAX_NAME_OCTETS:
        raise _Refused("InvalidDomain.Length", f"is longer than {MAX_NAME_OCTETS} characters")
    if labels[-1].isdigit():
        raise _Refused("InvalidDomain.Syntax", "has an all-numeric top-level label")


def _check_public_suffix(ascii_name: str, wildcard: bool) -> None:
    """No CA issues for a name outside the ICANN suffixes, for a public suffix itself, or a wildcard over one."""
    psl = public_suffix_list()
    if psl.privatesuffix(ascii_name) is not None:
        return
    suffix = psl.publicsuffix(ascii_name)
    if suffix is None:
        raise _Refused("InvalidDomain.UnknownSuffix",
                       "does not end in a public suffix (such as com or co.uk); names under private or "
                       "reserved top-level domains (local, internal, lan, test, example) cannot be certified")
    if wildcard:
        raise _Refused("InvalidDomain.PublicSuffix",
                       f"is a wildcard directly under the public suffix {suffix!r}; a certificate cannot cover "
                       "every domain registered under it")
    raise _Refused("InvalidDomain.PublicSuffix",
                   "is itself a public suffix; name a domain registered under it, like example." + suffix)


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
