import pytest


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("mote-cache")


@pytest.fixture(autouse=True)
def _isolated_cache(shared_cache, monkeypatch):
    """Overrides the suite-wide per-test cache: these tests share one cache root, so
    the tiny text encoder and the synthetic videos are computed once per session."""
    monkeypatch.setenv("MOTE_CACHE", str(shared_cache))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
