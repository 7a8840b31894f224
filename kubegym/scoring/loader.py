"""Reading a score CSV into a DataFrame: the only file input of kubegym.scoring.

Called by `kubegym aup`; everything after it works on DataFrames. Rows are
indexed by their line number in the file so errors can name them.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO

import pandas as pd

from kubegym.errors import ConfigError


def read_scores_csv(source: str | Path | IO[str]) -> pd.DataFrame:
    """Read ``task,direction,method,best_attempt,best_submission`` rows as text.

    Args:
        source: a path or an open text file.

    Returns:
        The rows as strings (an empty cell is ``""``), indexed by line number
        (the header is line 1). `tidy.validate_scores` parses them.

    Raises:
        ConfigError: the file is empty, not CSV, or cannot be read.
    """
    name = str(source) if isinstance(source, str | Path) else getattr(source, "name", "input")
    try:
        frame = pd.read_csv(source, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError as exc:
        raise ConfigError(f"{name} is empty", hint="the first line names the columns") from exc
    except pd.errors.ParserError as exc:
        detail = str(exc).strip().splitlines()[-1]
        raise ConfigError(f"{name} is not valid CSV: {detail}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {name}: {exc}") from exc
    frame.columns = pd.Index([str(column).strip() for column in frame.columns])
    frame.index = pd.RangeIndex(2, 2 + len(frame), name="line")
    return frame
