"""``Tags``: a list of ``{"Key", "Value"}`` objects, or the flattened ``Tags.N.Key`` / ``Tags.N.Value`` form.

Alibaba Cloud tag rules apply: at most 20 tags, keys of 1 to 128 characters that do not start with
``aliyun`` or ``acs:``, values of at most 128 characters, and no key twice.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ..errors import FieldError

MAX_TAGS = 20
MAX_KEY = 128
MAX_VALUE = 128
FLAT = re.compile(r"^Tags\.(\d{1,3})\.(Key|Value)$")


def collect_flat_tags(params: Mapping[str, object]) -> tuple[list[dict[str, object]] | None, list[FieldError]]:
    """Turn ``Tags.N.Key`` / ``Tags.N.Value`` parameters into the list form, ordered by N."""
    slots: dict[int, dict[str, object]] = {}
    errors: list[FieldError] = []
    for name, value in params.items():
        m = FLAT.match(name)
        if not m:
            continue
        n = int(m.group(1))
        if n < 1:
            errors.append(FieldError(name, "InvalidTags", "tag numbers start at 1"))
            continue
        slots.setdefault(n, {})[m.group(2)] = value
    if not slots:
        return None, errors
    return [slots[n] for n in sorted(slots)], errors


def check_tags(value: object, field: str = "Tags") -> tuple[tuple[tuple[str, str], ...], list[FieldError]]:
    if not isinstance(value, list):
        return (), [FieldError(field, "InvalidTags", 'must be a list of {"Key": ..., "Value": ...} objects')]
    errors: list[FieldError] = []
    if len(value) > MAX_TAGS:
        errors.append(FieldError(field, "InvalidTags", f"{len(value)} tags given; at most {MAX_TAGS} are allowed"))
    tags: list[tuple[str, str]] = []
    seen: set[str] = set()
    for i, item in enumerate(value, 1):
        where = f"{field}.{i}"
        if not isinstance(item, Mapping):
            errors.append(FieldError(where, "InvalidTags", 'must be an object {"Key": ..., "Value": ...}'))
            continue
        extra = set(item) - {"Key", "Value"}
        if extra:
            errors.append(FieldError(where, "InvalidTags", f"has unknown members {sorted(map(str, extra))}"))
        key, val = item.get("Key"), item.get("Value", "")
        if not isinstance(key, str) or not key.strip():
            errors.append(FieldError(f"{where}.Key", "InvalidTags", "is required and must be a non-empty string"))
            continue
        if not isinstance(val, str):
            errors.append(FieldError(f"{where}.Value", "InvalidTags", "must be a string"))
            continue
        if len(key) > MAX_KEY:
            errors.append(FieldError(f"{where}.Key", "InvalidTags", f"is longer than {MAX_KEY} characters"))
        if key.lower().startswith(("aliyun", "acs:")):
            errors.append(FieldError(f"{where}.Key", "InvalidTags", "must not start with 'aliyun' or 'acs:'"))
        if len(val) > MAX_VALUE:
            errors.append(FieldError(f"{where}.Value", "InvalidTags", f"is longer than {MAX_VALUE} characters"))
        if any(ord(ch) < 32 for ch in key + val):
            errors.append(FieldError(where, "InvalidTags", "contains control characters"))
        if key in seen:
            errors.append(FieldError(f"{where}.Key", "InvalidTags", f"key {key!r} is given twice"))
        seen.add(key)
        tags.append((key, val))
    return tuple(tags), errors
