"""Process-group helpers outside torchrun: a single process on the CPU."""

from __future__ import annotations

import pytest
import torch

from treediff.engine.errors import InputError
from treediff.engine.training.distributed import mean_over_ranks, resolve_device, setup, teardown


def test_alone_on_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    ctx = setup("cpu")
    assert (ctx.rank, ctx.world_size, ctx.is_main, ctx.distributed) == (0, 1, True, False)
    assert mean_over_ranks(ctx, {"b": 2.0, "a": 1.0}) == {"b": 2.0, "a": 1.0}
    teardown(ctx)


def test_device_names() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(InputError, match="not a torch device"):
        resolve_device("gpu-please")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="sees no CUDA GPU"):
            resolve_device("cuda")
