"""Log one structured line without the per-call work nobody reads.

`Logger.log` walks the stack to find the caller's file and line on every call, and every
`LogRecord` looks up the thread and process names; our JSON lines print none of them, and the
prediction line is written once per request. When the one handler the line would reach can
write it directly (`write_fields`, the app's JSON lines handler), no record is built at all;
any other set-up (more handlers, filters, tests capturing records) gets a normal record.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

DirectWriter = Callable[[int, str, str, dict[str, Any]], None]


def log_fields(logger: logging.Logger, level: int, message: str, fields: dict[str, Any]) -> None:
    """Like `logger.log(level, message, extra={"fields": fields})`, minus the caller lookup."""
    if not logger.isEnabledFor(level):
        return
    write = direct_writer(logger, level)
    if write is not None:
        write(level, logger.name, message, fields)
        return
    record = logger.makeRecord(
        logger.name, level, "(unknown file)", 0, message, (), None, extra={"fields": fields}
    )
    logger.handle(record)


def direct_writer(logger: logging.Logger, level: int) -> DirectWriter | None:
    """`write_fields` of the only handler a record at `level` would reach, with no filter on
    the way; None otherwise (then the logging module does it all)."""
    found: DirectWriter | None = None
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters or current.disabled:
            return None
        for handler in current.handlers:
            if found is not None or handler.filters or level < handler.level:
                return None
            found = getattr(handler, "write_fields", None)
            if found is None:
                return None
        if not current.propagate:
            break
        current = current.parent
    return found
