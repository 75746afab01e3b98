"""Shared fixtures: a small synthetic dataset of real video files, written once per session.

`synth_dataset` (session scope) is reusable by other stages' tests: it returns a
`motecli.data.synth.SynthDataset` whose `config` is a datasets.toml naming
synth, synth_ucf, synth_hmdb, synth_kinetics, synth_ssv2 and synth_bad.
`synth_env` additionally points $MOTE_DATASETS at it for the test.
"""

import pytest

from motecli.data.synth import make_synthetic_dataset


@pytest.fixture(scope="session")
def synth_dataset(tmp_path_factory):
    return make_synthetic_dataset(tmp_path_factory.mktemp("synth"), videos_per_class=6, seed=0, bad_files=True)


@pytest.fixture
def synth_env(synth_dataset, monkeypatch):
    monkeypatch.setenv("MOTE_DATASETS", str(synth_dataset.config))
    return synth_dataset
