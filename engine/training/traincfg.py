"""Training configuration: the ``TrainConfig`` pydantic model, loaded from located YAML and CLI flags."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from treediff.engine.configfile import load_config, parse_config, validated

EXAMPLE = "e.g. `steps: 2000` on its own line"


class TrainConfig(BaseModel):
    """Everything a training run needs besides the domain; every field has a working default.

    ``model`` picks what is trained: ``diffusion`` trains the denoiser and the value network together
    (one AdamW optimizer over both, the value loss weighted by ``value_weight``); ``ar`` trains the
    autoregressive baseline. ``preset`` names an entry of ``treediff.engine.models.config.PRESETS``;
    ``model_overrides`` replaces individual fields of that preset (e.g. ``{d_model: 96}``).
    """

    model_config = ConfigDict(extra="forbid", title="treediff training config")

    preset: str = Field(default="tiny", description="Model size preset (treediff.engine.models.config.PRESETS).")
    model: Literal["diffusion", "ar"] = Field(default="diffusion", description="diffusion: denoiser + value net; "
                                              "ar: autoregressive baseline.")
    model_overrides: dict[str, Any] = Field(default_factory=dict, description="Fields replacing the preset's.")
    steps: int = Field(default=1000, ge=1, description="Total optimizer steps (a resumed run trains up to it).")
    batch_size: int = Field(default=32, ge=1, description="Examples per step and per process.")
    lr: float = Field(default=1e-3, gt=0, description="Peak learning rate (AdamW).")
    schedule: Literal["cosine", "linear", "constant"] = Field(default="cosine", description="Decay after warmup.")
    warmup_steps: int = Field(default=100, ge=0, description="Linear warmup from 0 to lr.")
    min_lr_ratio: float = Field(default=0.1, ge=0, le=1, description="Final lr as a fraction of lr (cosine, linear).")
    weight_decay: float = Field(default=0.01, ge=0)
    betas: tuple[float, float] = (0.9, 0.98)
    grad_clip: float = Field(default=1.0, ge=0, description="Max global gradient norm; 0 disables clipping.")
    value_weight: float = Field(default=0.5, ge=0, description="Weight of the value loss in the joint objective.")
    seed: int = Field(default=0, ge=0, description="Seeds weights, dropout and the data stream.")
    device: str = Field(default="auto", description='"auto" (cuda when available), "cpu", "cuda", "cuda:1", ...')
    threads: int = Field(default=0, ge=0, description="torch intra-op CPU threads of each training process; 0: torch's "
                         "default (on a busy shared CPU, 1 is often much faster)")
    workers: int = Field(default=0, ge=0, description="DataLoader processes generating examples (0: in-process).")
    prefetch: int = Field(default=4, ge=1, description="Batches each worker prepares ahead.")
    amp: Literal["auto", "on", "off"] = Field(default="auto", description="bf16 autocast; auto = on for CUDA only.")
    compile: bool = Field(default=False, description="Run the training forward through torch.compile (dynamic "
                          "shapes): fewer Python and dispatch costs per step for small models, after a minute or "
                          "two of compilation (bench/train.py --compile measures it); weights and checkpoints are "
                          "the same either way.")
    checkpoint_every: int = Field(default=500, ge=1, description="Steps between checkpoints (and the last step).")
    keep_last: int = Field(default=3, ge=1, description="Checkpoints kept in RUN_DIR/checkpoints.")
    log_every: int = Field(default=10, ge=1, description="Steps between metrics.jsonl lines.")
    val_every: int = Field(default=100, ge=1, description="Steps between validation passes (and at the end).")
    val_size: int = Field(default=256, ge=1, description="Examples in the fixed validation set.")
    quality_size: int = Field(default=64, ge=0, description="Noised pairs of the fixed edit-quality set measured at "
                              "every validation (useful-edit rates, value rank correlation); 0 disables it.")
    val_seed: int = Field(default=12345, ge=0, description="Seed of the validation set (independent of seed).")
    sigma_small: int | None = Field(default=None, ge=1, description="Largest primitive count of an edited subtree; "
                                    "None: the preset's.")
    k_max: int = Field(default=5, ge=1, description="Forward process: up to k_max mutations.")
    p_fresh: float = Field(default=0.2, ge=0, le=1, description="Forward process: probability of a brand-new program.")
    p_leaf: float = Field(default=0.0, ge=0, le=1, description="Forward process: share of noise steps that move one "
                          "leaf by a step or two (an int +-1..2, another enum word, a flipped bool) instead of "
                          "replacing a subtree: the near misses that search meets.")
    p_hoist: float = Field(default=0.0, ge=0, le=1, description="Forward process: share of noise steps that replace "
                           "a small node by one of its own children of the same nonterminal (a part missing, the "
                           "rest exact: the smaller programs searches stop on). p_leaf + p_hoist <= 1.")
    p_goal: float = Field(default=0.05, ge=0, lt=1, description="Share of goal examples (current program == target, "
                          "0 edits left): teaches the value network that the goal is 0 away.")
    multi_label: bool = Field(default=True, description="Train the pointer on every edit that may come first on the "
                              "reverse path (marginal likelihood), not only the first one listed.")
    time_limit: float | None = Field(default=None, gt=0, description="Wall-clock seconds after which the run stops "
                                     "cleanly with a checkpoint (resume continues it); None: no limit.")
    targets: Literal["random", "test"] = Field(default="random", description="Training targets: random programs "
                                               "in the size bounds, or (test) each batch drawn by the domain's "
                                               "test_targets generator, the distribution treediff eval measures "
                                               "(e.g. the visually more complex half), kept to "
                                               "min_primitives..max_primitives when they are set.")
    states: str | None = Field(default=None, description="On-policy training states: a JSON-lines file of (target, "
                               "state) programs, the beam states of searches with earlier models "
                               "(`python -m treediff.engine.training.states`); a path relative to the working "
                               "directory. Diffusion models only.")
    p_states: float = Field(default=0.0, ge=0, le=1, description="Share of examples drawn from `states` (the "
                            "state edited into its target) instead of the forward process.")
    min_primitives: int | None = Field(default=None, ge=1, description="Target size bounds; None: the domain's.")
    max_primitives: int | None = Field(default=None, ge=1)
    sized_share: float = Field(default=1.0, ge=0, le=1, description="With targets: test and size bounds: the "
                               "share of each batch kept to min_primitives..max_primitives; the rest is drawn "
                               "from the unbounded generator (a mixed curriculum: oversample some sizes without "
                               "dropping the others). 1: every target in the bounds.")
    sketch: bool = Field(default=False, description="Use the domain's sketch model for target observations.")
    tensorboard: Literal["auto", "on", "off"] = Field(default="auto", description="auto: log when tensorboard is "
                                                      "installed.")

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        if self.min_primitives and self.max_primitives and self.min_primitives > self.max_primitives:
            raise ValueError(f"min_primitives ({self.min_primitives}) is greater than max_primitives "
                             f"({self.max_primitives}); expected min <= max")
        if self.sized_share < 1 and (self.targets != "test" or not self.size_bounded):
            raise ValueError(f"sized_share {self.sized_share} with targets: {self.targets}, min_primitives "
                             f"{self.min_primitives}, max_primitives {self.max_primitives}; expected targets: test "
                             "and a size bound (the share mixes bounded and unbounded test targets)")
        if self.p_leaf + self.p_hoist > 1:
            raise ValueError(f"p_leaf ({self.p_leaf}) + p_hoist ({self.p_hoist}) is more than 1; expected shares of "
                             "the noise steps that add up to at most 1")
        if (self.p_states > 0) != (self.states is not None):
            raise ValueError(f"states {self.states!r} with p_states {self.p_states}; expected both (a states file "
                             "and the share of examples drawn from it) or neither")
        if self.states is not None and self.model != "diffusion":
            raise ValueError(f"states {self.states!r} given for a {self.model!r} model; expected states only for "
                             "model: diffusion (they are programs to edit)")
        return self

    @property
    def size_bounded(self) -> bool:
        """Whether the config sets a target size bound (``min_primitives`` or ``max_primitives``)."""
        return self.min_primitives is not None or self.max_primitives is not None

    def with_overrides(self, **flags: Any) -> TrainConfig:
        """A copy with every non-None flag applied (validated like the file)."""
        data = self.model_dump()
        data.update({k: v for k, v in flags.items() if v is not None})
        return validated(TrainConfig, data, "training")


def load_train_config(path: str | Path) -> TrainConfig:
    """Read a training config YAML; every problem is one located line in an InputError."""
    return load_config(TrainConfig, path, "training config", EXAMPLE)


def parse_train_config(text: str, path: str = "<config>") -> TrainConfig:
    """Validate config YAML ``text``; unknown keys and bad values are errors located at file:line:col."""
    return parse_config(TrainConfig, text, path, "training config", EXAMPLE)
