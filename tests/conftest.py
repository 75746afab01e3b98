import os

import pytest

# No network in tests: open_clip tags must never try to download.
os.environ.setdefault("MOTE_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Two cores: one thread per process keeps subprocess-heavy tests from oversubscribing.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session", autouse=True)
def _session_cache(tmp_path_factory):
    """Caches written by session-scoped fixtures land under the session's temporary folder."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MOTE_CACHE", str(tmp_path_factory.getbasetemp() / "mote-cache"))
        yield


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Each test gets its own cache root, so no test sees another's files."""
    monkeypatch.setenv("MOTE_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="session")
def synth(tmp_path_factory):
    """A few short synthetic videos (tests/cache, tests/eval)."""
    from mote_builders import small_synth

    return small_synth(tmp_path_factory.mktemp("synth"))


@pytest.fixture(scope="session")
def merged(tmp_path_factory, synth):
    """A merged tiny checkpoint fine-tuned on the classes of `synth`."""
    from mote_builders import merged_for

    return merged_for(tmp_path_factory.mktemp("ckpt"), synth.class_names)
