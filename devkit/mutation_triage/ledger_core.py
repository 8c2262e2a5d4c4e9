"""Explained survivors of the mutation run's second half: ledger/base.py, ledger/record.py, flows/new_order.py
and flows/place.py after the lean order path."""

from devkit.mutation_explained import Explanation

ENTRIES: list[Explanation] = []
