"""Contact fields: Username, Email, Phone, CompanyName.

The CA writes to the e-mail address and may call the phone number, so both are checked for syntax
with well-kept libraries (``email-validator``, ``phonenumbers``), each imported only when the field
is present. Phone numbers without a country code are read as Chinese numbers, as in the document's
example ``13000000000``. No deliverability lookups: the function makes no DNS queries for this.

Most orders carry a plain address and the document's kind of number, and the libraries cost more
than the rest of validation together once their caches have gone cold between orders (and their
imports tens of milliseconds on the first order). So a plain address (``_plain_email``) and a bare
Chinese mobile number (``_plain_phone``) are accepted without them, with the value the library would
give; anything else, and anything either shortcut is not sure of, goes to the library unchanged.
Each shortcut only ever accepts: every refusal is the library's.
"""

from __future__ import annotations

import re
import unicodedata

from ..errors import FieldError

MAX_NAME_CHARS = 64
MAX_COMPANY_CHARS = 128
DEFAULT_PHONE_REGION = "CN"

#: RFC 5322 atext, as ``email_validator`` reads it (its ``ATEXT``): a dot-atom local part is runs of it.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
#: A plain address: an ASCII dot-atom local part (``email_validator``'s ``DOT_ATOM_TEXT``), '@', and two
#: or more LDH labels of 1 to 63 octets, the last ending in a letter (every TLD does).
_PLAIN_EMAIL = re.compile(
    rf"(?P<local>{_ATEXT}+(?:\.{_ATEXT}+)*)@"
    r"(?P<domain>(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+(?:[A-Za-z0-9][A-Za-z0-9-]{0,61})?[A-Za-z])"
)
#: ``email_validator``'s length limits (RFC 5321): the local part (which it enforces only in strict mode,
#: so longer ones go to it), the domain, and the whole address.
_MAX_LOCAL, _MAX_DOMAIN, _MAX_ADDRESS = 64, 253, 254
#: RFC 2142 mailbox names ``email_validator`` lower-cases, and RFC 6761-style names it refuses: an
#: address with either goes to the library, which knows its own current lists.
_CASE_INSENSITIVE_MAILBOXES = frozenset({
    "info", "marketing", "sales", "support", "abuse", "noc", "security", "postmaster", "hostmaster", "usenet",
    "news", "webmaster", "www", "uucp", "ftp",
})
_SPECIAL_USE_DOMAINS = ("arpa", "invalid", "local", "localhost", "onion", "test")


def _has_control(value: str) -> bool:
    return any(unicodedata.category(ch).startswith("C") for ch in value)


def check_text(value: str, field: str, limit: int) -> list[FieldError]:
    if not value.strip():
        return [FieldError(field, "Invalid" + field, "is empty; leave it out to use the console's default")]
    if len(value) > limit:
        return [FieldError(field, "Invalid" + field, f"is {len(value)} characters; at most {limit} are allowed")]
    if _has_control(value):
        return [FieldError(field, "Invalid" + field, "contains control characters")]
    return []


def _plain_email(text: str) -> str | None:
    """``email_validator``'s normalised form of a plain address (the domain lower-cased), or None to ask it.

    For an address ``_PLAIN_EMAIL`` matches, within the lengths, with no '--' in its domain (so no
    punycode label and no R-LDH one), a local part that is not an RFC 2142 name and a domain not under
    a special-use name, every check of ``validate_email`` passes: the local part is its dot-atom; UTS 46
    only lower-cases an LDH domain; the domain has a dot, ends in a letter, and holds no "xn--" to
    decode; and the three forms whose length it checks are all as long as the text.
    """
    match = _PLAIN_EMAIL.fullmatch(text) if len(text) <= _MAX_ADDRESS else None  # no scan of a huge value
    if match is None:
        return None
    local, domain = match.group("local"), match.group("domain").lower()
    if len(local) > _MAX_LOCAL or len(domain) > _MAX_DOMAIN or "--" in domain:
        return None
    if local.lower() in _CASE_INSENSITIVE_MAILBOXES:
        return None
    if any(domain == name or domain.endswith("." + name) for name in _SPECIAL_USE_DOMAINS):
        return None
    return f"{local}@{domain}"


def check_email(value: str, field: str = "Email", *, fast: bool = True) -> tuple[str | None, list[FieldError]]:
    """The normalised address, or why it is not one; ``fast=False`` skips ``_plain_email`` (the reference)."""
    text = value.strip()
    plain = _plain_email(text) if fast else None
    if plain is not None:
        return plain, []
    from email_validator import EmailNotValidError, validate_email

    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        return None, [FieldError(field, "InvalidEmail", f"is not a valid e-mail address: {exc}")]
    return result.normalized, []


def _plain_phone(text: str) -> bool:
    """Whether ``text`` is a bare Chinese mobile number, 1[3-9] and nine more digits, outside 179.

    ``phonenumbers`` accepts each of them for the CN region (``test_properties_fast_paths`` pins the
    metadata this rests on): no '+' and no CN international prefix (``00``, or 1[12]dd00 / 179dd00),
    so the default region's code 86 applies; no CN national prefix to strip (``0``, or the carrier
    codes 1[12]dd / 179dd), so the national number is the 11 digits; and 11 is a possible length.
    """
    return (len(text) == 11 and text.isascii() and text.isdigit() and text[0] == "1"
            and text[1] in "3456789" and not text.startswith("179"))


def check_phone(value: str, field: str = "Phone", *, fast: bool = True) -> tuple[str | None, list[FieldError]]:
    """The number as given (stripped), or why it is not one; ``fast=False`` skips ``_plain_phone`` (the reference)."""
    text = value.strip()
    if fast and _plain_phone(text):
        return text, []
    import phonenumbers

    bad = [FieldError(field, "InvalidPhone", "is not a valid phone number (digits, optionally +country code)")]
    if not text or len(text) > 32 or any(ch not in "0123456789+-() ." for ch in text):
        return None, bad
    try:
        number = phonenumbers.parse(text, DEFAULT_PHONE_REGION)
    except phonenumbers.NumberParseException:
        return None, bad
    if not phonenumbers.is_possible_number(number):
        return None, bad
    return text, []
