"""Retrying S3 calls: which failures are transient, and the exponential backoff between tries.

botocore's own retries are switched off (`kubegym.store.s3` builds its client with
one attempt) so this module is the only layer that decides: connection refused,
timeouts, 5xx answers and throttling (SlowDown) are retried with a doubling
delay; anything else is translated at once into the store's errors. botocore is imported
in `is_transient`, which only an S3 store calls, so that `RetryPolicy` (in every
store's options) does not load it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

_THROTTLING = frozenset(
    {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "RequestTimeTooSkewed"}
)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a transient failure is retried."""

    attempts: int = 5
    """Tries in all, the first included."""
    base_delay: float = 0.5
    """Seconds before the second try; doubled before each next one."""
    max_delay: float = 8.0
    """The longest wait between two tries."""

    def delay(self, retry: int) -> float:
        """Seconds before retry number ``retry`` (1 for the second try), with ±20 % jitter."""
        wait = min(self.base_delay * 2 ** (retry - 1), self.max_delay)
        return float(wait * random.uniform(0.8, 1.2))


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is worth another try: the server was away, slow, or overloaded."""
    from botocore import exceptions as boto_errors

    connection = (
        boto_errors.EndpointConnectionError,
        boto_errors.ConnectTimeoutError,
        boto_errors.ReadTimeoutError,
        boto_errors.ConnectionClosedError,
        boto_errors.ConnectionError,
    )
    if isinstance(exc, connection):
        return True
    if isinstance(exc, boto_errors.ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return status >= 500 or status == 429 or code in _THROTTLING
    # s3transfer wraps a failed part's error; look inside.
    cause = exc.__cause__ or exc.__context__
    return cause is not None and cause is not exc and is_transient(cause)


def call(
    fn: Callable[[], T],
    policy: RetryPolicy,
    *,
    on_retry: Callable[[int, BaseException], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``fn`` until it succeeds, retrying transient failures by ``policy``.

    Args:
        fn: the call.
        policy: attempts and delays.
        on_retry: told of each retry (its number and the failure), for logging.
        sleep: the clock; replaced in tests.

    Raises:
        Whatever ``fn`` raised last: at once when it is not transient, after the
        last attempt when it is.
    """
    retry = 0
    while True:
        try:
            return fn()
        except Exception as exc:
            retry += 1
            if not is_transient(exc) or retry >= policy.attempts:
                raise
            if on_retry is not None:
                on_retry(retry, exc)
            sleep(policy.delay(retry))
