"""Validated order -> signed CreateCertificateForPackageRequest -> placed order (or a mapped error)."""

from .gateway import CasGateway, PlacedOrder

__all__ = ["CasGateway", "PlacedOrder"]
