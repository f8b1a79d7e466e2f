"""What a domain plugin provides: executor, goal check, observation storage and preview, encoder, targets.

Nothing here assumes images: a domain says how its observations are stored in files
(:class:`ObservationStorage`: suffix, load, save, typed options), how a report shows one
(:class:`Preview`: an image, text or an HTML snippet) and which observation encoder reads them.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError

from treediff.engine.errors import DomainError, InputError
from treediff.engine.grammar.grammar import Grammar
from treediff.engine.trees.tree import Node

if TYPE_CHECKING:
    import torch


class Executor(Protocol):
    """Runs a batch of programs and returns their observations.

    ``execute(trees)`` returns a float32 tensor of shape ``[len(trees), *Domain.observation_shape]`` on
    ``executor.device``. It must handle any well-typed tree of the domain's grammar (including
    degenerate ones: empty results, off-range geometry) without raising. The engine checks the shape of
    every result and raises a DomainError naming the plugin when it is wrong.
    """

    device: torch.device

    def execute(self, trees: Sequence[Node]) -> torch.Tensor: ...


class GoalCheck(Protocol):
    """``goal(observations [B, *S], target [*S]) -> bool tensor [B]``: which programs count as solved."""

    def __call__(self, observations: torch.Tensor, target: torch.Tensor) -> torch.Tensor: ...


class Distance(Protocol):
    """``distance(observations [B, *S], target [*S]) -> float tensor [B]``; 0 is a perfect match.

    Used to rank candidates when no model is available and reported as the ``score`` of a solve.
    """

    def __call__(self, observations: torch.Tensor, target: torch.Tensor) -> torch.Tensor: ...


class ObservationOptions(BaseModel):
    """Base of a domain's typed options for reading observation files (none by default).

    Subclass it with typed fields, e.g. ``invert: bool = False``; on the command line each field is a flag
    after the positional arguments (``--invert``, ``--no-invert``, ``--name=value``). A field's
    ``description`` is shown by ``treediff plugins``. Unknown options are an error naming the domain.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Preview:
    """How a report shows one observation: ``mime`` is ``image/png`` (or another ``image/*``; ``data`` is the
    file's bytes), ``text/plain`` (``data`` is text, shown preformatted) or ``text/html`` (``data`` is a
    self-contained HTML snippet, inserted as is)."""

    mime: str
    data: bytes | str

    def html(self, alt: str = "observation") -> str:
        """The preview as an HTML snippet."""
        if self.mime.startswith("image/"):
            raw = self.data if isinstance(self.data, bytes) else self.data.encode("utf-8")
            uri = f"data:{self.mime};base64," + base64.b64encode(raw).decode("ascii")
            return f'<img alt="{html.escape(alt, quote=True)}" src="{uri}">'
        text = self.data.decode("utf-8", "replace") if isinstance(self.data, bytes) else self.data
        if self.mime == "text/html":
            return f'<div class="obs">{text}</div>'
        return f'<pre class="obs">{html.escape(text)}</pre>'


@dataclass
class ObservationStorage:
    """How a domain's observations are stored in files.

    ``suffix`` names the files (``".png"``, ``".json"``): ``solve TARGET`` expects it, ``sample --out`` and
    ``demo`` write it, ``eval --targets DIR`` reads it (``.txt`` files there are programs). ``load(path,
    options)`` returns one observation ``[*S]`` on the CPU, ``options`` an instance of the ``options``
    model; ``save(observation, path)`` writes one (atomically). ``preview(observation)`` is what reports
    show (default: the observation's values as text). ``description`` says in words what a file is
    (used in error messages, e.g. "a PNG image").
    """

    suffix: str
    load: Callable[[Path, Any], torch.Tensor]
    save: Callable[[torch.Tensor, Path], None]
    options: type[ObservationOptions] = ObservationOptions
    preview: Callable[[torch.Tensor], Preview] | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if not self.suffix.startswith(".") or len(self.suffix) < 2:
            raise DomainError(f"observation storage suffix {self.suffix!r}; expected a file suffix like '.png'")
        if self.suffix.lower() == ".txt":
            raise DomainError("observation storage suffix '.txt' is taken by program files (eval --targets, demo "
                              "targets); expected another suffix, e.g. '.grid' or '.json'")
        if not (isinstance(self.options, type) and issubclass(self.options, ObservationOptions)):
            raise DomainError(f"observation options {self.options!r}; expected a subclass of "
                              "treediff.ObservationOptions")


PREVIEW_VALUES = 400  # the default text preview shows at most this many numbers


def text_preview(observation: torch.Tensor) -> Preview:
    """The default preview: the shape and the values as text (rounded to 4 digits, at most PREVIEW_VALUES)."""
    values = observation.detach().cpu().flatten().tolist()
    shown = " ".join(f"{v:.4g}" for v in values[:PREVIEW_VALUES])
    more = f" ... ({len(values) - PREVIEW_VALUES} more)" if len(values) > PREVIEW_VALUES else ""
    return Preview("text/plain", f"shape {list(observation.shape)}: {shown}{more}")


@dataclass
class Domain:
    """Everything the engine needs to synthesise programs in one language.

    Plugins build one of these and hand it to the ``register`` callback of
    :func:`treediff.engine.domains.hookspecs.treediff_register_domains`. All callables must be deterministic given their
    inputs (and the generator they are passed).

    - ``storage``: how observations are stored in files and previewed (:class:`ObservationStorage`).
    - ``observation_encoder`` and ``encoder_options``: the registered encoder that reads observations and
      its keyword options (model presets size the model only; a training config's
      ``model_overrides.encoder_options`` may still override single options).
    - ``min_primitives``/``max_primitives``: size bounds of sampled targets, counted in productions marked
      ``primitive: true`` in the grammar.
    - ``test_targets(n, seed)``: a fixed set of test programs (default: ``n`` random programs in the size bounds).
    - ``targets_dir``: bundled target files (``*`` + storage suffix and/or ``*.txt`` programs), used by ``demo``.
    - ``checkpoint``/``ar_checkpoint``: the shipped diffusion / autoregressive models, if any.
    - ``sketch(trees, generator)``: a sketch model (``[B, *S]``), if the domain has one; ``solve --sketch`` and
      ``train --sketch`` need it.
    - ``read_program(path)``: a front-end for program files written by people (e.g. real Python read with
      tree-sitter), used by ``solve --start FILE``; it raises InputError with ``file:line:col`` for code the
      grammar cannot express. Default: the grammar's own parser on the file's text.
    - ``observation_key(tree)``: a hashable key of what ``tree`` executes to, computed without the executor
      (e.g. a normal form). The contract: two programs with equal keys execute to the same observation. A
      search then executes, and counts as a renderer call, one program per key; any other program with that key
      is a repeat of it (for example a colour change of a shape that draws nothing). Default: none, every
      distinct tree is executed.
    """

    name: str
    grammar: Grammar
    make_executor: Callable[[str], Executor]  # device string ("cpu", "cuda", "cuda:1") -> executor
    goal: GoalCheck
    distance: Distance
    observation_shape: tuple[int, ...]
    storage: ObservationStorage
    observation_encoder: str = "grid"  # name of a registered observation encoder
    encoder_options: dict[str, Any] = field(default_factory=dict)
    min_primitives: int = 2  # default size bounds of sampled targets (primitive productions)
    max_primitives: int = 8
    sketch: Callable[[Sequence[Node], Any], torch.Tensor] | None = None  # (trees, torch.Generator) -> [B, *S]
    test_targets: Callable[[int, int], list[Node]] | None = None  # (n, seed) -> complexity-filtered targets
    targets_dir: Path | None = None
    checkpoint: Path | None = None  # the shipped model, if any
    ar_checkpoint: Path | None = None
    save_sheet: Callable[[torch.Tensor, Path], None] | None = None  # [B, *S] -> one overview file (storage suffix)
    read_program: Callable[[Path], Node] | None = None  # a user-written program file -> tree
    observation_key: Callable[[Node], Hashable] | None = None  # tree -> key; equal keys, equal observations
    description: str = ""
    plugin: str = ""  # set by the registry: the plugin that registered this domain

    def __post_init__(self) -> None:
        if not isinstance(self.storage, ObservationStorage):
            raise DomainError(f"domain {self.name!r}: storage is {self.storage!r}; expected a "
                              "treediff.ObservationStorage (suffix, load, save, options, preview)")
        self.observation_shape = tuple(int(s) for s in self.observation_shape)
        if self.targets_dir is not None:
            self.targets_dir = Path(self.targets_dir)
        raw = self.make_executor
        if not getattr(raw, "_treediff_checked", False):
            def make_checked(device: str) -> Executor:
                return CheckedExecutor(raw(device), self)

            make_checked._treediff_checked = True  # type: ignore[attr-defined]
            self.make_executor = make_checked

    def model_config(self, config: Any) -> Any:
        """``config`` (a ModelConfig) with this domain's encoder options filled in under its own overrides."""
        merged = {**self.encoder_options, **config.encoder_options}
        return config.model_copy(update={"encoder_options": merged}) if merged != config.encoder_options else config

    @property
    def owner(self) -> str:
        """How errors name the plugin: ``plugin 'x' (domain 'y')``."""
        return f"plugin {self.plugin!r} (domain {self.name!r})" if self.plugin else f"domain {self.name!r}"

    # -- observation files ---------------------------------------------------------------------------

    def observation_options(self, options: Mapping[str, Any] | ObservationOptions | None = None
                            ) -> ObservationOptions:
        """``options`` validated against the domain's options model (InputError naming the domain otherwise)."""
        model = self.storage.options
        if isinstance(options, model):
            return options
        if isinstance(options, ObservationOptions):
            options = options.model_dump()
        try:
            return model.model_validate(dict(options or {}))
        except ValidationError as exc:
            known = ", ".join(f"--{n.replace('_', '-')}" for n in model.model_fields) or "none"
            problems = []
            for err in exc.errors():
                key = ".".join(map(str, err["loc"]))
                if err["type"] == "extra_forbidden":
                    problems.append(f"domain {self.name!r} has no observation option --{key.replace('_', '-')}")
                else:
                    problems.append(f"observation option --{key.replace('_', '-')}: {err['msg']}")
            raise InputError("; ".join(problems) + f"; its options: {known}. "
                             "hint: `treediff plugins` lists them") from None

    def load_observation(self, path: Path, options: Mapping[str, Any] | ObservationOptions | None = None
                         ) -> torch.Tensor:
        """Read one observation file with the domain's storage; its shape is checked."""
        opts = self.observation_options(options)
        observation = self.storage.load(Path(path), opts)
        self.check_shape(observation, 1, f"the observation read from {str(path)!r}", batch=False)
        return observation

    def save_observation(self, observation: torch.Tensor, path: Path) -> None:
        """Write one observation with the domain's storage."""
        self.storage.save(observation, Path(path))

    def program_from_file(self, path: Path) -> Node:
        """A program file read with the domain's front-end (``read_program``), else parsed with its grammar."""
        from treediff.engine.grammar.programs import read_program
        from treediff.engine.trees.tree import validate

        path = Path(path)
        if not path.is_file():
            raise InputError(f"program file {str(path)!r} does not exist; expected a {self.name} program file")
        if self.read_program is None:
            return read_program(self.grammar, str(path))
        tree = self.read_program(path)
        validate(tree, self.grammar)
        return tree

    def observation_file(self, stem: str) -> str:
        """The file name of an observation called ``stem`` (e.g. ``t0001.png``)."""
        return f"{stem}{self.storage.suffix}"

    def preview(self, observation: torch.Tensor) -> Preview:
        """How a report shows ``observation`` (the storage's preview, else its values as text)."""
        fn = self.storage.preview or text_preview
        return fn(observation.detach().cpu())

    def check_shape(self, out: Any, n: int, what: str, batch: bool = True) -> None:
        """DomainError naming the plugin unless ``out`` is a tensor ``[n, *observation_shape]`` (or
        ``[*observation_shape]`` with ``batch=False``)."""
        import torch

        want = (n, *self.observation_shape) if batch else self.observation_shape
        if not isinstance(out, torch.Tensor):
            raise DomainError(f"{self.owner}: {what} is a {type(out).__name__}; expected a float tensor of shape "
                              f"{list(want)}")
        if tuple(out.shape) != tuple(want):
            raise DomainError(f"{self.owner}: {what} has shape {list(out.shape)}; expected {list(want)} "
                              f"({'[len(trees), *observation_shape]' if batch else 'observation_shape'}, "
                              f"observation_shape={list(self.observation_shape)})")


class CheckedExecutor:
    """Wraps a plugin's executor: every ``execute`` result is checked to be ``[len(trees), *observation_shape]``."""

    _treediff_checked = True

    def __init__(self, inner: Executor, domain: Domain) -> None:
        self.inner, self.domain = inner, domain
        self.device = inner.device

    def execute(self, trees: Sequence[Node]) -> torch.Tensor:
        trees = list(trees)
        out = self.inner.execute(trees)
        self.domain.check_shape(out, len(trees), f"the executor's output for {len(trees)} program(s)")
        return out

    def __getattr__(self, name: str) -> Any:  # only called for attributes the wrapper lacks
        if name.startswith("__") or name in ("inner", "domain"):
            raise AttributeError(name)
        return getattr(self.inner, name)
