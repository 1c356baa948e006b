"""User-facing errors.

Anything a user can cause (a wrong path, a bad weight file, a hook the model lacks) is raised as
`SaeevalError` with one sentence naming the file or argument and what was expected. The CLI prints
the message and exits non-zero instead of showing a traceback from deep inside torch.
"""

from __future__ import annotations

from pydantic import ValidationError


class SaeevalError(Exception):
    """An error caused by user input, with a message meant to be shown as is."""


def one_line(exc: BaseException) -> str:
    """A library exception's message as one line without a final period, to embed in ours."""
    return " ".join(str(exc).split()).rstrip(".")


def validation_problems(exc: ValidationError) -> str:
    """A pydantic validation error as `field: problem; field: problem`, to embed in ours."""
    return "; ".join(
        f"{'.'.join(map(str, error['loc'])) or 'config'}: {error['msg']}" for error in exc.errors()
    )
