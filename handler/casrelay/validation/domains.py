"""Host-name rules for ``Domain`` and a CSR's CN.

CAS binds whatever names it is given, and a typo costs a paid package, so names are checked the way
a careful CA front end checks them before anything is spent: LDH labels of 1 to 63 octets, at most
253 octets in all, at least two labels, a non-numeric top-level label, no IP literals, a wildcard
only as the whole leftmost label, IDN converted to punycode with the ``idna`` package (UTS 46), and
no name twice.
"""

from __future__ import annotations

import ipaddress

import idna

from ..errors import FieldError

MAX_DOMAINS = 5


def normalise_host(raw: str, field: str) -> tuple[str | None, FieldError | None]:
    """Return the ASCII (punycode) form of one host name, or the reason it is not one."""
    name = raw.strip()
    shown = name if len(name) <= 80 else name[:77] + "..."

    def bad(code: str, why: str) -> tuple[None, FieldError]:
        return None, FieldError(field, code, f"{shown!r} {why}")

    if not name:
        return bad("InvalidDomain.Empty", "is empty")
    if name.endswith("."):
        name = name[:-1]  # the root label is implied; CAS names carry no trailing dot
    wildcard = name.startswith("*.")
    rest = name[2:] if wildcard else name
    if "*" in rest:
        return bad("InvalidDomain.Wildcard", "has a '*' that is not the whole leftmost label")
    try:
        ipaddress.ip_address(rest.strip("[]"))
    except ValueError:
        pass
    else:
        return bad("InvalidDomain.IpAddress", "is an IP address; certificates here bind host names")
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
    return full, None


def parse_domain_list(value: str, field: str = "Domain") -> tuple[tuple[str, ...], list[FieldError]]:
    """Split the comma-separated ``Domain`` value and apply every rule; report all problems."""
    errors: list[FieldError] = []
    parts = value.split(",")
    if len(parts) > MAX_DOMAINS:
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
    wild = [n for n in names if n.startswith("*.")]
    if wild and len(wild) != len(names):
        errors.append(FieldError(field, "InvalidDomain.Mixed",
                                 "names must be all single names or all wildcards, not a mix"))
    return tuple(names), errors
