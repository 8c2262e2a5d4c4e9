"""``file:///path.jsonl`` and ``stdout:`` sinks: the embedded default, with no downstream service.

They let the local demo and tests see exactly what a real downstream would get: each push writes the
message as one line of compact JSON, byte for byte the body a callback or queue receives. The
message id is checked but not added: casrelay's documents carry it as ``Id``, and a line that differs
from the other sinks' bodies would make the local run prove less.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from .base import Sink, check_message_id, encode_message
from .exceptions import unavailable

#: One lock per file, shared by every sink in the process that writes to it.
_FILE_LOCKS: dict[str, threading.Lock] = {}
_FILE_LOCKS_GUARD = threading.Lock()
_STDOUT_LOCK = threading.Lock()


def _line(sink: str, message: Mapping[str, Any], message_id: str) -> str:
    check_message_id(sink, message_id)
    return encode_message(sink, message) + "\n"


class FileSink(Sink):
    """Appends one line per push; parent directories are created on the first push."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.is_absolute():
            raise ValueError("needs an absolute path: file:///dir/orders.jsonl")
        self.name = self.path.as_uri()
        with _FILE_LOCKS_GUARD:
            self._lock = _FILE_LOCKS.setdefault(str(self.path), threading.Lock())

    @classmethod
    def from_url(cls, url: str) -> FileSink:
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise ValueError("must be file:///absolute/path (no host)")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query or fragment")
        path = unquote(parts.path)
        if not path or path.endswith("/"):
            raise ValueError("must name a file, e.g. file:///tmp/orders.jsonl")
        return cls(path)

    def push(self, message: Mapping[str, Any], message_id: str) -> None:
        data = _line(self.name, message, message_id).encode("utf-8")
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                # O_APPEND with one write per line: lines from other processes never interleave mid-line.
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view):]
                finally:
                    os.close(fd)
            except OSError as exc:
                raise unavailable(self.name, f"cannot append ({exc.strerror or type(exc).__name__})") from None


class StdoutSink(Sink):
    """Prints one line per push to whatever ``sys.stdout`` is at the time (FC ships it to the log)."""

    name = "stdout:"

    def push(self, message: Mapping[str, Any], message_id: str) -> None:
        line = _line(self.name, message, message_id)
        with _STDOUT_LOCK:
            try:
                sys.stdout.write(line)
                sys.stdout.flush()
            except (OSError, ValueError) as exc:
                raise unavailable(self.name, f"cannot write ({type(exc).__name__})") from None
