"""The signed calls to CAS that every ordering backend shares: client, pacer, failure classes, preview."""

from .client import CasClient

__all__ = ["CasClient"]
