"""Schema errors of grammar files: located diagnostics with hints, and salvage so later checks still run."""

from __future__ import annotations

import copy
import difflib
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from treediff.engine.grammar.spec import GrammarSpec
from treediff.engine.grammar.yamlsource import LocatedDocument

_KEYS = {
    "top": ["name", "start", "description", "terminals", "rules"],
    "terminals": ["type", "min", "max", "values"],
    "rules": ["name", "form", "primitive", "weight"],
}
_TYPE_TAGS = ("int", "enum", "bool")


@dataclass
class Salvage:
    """What was dropped from a document so the rest could be checked; those parts are not blamed again."""

    removed_terminals: set[str] = field(default_factory=set)
    removed_rules: set[str] = field(default_factory=set)
    broken_rules: set[str] = field(default_factory=set)  # rules that lost a production
    start_unknown: bool = False
    renamed: dict[str, str] = field(default_factory=dict)  # section checked under its right name -> as written

    def known(self, symbol: str) -> bool:
        """Whether ``symbol`` was defined but dropped (so a reference to it is not 'undefined')."""
        return symbol in self.removed_terminals or symbol in self.removed_rules


def validate_spec(doc: LocatedDocument) -> tuple[GrammarSpec | None, Salvage]:
    """Validate ``doc.data``; report every schema error and return what validates after dropping bad parts."""
    salvage = Salvage()
    if not isinstance(doc.data, dict):
        doc.problems.append(doc.diagnostic((), "the top level must be a mapping with name, start and rules",
                                           "start the file with `name:`, `start:` and `rules:` keys"))
        return None, salvage
    data = copy.deepcopy(doc.data)
    reported: set[tuple[Any, ...]] = set()
    for _ in range(25):
        try:
            return GrammarSpec.model_validate(data), salvage
        except ValidationError as exc:
            errors = exc.errors()
        unknown = {_where(e["loc"]) for e in errors if e["type"] == "extra_forbidden"}
        for err in errors:
            where = _where(err["loc"])
            written = _written(where, salvage)
            if (written, err["type"]) in reported or (err["type"] == "missing" and _misspelt(where, unknown)):
                continue
            reported.add((written, err["type"]))
            doc.problems.append(_diagnostic(doc, err, where, written))
        if not _drop(data, [_where(e["loc"]) for e in errors], salvage):
            return None, salvage
    return None, salvage


def _written(where: tuple[Any, ...], salvage: Salvage) -> tuple[Any, ...]:
    """Translate a location in a renamed section back to the key as the user wrote it."""
    if where and where[0] in salvage.renamed:
        return (salvage.renamed[where[0]],) + where[1:]
    return where


def _misspelt(missing: tuple[Any, ...], unknown: set[tuple[Any, ...]]) -> bool:
    """Whether a required key is missing only because a sibling key is a misspelling of it."""
    return any(u[:-1] == missing[:-1] and difflib.get_close_matches(str(u[-1]), [str(missing[-1])], cutoff=0.6)
               for u in unknown)


def _where(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(p for p in loc if p != "[key]" and not (isinstance(p, str) and p in _TYPE_TAGS))


def _diagnostic(doc: LocatedDocument, err: Any, where: tuple[Any, ...], written: tuple[Any, ...]) -> Any:
    """A located diagnostic: ``where`` is the path in the checked data, ``written`` the path in the file."""
    kind = err["type"]
    if kind == "extra_forbidden":
        return doc.diagnostic(written, f"unknown key {where[-1]!r}", _unknown_key_hint(where), key=True)
    if kind == "list_type" and len(where) == 2 and where[0] == "rules":
        return doc.diagnostic(written, f"rule {where[1]!r}: expected a list of productions",
                              _hint(kind, where, None), key=True)
    label = _label(doc, where)
    msg = f"{label}: {err['msg'][0].lower()}{err['msg'][1:]}" if label else err["msg"]
    msg = msg.replace("Value error, ", "").replace("value error, ", "")
    value = err.get("input")
    if kind != "missing" and value is not None and not isinstance(value, (dict, list)):
        msg += f" (got {value!r})"
    return doc.diagnostic(written, msg, _hint(kind, where, value))


def _label(doc: LocatedDocument, where: tuple[Any, ...]) -> str:
    """A readable name for a location: ``production 'mul' of rule 'expr', key 'weight'``."""
    if len(where) >= 3 and where[0] == "rules" and isinstance(where[2], int):
        items = doc.data.get("rules", {}).get(where[1], []) if isinstance(doc.data, dict) else []
        item = items[where[2]] if isinstance(items, list) and where[2] < len(items) else None
        name = item.get("name") if isinstance(item, dict) else None
        who = f"production {name!r}" if isinstance(name, str) else f"production #{where[2] + 1}"
        rest = f", key {where[3]!r}" if len(where) > 3 else ""
        return f"{who} of rule {where[1]!r}{rest}"
    if len(where) >= 2 and where[0] == "terminals":
        return f"terminal {where[1]!r}" + (f", key {where[2]!r}" if len(where) > 2 else "")
    if len(where) == 2 and where[0] == "rules":
        return f"rule {where[1]!r}"
    return f"key {where[0]!r}" if where else ""


def _unknown_key_hint(where: tuple[Any, ...]) -> str:
    section = "top" if len(where) == 1 else str(where[0])
    allowed = _KEYS.get(section, _KEYS["top"])
    near = difflib.get_close_matches(str(where[-1]), allowed, n=1, cutoff=0.6)
    prefix = f"did you mean {near[0]!r}? " if near else ""
    return f"{prefix}allowed keys here: {', '.join(allowed)}"


def _hint(kind: str, where: tuple[Any, ...], value: Any) -> str:
    last = where[-1] if where else ""
    if kind == "missing":
        return f"add `{last}:` here" + (" (see the grammar format in the README)" if len(where) == 1 else "")
    if kind == "string_pattern_mismatch":
        return "names are identifiers: a letter or _, then letters, digits or _"
    if kind == "too_short":
        return "give at least one entry"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        return "terminal type must be int, enum or bool"
    if last == "form" and kind == "string_type":
        return 'quote the form: form: "(Circle {r:coord})" (unquoted, YAML reads {a:b} as a mapping)'
    if kind == "list_type" and len(where) == 2 and where[0] == "rules":
        return "write a rule's productions as a list: `- name: ...` then `form: ...` under it"
    if kind in ("bool_type", "bool_parsing"):
        return "write true or false without quotes"
    if kind in ("float_type", "int_type", "float_parsing", "int_parsing", "int_from_float"):
        return "write a number without quotes" + ("; int bounds must be whole numbers" if last in ("min", "max")
                                                  else "")
    if kind == "greater_than_equal":
        return "weights are relative sampling frequencies: use 0 or more"
    return ""


def _drop(data: dict[str, Any], wheres: list[tuple[Any, ...]], salvage: Salvage) -> bool:
    """Remove the parts of ``data`` the errors point at; False when nothing could be removed."""
    dropped = False
    items: dict[str, set[int]] = {}
    for where in wheres:
        head = where[0] if where else None
        if head == "rules" and len(where) >= 3 and isinstance(where[2], int):
            items.setdefault(where[1], set()).add(where[2])
        elif head in ("rules", "terminals") and len(where) >= 2:
            section = data.get(head)
            if isinstance(section, dict) and where[1] in section:
                del section[where[1]]
                (salvage.removed_rules if head == "rules" else salvage.removed_terminals).add(str(where[1]))
                dropped = True
        elif head in ("rules", "terminals"):
            if not isinstance(data.get(head), dict) and head == "terminals":
                data[head] = {}
                dropped = True
        elif head in ("name", "start", "description"):
            data[head] = "_" if head != "description" else ""
            salvage.start_unknown |= head == "start"
            dropped = True
        elif head is not None and head in data:
            value = data.pop(head)
            near = difflib.get_close_matches(str(head), ["terminals", "rules"], n=1, cutoff=0.75)
            if len(where) == 1 and near and near[0] not in data:  # check a misspelt section's contents too
                data[near[0]] = value
                salvage.renamed[near[0]] = head
            dropped = True
    rules = data.get("rules")
    for nt, indices in items.items():
        alts = rules.get(nt) if isinstance(rules, dict) else None
        if isinstance(alts, list):
            rules[nt] = [a for i, a in enumerate(alts) if i not in indices]  # type: ignore[index]
            salvage.broken_rules.add(nt)
            dropped = True
            if not rules[nt]:  # type: ignore[index]
                del rules[nt]  # type: ignore[union-attr]
                salvage.removed_rules.add(nt)
    return dropped
