"""Contact fields: Username, Email, Phone, CompanyName.

The CA writes to the e-mail address and may call the phone number, so both are checked for syntax
with well-kept libraries (``email-validator``, ``phonenumbers``), each imported only when the field
is present. Phone numbers without a country code are read as Chinese numbers, as in the document's
example ``13000000000``. No deliverability lookups: the function makes no DNS queries for this.
"""

from __future__ import annotations

import unicodedata

from ..errors import FieldError

MAX_NAME_CHARS = 64
MAX_COMPANY_CHARS = 128
DEFAULT_PHONE_REGION = "CN"


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


def check_email(value: str, field: str = "Email") -> tuple[str | None, list[FieldError]]:
    from email_validator import EmailNotValidError, validate_email

    try:
        result = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        return None, [FieldError(field, "InvalidEmail", f"is not a valid e-mail address: {exc}")]
    return result.normalized, []


def check_phone(value: str, field: str = "Phone") -> tuple[str | None, list[FieldError]]:
    import phonenumbers

    text = value.strip()
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
