"""``sqs://`` sink: SendMessage to an Amazon SQS queue via boto3 (optional, imported on first push).

URL forms:

- ``sqs://orders?region=us-east-1`` names the queue; its URL is looked up once with GetQueueUrl.
  ``&account=123456789012`` reads another account's queue; ``&endpoint_url=<url-encoded URL>``
  points at an SQS-compatible endpoint (moto in tests).
- ``sqs+https://sqs.us-east-1.amazonaws.com/123456789012/orders`` is the queue URL itself, so no
  lookup is needed; the region comes from the host or ``?region=``. ``sqs+http://`` is accepted only
  for a loopback host (a local emulator).

Without ``region=``, ``SQS_REGION`` and then ``AWS_REGION`` apply. Credentials come from boto3's own
chain (``AWS_ACCESS_KEY_ID``…). A ``.fifo`` queue gets ``MessageDeduplicationId`` = message_id, so SQS
drops a redelivery within its 5-minute window, and ``MessageGroupId`` = ``?group=`` (default
``casrelay``). Every message carries the id as the ``message_id`` message attribute for consumers.

Error policy matches the MNS sink: throttling, 5xx and connection errors are transient (botocore's
standard retry mode retries them first); a missing queue, refused credentials or permissions are
``SinkMisconfigured`` (transient, so the OrderId is pushed once the operator fixes them); only a
message SQS can never accept is permanent.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..config import is_loopback_host
from .base import Sink, check_message_id, encode_message
from .exceptions import SinkError, misconfigured, rejected, unavailable

QUEUE_NAME = re.compile(r"[A-Za-z0-9_\-]{1,75}(?:\.fifo)?|[A-Za-z0-9_\-]{1,80}")
REGION = re.compile(r"[a-z]{2}(?:-[a-z0-9]+)+-\d{1,2}")
ACCOUNT = re.compile(r"\d{12}")
_AWS_HOST = re.compile(r"sqs\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?")
MESSAGE_ID_ATTRIBUTE = "message_id"

THROTTLE_CODES = frozenset({"Throttling", "ThrottlingException", "RequestThrottled", "RequestLimitExceeded",
                            "ServiceUnavailable", "InternalError", "InternalFailure", "KMS.ThrottlingException"})
#: Codes about this message itself: sending it again can never work.
CONTENT_CODES = frozenset({"InvalidMessageContents", "MessageTooLong", "InvalidParameterValue",
                           "InvalidParameterValueException", "InvalidAttributeValue", "InvalidAttributeName",
                           "MissingParameter", "InvalidParameterCombination"})


class SqsSink(Sink):
    def __init__(self, queue: str, region: str, *, queue_url: str | None = None, account: str | None = None,
                 endpoint_url: str | None = None, group: str = "casrelay", timeout_s: float = 5.0,
                 max_attempts: int = 3, client: Any = None) -> None:
        if not QUEUE_NAME.fullmatch(queue):
            raise ValueError("needs a queue name of at most 80 letters, digits, '-' or '_' (plus .fifo)")
        if not REGION.fullmatch(region):
            raise ValueError(f"region {region[:30]!r} is not an AWS region name")
        if account is not None and not ACCOUNT.fullmatch(account):
            raise ValueError("account must be a 12-digit AWS account id")
        if not re.fullmatch(r"[A-Za-z0-9!-/:-@\[-`{-~]{1,128}", group):
            raise ValueError("group must be 1-128 printable ASCII characters")
        self.queue = queue
        self.region = region
        self.fifo = queue.endswith(".fifo")
        self.group = group
        self.name = f"sqs://{queue}@{region}"
        self.account = account
        self.endpoint_url = endpoint_url
        self.timeout_s = timeout_s
        self.max_attempts = max(1, max_attempts)
        self._queue_url = queue_url
        self._client = client
        self._lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, *, default_region: str | None = None, **kwargs: Any) -> SqsSink:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        params = parse_qs(parts.query, keep_blank_values=True)
        known = {"region", "group"} | ({"account", "endpoint_url"} if scheme == "sqs" else set())
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(f"has unknown parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        if parts.fragment or parts.username is not None:
            raise ValueError("must not have user info or a #fragment")
        options = {k: v[-1] for k, v in params.items()}
        group = options.get("group", "casrelay")

        if scheme == "sqs":
            if parts.path not in ("", "/"):
                raise ValueError("is sqs://QUEUE_NAME?region=…; for a queue URL use sqs+https://")
            region = options.get("region") or default_region
            if not region:
                raise ValueError("needs a region: ?region=, SQS_REGION or AWS_REGION")
            endpoint_url = options.get("endpoint_url") or None
            if endpoint_url is not None:
                _check_endpoint(endpoint_url)
            return cls(parts.netloc, region, account=options.get("account"), endpoint_url=endpoint_url,
                       group=group, **kwargs)

        # sqs+https://host/ACCOUNT/QUEUE: the queue URL itself
        inner = scheme.removeprefix("sqs+")
        host = (parts.hostname or "").lower()
        if not host:
            raise ValueError("has no host")
        if inner == "http" and not is_loopback_host(host):
            raise ValueError("sqs+http:// is allowed only for a loopback emulator; use sqs+https://")
        segments = parts.path.strip("/").split("/")
        if len(segments) != 2 or not ACCOUNT.fullmatch(segments[0]):
            raise ValueError("must be sqs+https://sqs.REGION.amazonaws.com/ACCOUNT_ID/QUEUE_NAME")
        aws = _AWS_HOST.fullmatch(host)
        region = options.get("region") or (aws.group("region") if aws else None) or default_region
        if not region:
            raise ValueError("needs a region: ?region=, SQS_REGION or AWS_REGION")
        queue_url = f"{inner}://{parts.netloc}/{segments[0]}/{segments[1]}"
        endpoint_url = None if aws else f"{inner}://{parts.netloc}"
        return cls(segments[1], region, queue_url=queue_url, account=segments[0], endpoint_url=endpoint_url,
                   group=group, **kwargs)

    def push(self, message: Mapping[str, Any], message_id: str) -> None:
        check_message_id(self.name, message_id)
        text = encode_message(self.name, message)
        request: dict[str, Any] = {
            "MessageBody": text,
            "MessageAttributes": {MESSAGE_ID_ATTRIBUTE: {"DataType": "String", "StringValue": message_id}},
        }
        if self.fifo:
            request["MessageGroupId"] = self.group
            request["MessageDeduplicationId"] = message_id
        try:
            client = self._sqs()
            request["QueueUrl"] = self._url(client)
            client.send_message(**request)
        except Exception as exc:  # every boto failure is classified (or re-raised) below
            raise self._classify(exc) from None

    def _sqs(self) -> Any:
        with self._lock:
            if self._client is None:
                import boto3
                from botocore.config import Config

                config = Config(connect_timeout=self.timeout_s, read_timeout=self.timeout_s,
                                retries={"mode": "standard", "total_max_attempts": self.max_attempts})
                # A session of its own: boto3's default session is not safe to build from several threads.
                self._client = boto3.session.Session().client(
                    "sqs", region_name=self.region, endpoint_url=self.endpoint_url, config=config)
            return self._client

    def _url(self, client: Any) -> str:
        if self._queue_url is None:
            args = {"QueueName": self.queue}
            if self.account:
                args["QueueOwnerAWSAccountId"] = self.account
            self._queue_url = str(client.get_queue_url(**args)["QueueUrl"])
        return self._queue_url

    def _classify(self, exc: Exception) -> SinkError:
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, PartialCredentialsError

        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code", "Unknown"))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            said = f"SQS answered {code}" + (f" ({status})" if status else "")
            if code in THROTTLE_CODES or (isinstance(status, int) and status >= 500):
                return unavailable(self.name, said, status=status, code=code)
            if code in CONTENT_CODES:
                return rejected(self.name, f"{said}; SQS will not accept this message", status=status, code=code)
            return misconfigured(self.name, f"{said}; check the queue, the region and the credentials' permissions",
                                 status=status, code=code)
        if isinstance(exc, NoCredentialsError | PartialCredentialsError):
            return misconfigured(self.name, "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
        if isinstance(exc, BotoCoreError):
            return unavailable(self.name, f"cannot reach SQS ({type(exc).__name__})")
        raise exc


def _check_endpoint(endpoint_url: str) -> None:
    try:
        parts = urlsplit(endpoint_url)
        _ = parts.port
    except ValueError:
        raise ValueError("endpoint_url is not a valid URL") from None
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http") or not host:
        raise ValueError("endpoint_url must be an http(s):// URL")
    if parts.scheme == "http" and not is_loopback_host(host):
        raise ValueError("endpoint_url may use http only for a loopback emulator")
