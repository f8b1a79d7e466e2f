"""Model hyper-parameters: the ModelConfig schema and the named presets."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from treediff.engine.trees.noise import SIGMA_SMALL


class ModelConfig(BaseModel):
    """Sizes of the denoiser, value network and autoregressive model (they share one backbone design).

    ``n_layers`` transformer blocks run over ``[observation tokens; program tokens]`` (the context
    encoder); ``n_decoder_layers`` causal blocks with cross-attention to that context decode a
    replacement subtree (denoiser) or a whole program (AR model). ``conditioning`` says how the target,
    current and difference observations reach the observation encoder: ``"channels"`` stacks them along
    the first observation axis (one encoder call, ``T`` tokens), ``"tokens"`` encodes each separately
    with a shared encoder and concatenates the tokens with a learned role embedding (``3T`` tokens).
    Presets size the model only. ``encoder_options`` (empty in every preset) override single options of the
    domain's observation encoder, whose own options come from ``Domain.encoder_options``; training records
    the options in effect here, so a checkpoint rebuilds the same encoder.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    d_model: int = Field(default=64, ge=8, description="width of every token vector")
    n_heads: int = Field(default=4, ge=1, description="attention heads; must divide d_model")
    n_layers: int = Field(default=2, ge=1, description="context encoder blocks over observation + program tokens")
    n_decoder_layers: int = Field(default=2, ge=1, description="causal decoder blocks (replacement / program)")
    mlp_ratio: int = Field(default=4, ge=1, description="hidden width of each MLP as a multiple of d_model")
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    max_program_tokens: int = Field(default=128, ge=4, description="longest current program the model reads")
    max_edit_tokens: int = Field(default=40, ge=3, description="longest replacement incl. BOS and EOS")
    sigma_small: int = Field(default=SIGMA_SMALL, ge=1, description="most primitives in a replacement subtree")
    conditioning: Literal["channels", "tokens"] = "channels"
    encoder_options: dict[str, Any] = Field(default_factory=dict,
                                            description="keyword options of the observation encoder")

    @model_validator(mode="after")
    def _heads_divide_width(self) -> ModelConfig:
        if self.d_model % self.n_heads:
            raise ValueError(f"n_heads={self.n_heads} must divide d_model={self.d_model}")
        return self


#: ModelConfig fields that shape no weight: a warm start (``treediff train --init``) may change them, e.g. let a
#: model trained on edits of two primitives learn edits of three (``sigma_small``). Resuming may not.
WARM_START_FREE: tuple[str, ...] = ("sigma_small", "dropout")

PRESETS: dict[str, ModelConfig] = {
    # ~0.3M parameters: trains on a CPU in about a minute; for tests and smoke runs.
    "tiny": ModelConfig(d_model=64, n_heads=4, n_layers=2, n_decoder_layers=2),
    # ~1.5M parameters: a CPU-friendly middle ground (8x8 observation tokens on 128x128 grids).
    "small": ModelConfig(d_model=128, n_heads=4, n_layers=4, n_decoder_layers=2),
    # ~9M parameters: sized to train well on one GPU in under an hour.
    "default": ModelConfig(d_model=256, n_heads=8, n_layers=6, n_decoder_layers=4),
}
