"""The model factory (fresh models of a kind, by role) and model bundles: trained models loaded for search."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import torch
from pydantic import ValidationError

from treediff.engine.errors import CheckpointError
from treediff.engine.training.checkpoint import MODEL_ROLES, Checkpoint, check_compatible, read_checkpoint

if TYPE_CHECKING:
    from treediff.engine.domains.domain import Domain
    from treediff.engine.domains.registry import Registry
    from treediff.engine.models.autoregressive import ARModel
    from treediff.engine.models.denoiser import Denoiser
    from treediff.engine.models.value import ValueNet
    from treediff.engine.trees.tokens import Vocab


_M = TypeVar("_M", bound=torch.nn.Module)


@dataclass
class ModelBundle:
    """Trained models ready for search: ``kind`` "diffusion" (denoiser + value) or "ar" (ar)."""

    kind: str
    denoiser: torch.nn.Module | None
    value: torch.nn.Module | None
    ar: torch.nn.Module | None
    vocab: Vocab
    config: Any  # treediff.engine.models.config.ModelConfig
    meta: dict[str, Any]
    device: torch.device

    def need_denoiser(self) -> Denoiser:
        """The denoiser; CheckpointError naming the model kind if the bundle has none."""
        from treediff.engine.models.denoiser import Denoiser

        return self._need(self.denoiser, Denoiser, "denoiser", "diffusion")

    def need_value(self) -> ValueNet:
        """The value network; CheckpointError naming the model kind if the bundle has none."""
        from treediff.engine.models.value import ValueNet

        return self._need(self.value, ValueNet, "value network", "diffusion")

    def need_ar(self) -> ARModel:
        """The autoregressive model; CheckpointError naming the model kind if the bundle has none."""
        from treediff.engine.models.autoregressive import ARModel

        return self._need(self.ar, ARModel, "autoregressive model", "ar")

    def _need(self, module: torch.nn.Module | None, cls: type[_M], role: str, kind: str) -> _M:
        if not isinstance(module, cls):
            source = self.meta.get("exported_from", {}).get("path") if isinstance(self.meta.get("exported_from"),
                                                                                 dict) else None
            raise CheckpointError(f"the loaded {self.kind!r} model{f' ({source})' if source else ''} has no "
                                  f"{role}; expected a {kind!r} model here; hint: pass a checkpoint trained "
                                  f"with `treediff train --model {kind}`")
        return module


def build_models(kind: str, config: Any, vocab: Vocab, observation_shape: tuple[int, ...],
                 encoder_factory: Any) -> dict[str, torch.nn.Module]:
    """Fresh models of ``kind`` by role (the set a checkpoint of that kind stores)."""
    if kind == "diffusion":
        from treediff.engine.models.denoiser import Denoiser
        from treediff.engine.models.value import ValueNet

        return {"denoiser": Denoiser(config, vocab, observation_shape, encoder_factory),
                "value": ValueNet(config, vocab, observation_shape, encoder_factory)}
    if kind == "ar":
        from treediff.engine.models.autoregressive import ARModel

        return {"ar": ARModel(config, vocab, observation_shape, encoder_factory)}
    raise CheckpointError(f"unknown model kind {kind!r}; expected one of: {', '.join(MODEL_ROLES)}")


def load_models(ckpt: Checkpoint, models: Mapping[str, torch.nn.Module]) -> None:
    """Load a checkpoint's weights into ``models`` (strict); CheckpointError on a shape or key mismatch."""
    for role, module in models.items():
        try:
            module.load_state_dict(ckpt.role_weights(role), strict=True)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0:3]
            raise CheckpointError(f"checkpoint {str(ckpt.path)!r} does not fit the {role} model: {' '.join(first)}; "
                                  "expected weights saved by the same treediff model code") from None


def load_bundle(path: str | Path, domain: Domain, registry: Registry,
                device: str | torch.device = "cpu") -> ModelBundle:
    """Load the models a checkpoint holds for ``domain``, in eval mode on ``device``.

    ``path`` is a run directory (its latest checkpoint), a folder with ``model.json``, or a checkpoint
    file; ``registry`` (the caller's, already loaded) provides the observation encoder. CheckpointError
    when it is unreadable or was trained for another domain or grammar.
    """
    from treediff.engine.models.config import ModelConfig
    from treediff.engine.trees.tokens import Vocab

    ckpt = read_checkpoint(path, device="cpu")
    check_compatible(ckpt.meta, domain, str(ckpt.path))
    kind = ckpt.meta.get("kind")
    if kind not in MODEL_ROLES:
        raise CheckpointError(f"checkpoint {str(ckpt.path)!r} has model kind {kind!r}; expected one of: "
                              f"{', '.join(MODEL_ROLES)}")
    try:
        config = ModelConfig.model_validate(ckpt.meta["model_config"])
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise CheckpointError(f"checkpoint {str(ckpt.path)!r} has an invalid model_config at field {where!r}: "
                              f"{err['msg']}; expected the model config written by `treediff train`") from None
    encoder = registry.encoder(ckpt.meta.get("encoder") or domain.observation_encoder)
    vocab = Vocab(domain.grammar)
    models = build_models(kind, config, vocab, tuple(domain.observation_shape), encoder)
    load_models(ckpt, models)
    dev = torch.device(device)
    for module in models.values():
        module.to(dev).eval()
    return ModelBundle(kind, models.get("denoiser"), models.get("value"), models.get("ar"), vocab, config,
                       ckpt.meta, dev)
