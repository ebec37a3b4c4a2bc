from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.sync.world import SyncWorld


@pytest.fixture
def world(tmp_path: Path) -> Iterator[SyncWorld]:
    w = SyncWorld(tmp_path)
    yield w
    w.close()
