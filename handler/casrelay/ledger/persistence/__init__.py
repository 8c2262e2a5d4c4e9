"""Ledger stores: one file per backend behind ``LedgerStore``. Backends import their driver lazily.

``open_store`` is where ``IDEMPOTENCY_STORE`` is checked, so every URL it cannot use becomes a
``StoreConfigError`` that names the variable, and the function answers 503 instead of failing the
instance with the driver's own exception. A Redis URL can carry a password, so no message shows the
URL or the driver's text; a SQLite path is shown, since it holds nothing secret.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from ..exceptions import StoreConfigError, StoreUnavailable
from .base import LedgerStore

__all__ = ["LedgerStore", "open_store"]

VARIABLE = "IDEMPOTENCY_STORE"
#: Redis database numbers are small whole numbers; redis-server refuses one outside its ``databases``.
MAX_REDIS_DB = 2**31 - 1


def open_store(url: str) -> LedgerStore:
    """``memory://``, ``sqlite:///path`` or ``redis://…`` (``rediss://`` for TLS, ``unix:///path``)."""
    if url.startswith("memory://"):
        from .memory import MemoryStore

        return MemoryStore()
    if url.startswith("sqlite://"):
        return _sqlite(url[len("sqlite://"):])
    if url.startswith(("redis://", "rediss://", "unix://")):
        return _redis(url)
    scheme = url.split(":", 1)[0][:20]
    raise StoreConfigError(f"{VARIABLE} scheme {scheme!r} is not one of memory://, sqlite:///, redis://")


def _sqlite(path: str) -> LedgerStore:
    from .sqlite import SqliteStore

    if not path.startswith("/"):
        raise StoreConfigError(f"{VARIABLE} sqlite URLs take an absolute path: sqlite:///tmp/ledger.db")
    if path.endswith("/") or "?" in path or "#" in path:
        raise StoreConfigError(f"{VARIABLE} sqlite URLs name a file, with no query: sqlite:///tmp/ledger.db")
    try:
        return SqliteStore(path)
    except StoreUnavailable as exc:  # its message names the path and the error type, nothing more
        raise StoreConfigError(f"{VARIABLE} is unusable: {exc}") from None
    except (OSError, ValueError) as exc:
        raise StoreConfigError(f"{VARIABLE} is unusable: cannot open the SQLite ledger at {path[:200]} "
                               f"({type(exc).__name__})") from None


def _redis_url_problem(url: str) -> str | None:
    """What is wrong with a Redis URL, in words that show none of it; None when it looks usable."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "its host or port cannot be read (the port must be a whole number from 1 to 65535)"
    if port is not None and not 1 <= port <= 65535:
        return "its port must be from 1 to 65535"
    if parts.fragment:
        return "it must not have a #fragment"
    try:
        options = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        return "its query string cannot be read"
    if parts.scheme == "unix":
        if parts.hostname or not parts.path.startswith("/"):
            return "a unix:// URL takes the socket's absolute path: unix:///run/redis.sock"
        databases = [v for k, v in options if k == "db"]
    else:
        path = parts.path.strip("/")
        databases = [path] if path else []
        databases += [v for k, v in options if k == "db"]
    for db in databases:
        if not (db.isascii() and db.isdigit() and int(db) <= MAX_REDIS_DB):
            return "its database must be a whole number, as in redis://host:6379/0"
    return None


def _redis(url: str) -> LedgerStore:
    problem = _redis_url_problem(url)
    if problem is not None:
        raise StoreConfigError(f"{VARIABLE} is not a usable Redis URL: {problem}")
    from .redis import RedisStore

    try:
        return RedisStore(url)
    except StoreUnavailable:
        raise  # the driver is missing: the message already names the variable
    except Exception as exc:  # redis-py refused the URL (an option's value, say); its text may hold the password
        raise StoreConfigError(f"{VARIABLE} is not a usable Redis URL: redis-py refused it ({type(exc).__name__}); "
                               "check the host, port, database and query options") from None
