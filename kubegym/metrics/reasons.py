"""The closed set of infrastructure-failure reasons a metric label may carry.

`kubegym.errors.InfraError` carries a CamelCase cause as Kubernetes or the
sandbox client spells it (``OOMKilled``, ``ImagePullBackOff``,
``SandboxUnreachable``); the recorder maps it here to one snake_case label
value, and anything unknown to ``other``, so a new error string can never
create a new time series.
"""

from __future__ import annotations

import re

OTHER = "other"

INFRA_REASONS = frozenset(
    {
        "oom_killed",
        "evicted",
        "node_lost",
        "image_pull",
        "unschedulable",
        "pod_deleted",
        "deadline",
        "preempted",
        "sandbox_unreachable",
        "sandbox_start_failed",
        "store_unavailable",
        "model_unavailable",
        OTHER,
    }
)

# Kubernetes' and kubegym's spellings that do not simply snake_case into a reason.
_ALIASES = {
    "oomkilled": "oom_killed",
    "oom": "oom_killed",
    "err_image_pull": "image_pull",
    "image_pull_back_off": "image_pull",
    "invalid_image_name": "image_pull",
    "node_shutdown": "node_lost",
    "node_not_ready": "node_lost",
    "failed_scheduling": "unschedulable",
    "deadline_exceeded": "deadline",
    "active_deadline_exceeded": "deadline",
    "deleted": "pod_deleted",
    "s3_unavailable": "store_unavailable",
    # The operator's InfraReasons (kubegym.api.trials) that do not snake_case into a label.
    "image_pull_failed": "image_pull",
    "sandbox_failed": "sandbox_unreachable",
    "evaluator_unreachable": "sandbox_unreachable",  # the evaluator lives in the sandbox pod
}

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def infra_reason(raw: str) -> str:
    """The label value for an infrastructure failure's cause.

    Args:
        raw: the cause as raised or reported (``OOMKilled``, ``Evicted``,
            ``ErrImagePull``, ``sandbox_unreachable``…).

    Returns:
        One of `INFRA_REASONS`; ``other`` when the cause is not known.
    """
    snake = _CAMEL_BOUNDARY.sub("_", raw.strip()).lower().replace("-", "_").replace(" ", "_")
    snake = _ALIASES.get(snake, snake)
    return snake if snake in INFRA_REASONS else OTHER
