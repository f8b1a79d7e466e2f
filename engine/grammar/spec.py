"""The grammar file format: pydantic models of the YAML a user writes (the source of the JSON Schema)."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
Name = Annotated[str, Field(pattern=NAME_PATTERN)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IntTerminalSpec(_Strict):
    """An integer leaf taking every value in ``min..max`` inclusive."""

    type: Literal["int"]
    min: int
    max: int

    @model_validator(mode="after")
    def _ordered(self) -> IntTerminalSpec:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max}); expected min <= max")
        return self


class EnumTerminalSpec(_Strict):
    """A leaf taking one of a fixed list of words (e.g. colour names)."""

    type: Literal["enum"]
    values: Annotated[list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-#]+$")]], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique(self) -> EnumTerminalSpec:
        seen = [v for i, v in enumerate(self.values) if v in self.values[:i]]
        if seen:
            raise ValueError(f"enum value {seen[0]!r} is listed twice; expected distinct values")
        return self


class BoolTerminalSpec(_Strict):
    """A leaf printed as ``true`` or ``false``."""

    type: Literal["bool"]


TerminalSpec = Annotated[Union[IntTerminalSpec, EnumTerminalSpec, BoolTerminalSpec], Field(discriminator="type")]


class ProductionSpec(_Strict):
    """One alternative of a nonterminal: literal text and ``{field:symbol}`` slots."""

    name: Name = Field(description="Unique across the grammar; the node label in trees and tokens.")
    form: str = Field(description='Printed shape, e.g. "(Circle {r:coord} {x:coord} {y:coord})".')
    primitive: bool = Field(False, strict=True, description=(
        "Marks a primitive: a production that adds one element to the output (a shape, a list operation). A "
        "program's size sigma is its number of primitive nodes; sampled targets have min_primitives to "
        "max_primitives of them, and the model edits subtrees of at most sigma_small. Every grammar needs at "
        "least one primitive production."))
    weight: float = Field(1.0, ge=0, strict=True,
                          description="Relative sampling weight among the nonterminal's productions.")


class GrammarSpec(_Strict):
    """A context-free grammar with typed terminals: the treediff grammar YAML file."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="treediff grammar")

    name: Name
    start: Name
    description: str = ""
    terminals: dict[Annotated[str, Field(pattern=NAME_PATTERN)], TerminalSpec] = Field(default_factory=dict)
    rules: dict[Annotated[str, Field(pattern=NAME_PATTERN)], Annotated[list[ProductionSpec], Field(min_length=1)]]
