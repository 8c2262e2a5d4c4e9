"""CAS certificate products, and what each one allows.

The codes are the API document's list plus ``digicert-free-1-free``, which the current API reference
adds (and uses as CAS's own default). The code itself says what a product binds: ``-w-`` is a
wildcard product, ``-1-`` a single-name product, ``-free-`` a free certificate for one name, and the
``-ov-`` / ``-ev-`` products are the ones that take a CompanyName.

This is a leaf module: it imports nothing from casrelay, so that ``config`` (which checks
DEFAULT_PRODUCT_CODE) and ``validation`` (which checks ProductCode) can both read the table without
either importing the other.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Product:
    code: str

    @property
    def wildcard(self) -> bool:
        return "-w-" in self.code

    @property
    def free(self) -> bool:
        return self.code.endswith("-free")

    @property
    def organisation_validated(self) -> bool:
        return "-ov-" in self.code or "-ev-" in self.code


PRODUCT_CODES: dict[str, Product] = {
    code: Product(code)
    for code in (
        "digicert-free-1-free",
        "symantec-free-1-free",
        "symantec-dv-1-starter",
        "symantec-ov-1-personal",
        "symantec-ov-w-personal",
        "geotrust-dv-1-starter",
        "geotrust-dv-w-starter",
        "geotrust-ov-1-personal",
        "geotrust-ov-w-personal",
        "globalsign-dv-1-personal",
        "globalsign-dv-w-advanced",
        "globalsign-ov-1-personal",
        "globalsign-ov-w-advanced",
        "cfca-ov-1-personal",
        "cfca-ev-w-advanced",
    )
}
