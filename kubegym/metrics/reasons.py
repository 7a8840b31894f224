"""The closed set of infrastructure-failure labels: the metric labels of `kubegym.api.reasons`.

The label of an attempt lost to the platform is its `Reason`'s own
(``Reason.NODE_LOST.label == "node_lost"``); there is no second vocabulary.
Causes spelled another way (Kubernetes' waiting reasons such as
``ImagePullBackOff``, a service's ``ModelRateLimited``) map to their reason
here, and anything unknown to ``other``, so a new error string can never
create a new time series.
"""

from __future__ import annotations

import re
from typing import Final

from kubegym.api import reasons

OTHER: Final = "other"

INFRA_REASONS: Final = frozenset(
    {r.label for r in reasons.Reason if r.kind is reasons.Kind.ATTEMPT} | {OTHER}
)

# Kubernetes' and kubegym's spellings of a cause that is not a member's own value or label.
_ALIASES: Final[dict[str, reasons.Reason]] = {
    "oom": reasons.Reason.OOM_KILLED,
    "err_image_pull": reasons.Reason.IMAGE_PULL_FAILED,
    "image_pull_back_off": reasons.Reason.IMAGE_PULL_FAILED,
    "invalid_image_name": reasons.Reason.IMAGE_PULL_FAILED,
    "node_shutdown": reasons.Reason.NODE_LOST,
    "node_not_ready": reasons.Reason.NODE_LOST,
    "failed_scheduling": reasons.Reason.UNSCHEDULABLE,
    "deleted": reasons.Reason.POD_DELETED,
}

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_BY_LABEL: Final = {r.label: r for r in reasons.Reason if r.kind is reasons.Kind.ATTEMPT}


def infra_reason(raw: str) -> str:
    """The label value for an infrastructure failure's cause.

    Args:
        raw: the cause as raised or reported: a `Reason` (``NodeLost``), a
            service's cause (``ModelRateLimited``), a Kubernetes spelling
            (``ErrImagePull``) or a label (``sandbox_unreachable``).

    Returns:
        One of `INFRA_REASONS`; ``other`` when the cause is not known.
    """
    cause = raw.strip()
    known = reasons.of_cause(cause, default=reasons.Reason.INTERNAL_ERROR)
    if known.kind is reasons.Kind.ATTEMPT:
        return known.label
    snake = _CAMEL_BOUNDARY.sub("_", cause).lower().replace("-", "_").replace(" ", "_")
    reason = _ALIASES.get(snake) or _BY_LABEL.get(snake)
    return reason.label if reason is not None else OTHER
