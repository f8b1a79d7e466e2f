"""Config files: a pydantic model read from YAML, every problem reported as one located line."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from treediff.engine.errors import Diagnostic, InputError
from treediff.engine.grammar.yamlsource import LocatedDocument, load_located

M = TypeVar("M", bound=BaseModel)


def load_config(model: type[M], path: str | Path, what: str, example: str) -> M:
    """Read ``path`` as a ``model``; InputError naming the file (``what``: e.g. "training config") if unreadable."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{what} {str(path)!r} cannot be read: {exc}; expected a UTF-8 YAML file") from None
    return parse_config(model, text, str(path), what, example)


def parse_config(model: type[M], text: str, path: str, what: str, example: str) -> M:
    """Validate YAML ``text`` as a ``model``: unknown keys and bad values are errors located at file:line:col;
    an empty file (or comments only) means every default. ``example`` is a hint for a non-mapping top level."""
    if all(not line.strip() or line.lstrip().startswith("#") for line in text.splitlines()):
        return model()
    doc = load_located(text, path)
    if not doc.problems and doc.data is not None and not isinstance(doc.data, dict):
        doc.problems.append(doc.diagnostic((), "the top level must be a mapping of option: value", example))
    if doc.problems:
        _raise(doc.problems, path, what)
    try:
        return model.model_validate(doc.data or {})
    except ValidationError as exc:
        _raise(_diagnostics(exc, doc, model), path, what)
    raise AssertionError("unreachable")


def validated(model: type[M], data: dict[str, object], what: str) -> M:
    """``data`` (a config with command-line flags applied) as a ``model``; one-line InputError naming the flags."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in exc.errors())
        raise InputError(f"command-line {what} options are invalid: {problems}") from None


def _diagnostics(exc: ValidationError, doc: LocatedDocument, model: type[BaseModel]) -> list[Diagnostic]:
    out = []
    for err in exc.errors():
        where = tuple(err["loc"])
        if err["type"] == "extra_forbidden":
            known = _known(model, where[:-1])
            out.append(doc.diagnostic(where, f"unknown option {'.'.join(map(str, where))!r}",
                                      f"known options: {known}", key=True))
            continue
        msg = f"{'.'.join(map(str, where)) or 'config'}: {err['msg']}"
        if "input" in err and not isinstance(err["input"], (dict, list)):
            msg += f" (got {err['input']!r})"
        out.append(doc.diagnostic(where, msg))
    return out


def _known(model: type[BaseModel], where: tuple[object, ...]) -> str:
    """The option names of the (nested) model section at ``where``."""
    for key in where:
        field = model.model_fields.get(str(key))
        sub = field.annotation if field is not None else None
        if not (isinstance(sub, type) and issubclass(sub, BaseModel)):
            break
        model = sub
    return ", ".join(model.model_fields)


def _raise(problems: list[Diagnostic], path: str, what: str) -> None:
    raise InputError(f"{what} {path!r} is invalid:\n" + "\n".join(str(d) for d in problems))
