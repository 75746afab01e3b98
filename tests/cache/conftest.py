import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "merge"))

from mote_builders import merged_for, small_synth  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _cache_root(tmp_path_factory):
    """Every cache of these tests under the session's temporary folder."""
    saved = {k: os.environ.get(k) for k in ("MOTE_CACHE", "OMP_NUM_THREADS")}
    os.environ["MOTE_CACHE"] = str(tmp_path_factory.getbasetemp() / "mote-cache")
    os.environ["OMP_NUM_THREADS"] = "1"
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def synth(tmp_path_factory):
    return small_synth(tmp_path_factory.mktemp("synth"))


@pytest.fixture(scope="session")
def merged(tmp_path_factory, synth):
    return merged_for(tmp_path_factory.mktemp("ckpt"), synth.class_names)
