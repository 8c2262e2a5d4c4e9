"""Order record -> validated order: every rule of the API document, reported all at once."""

from .base import KNOWN_PARAMETERS, validate_order

__all__ = ["KNOWN_PARAMETERS", "validate_order"]
