import os
import sys
from pathlib import Path

import pytest


from mote_builders import merged_for, small_synth




@pytest.fixture(scope="session")
def synth(tmp_path_factory):
    return small_synth(tmp_path_factory.mktemp("synth"))


@pytest.fixture(scope="session")
def merged(tmp_path_factory, synth):
    return merged_for(tmp_path_factory.mktemp("ckpt"), synth.class_names)
