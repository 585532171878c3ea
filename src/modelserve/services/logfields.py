"""Log one structured line without the per-call work nobody reads.

`Logger.log` walks the stack to find the caller's file and line on every call; our JSON lines
never print them, and the prediction line is written once per request.
"""

from __future__ import annotations

import logging
from typing import Any


def log_fields(logger: logging.Logger, level: int, message: str, fields: dict[str, Any]) -> None:
    """Like `logger.log(level, message, extra={"fields": fields})`, minus the caller lookup."""
    if logger.isEnabledFor(level):
        record = logger.makeRecord(
            logger.name, level, "(unknown file)", 0, message, (), None, extra={"fields": fields}
        )
        logger.handle(record)
