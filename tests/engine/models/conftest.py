"""Model tests run single-threaded: tiny tensors gain nothing from intra-op threads, and on a busy
machine OpenMP barrier spinning makes them many times slower."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def single_thread() -> Iterator[None]:
    """Run the test with one torch thread; restore the previous count afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
