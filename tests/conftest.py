import os

import pytest

# No network in tests: open_clip tags must never try to download.
os.environ.setdefault("MOTE_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Each test gets its own cache root, so no test sees another's files."""
    monkeypatch.setenv("MOTE_CACHE", str(tmp_path / "cache"))
