"""Ledger stores: one file per backend behind ``LedgerStore``. Backends import their driver lazily."""

from .base import LedgerStore

__all__ = ["LedgerStore", "open_store"]


def open_store(url: str) -> LedgerStore:
    """``memory://``, ``sqlite:///path`` or ``redis://…`` (``rediss://`` for TLS)."""
    from ..exceptions import StoreConfigError

    if url.startswith("memory://"):
        from .memory import MemoryStore

        return MemoryStore()
    if url.startswith("sqlite://"):
        from .sqlite import SqliteStore

        path = url[len("sqlite://"):]
        if not path.startswith("/"):
            raise StoreConfigError("IDEMPOTENCY_STORE sqlite URLs take an absolute path: sqlite:///tmp/ledger.db")
        return SqliteStore(path)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from .redis import RedisStore

        return RedisStore(url)
    scheme = url.split(":", 1)[0][:20]
    raise StoreConfigError(f"IDEMPOTENCY_STORE scheme {scheme!r} is not one of memory://, sqlite:///, redis://")
