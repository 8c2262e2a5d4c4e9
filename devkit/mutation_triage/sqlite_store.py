"""Explained survivors of the mutation run's second half: ledger/persistence/sqlite.py after the lean order path
(indexes, checkpoints, the migration)."""

from devkit.mutation_explained import Explanation

ENTRIES: list[Explanation] = []
