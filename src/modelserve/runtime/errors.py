"""Domain errors raised by the runtime; the faces map them to HTTP or CLI output."""

from __future__ import annotations

from dataclasses import dataclass


class RuntimeFault(Exception):
    """Base class of every error the runtime raises on purpose."""


class ManifestError(RuntimeFault):
    """A `model.toml` is missing, malformed or inconsistent."""


class UnsafeArtifactError(RuntimeFault):
    """Loading an artifact would execute code we have no reason to trust."""


class ModelLoadError(RuntimeFault):
    """An artifact could not be loaded or does not behave as its manifest says."""


class ModelNotFoundError(RuntimeFault):
    """No loaded model has the requested name."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class DeadlineExceededError(RuntimeFault):
    """A prediction did not finish before its deadline."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"prediction did not finish within {seconds:g} s")
        self.seconds = seconds


@dataclass(frozen=True)
class FieldError:
    """One problem with one value: which row, which field, what rule it breaks.

    `code` is stable and machine-readable; `params` fill the human message, which the
    faces render in the reader's language (see `runtime.messages`).
    """

    row: int | None
    field: str | None
    code: str
    params: tuple[tuple[str, object], ...] = ()


class ValidationError(RuntimeFault):
    """The input breaks the schema; `errors` lists every problem at once."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(f"{len(errors)} validation error(s)")
        self.errors = errors


class TooManyRowsError(RuntimeFault):
    """A request carries more rows than the configured cap."""

    def __init__(self, rows: int, cap: int) -> None:
        super().__init__(f"{rows} rows exceed the cap of {cap}")
        self.rows = rows
        self.cap = cap
