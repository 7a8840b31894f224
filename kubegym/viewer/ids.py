"""The run and trial ids a viewer URL may carry, checked before any file is touched.

Called by `kubegym.viewer.app` on every path parameter. An id is one path
segment of safe characters (what `kubegym.api.trials.trial_name` and run names
produce), so no URL can walk out of the viewer's source with ``..``, a slash,
a backslash, a NUL or an absolute path.
"""

from __future__ import annotations

import re
from typing import Final

#: Letters, digits, dot, dash and underscore, starting with a letter or digit; at most 253.
_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,252}")


class BadId(ValueError):
    """A path parameter that is not a valid run or trial id."""


def check_id(value: str, what: str) -> str:
    """`value` itself when it is a safe id.

    Raises:
        BadId: it holds anything but ``[A-Za-z0-9._-]``, starts with another
            character, is ``..``-like or longer than 253 characters.
    """
    if not _ID.fullmatch(value) or ".." in value:
        raise BadId(f"invalid {what} id {value[:80]!r}: use letters, digits, '.', '-' and '_'")
    return value
