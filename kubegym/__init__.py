"""kubegym: AI-research-agent benchmarks on Kubernetes and on one machine.

The names a user types most are re-exported here; everything else is imported
from its module (``kubegym.api``, ``kubegym.scoring``…).
"""

from kubegym.errors import ConfigError, InfraError, KubegymError, LimitReached

__all__ = ["ConfigError", "InfraError", "KubegymError", "LimitReached"]
