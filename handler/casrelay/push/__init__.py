"""Downstream push: deliver every placed order's document to every sink in ``ORDER_SINKS``.

Backends: signed Standard Webhooks callbacks (``https://``), Simple Message Queue (``mns://``),
Amazon SQS (``sqs://``, ``sqs+https://``), and local ``file://`` / ``stdout:`` for the embedded
default. Importing this package imports no optional SDK: MNS and boto3 load on their first push.
"""

from __future__ import annotations

from .base import Sink
from .callback import CallbackSink
from .config import PushConfig, build_sinks, load_config
from .exceptions import (
    InvalidMessage,
    SinkConfigError,
    SinkError,
    SinkMisconfigured,
    SinkRedirected,
    SinkRejected,
    SinkUnavailable,
    UnsafeDestination,
)
from .local import FileSink, StdoutSink
from .mns import MnsSink, StaticCredentials, env_credentials
from .sqs import SqsSink

__all__ = [
    "CallbackSink",
    "FileSink",
    "InvalidMessage",
    "MnsSink",
    "PushConfig",
    "Sink",
    "SinkConfigError",
    "SinkError",
    "SinkMisconfigured",
    "SinkRedirected",
    "SinkRejected",
    "SinkUnavailable",
    "SqsSink",
    "StaticCredentials",
    "StdoutSink",
    "UnsafeDestination",
    "build_sinks",
    "env_credentials",
    "load_config",
]
