"""In-process runs of the executor freeze the test process's heap, as a worker's calls do
(sandbox/leftovers.py); each test gives the rest of the suite its collector back."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _unfreeze_after_test() -> Iterator[None]:
    yield
    gc.unfreeze()
