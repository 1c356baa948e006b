"""User code given on the command line as `path/to/file.py:Name` (custom trainers and evals)."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import traceback
from pathlib import Path

from saeeval.errors import SaeevalError


def is_file_spec(spec: str) -> bool:
    """Whether `spec` names a class in a Python file (`path/to/file.py:Name`), not a built-in."""
    return ":" in spec and spec.rsplit(":", 1)[0].endswith(".py")


def user_traceback(exc: BaseException, path: str | Path) -> str:
    """Where in the user's own file `exc` arose (those traceback frames, or the last few when
    none is in the file), then the exception: what a user needs to fix their code."""
    path = Path(path).resolve()
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [frame for frame in frames if Path(frame.filename).resolve() == path]
    shown = traceback.format_list(mine or frames[-3:])
    return "".join(shown) + "".join(traceback.format_exception_only(type(exc), exc)).rstrip()


def user_code_error(message: str, exc: BaseException, path: str | Path) -> SaeevalError:
    """A SaeevalError for a failure inside user code: `message`, then that code's traceback."""
    return SaeevalError(f"{message}: {exc!r}\n{user_traceback(exc, path)}")


def load_class_from_file(spec: str, option: str) -> type:
    """The class `Name` defined in `path/to/file.py`, for `spec` = "path/to/file.py:Name".

    `option` is the command-line option the spec came from (`--trainer`, `--evals`), so that every
    error names what the user typed.
    """
    path_text, _, class_name = spec.rpartition(":")
    path = Path(path_text)
    if not path_text or not class_name:
        raise SaeevalError(f"{option} {spec!r}: expected path/to/file.py:ClassName")
    if not path.is_file():
        raise SaeevalError(f"{option} {spec!r}: file {path} does not exist")
    # A stable module name per file, so that a file loaded twice is one module.
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    module_name = f"saeeval_user_{path.stem}_{digest}"
    if module_name not in sys.modules:
        module_spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_name] = module
        try:
            module_spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[module_name]
            raise user_code_error(f"{option} {spec!r}: importing {path} failed", exc, path) from exc
    module = sys.modules[module_name]
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type):
        classes = sorted(
            n
            for n, v in vars(module).items()
            if isinstance(v, type) and v.__module__ == module_name
        )
        raise SaeevalError(
            f"{option} {spec!r}: {path} defines no class {class_name!r} "
            f"(classes there: {', '.join(classes) or 'none'})"
        )
    return cls
