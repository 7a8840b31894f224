"""The ``mlgym`` agent preset: MLGym-Bench's default agent, reproduced for comparable scores.

``spec.agents[].preset: mlgym`` (a model agent) builds `MLGymAgent` (`agent`): MLGym's
templates and command list (`templates`), its history processor (`history`), its reply parser
(`replies`), its format-error re-ask, cost limit and automatic submissions. The tools it names
behave as MLGym's through the tool settings of the preset (`kubegym.agent_runner.tools`).
"""

from __future__ import annotations

from kubegym.agent_runner.mlgym.agent import TEMPERATURE, TOP_P, WINDOW, MLGymAgent, sampling

__all__ = ["TEMPERATURE", "TOOL_NAMES", "TOP_P", "WINDOW", "MLGymAgent", "sampling"]

TOOL_NAMES = (
    "open",
    "goto",
    "scroll_down",
    "scroll_up",
    "create",
    "search_dir",
    "search_file",
    "find_file",
    "edit",
    "insert",
    "submit",
    "validate",
)
"""The commands of MLGym-Bench's default agent, in its order (no memory, no literature search)."""
