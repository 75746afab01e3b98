"""Training from `mote decode` frame stores (data.frame_store): train and validation
clips come from the stores, never from the videos, named explicitly or found where
the dataset registry puts them."""

import json
import shutil

import pytest
from cli_asserts import assert_one_line_error
from typer.testing import CliRunner

import motecli.cli  # noqa: F401  (attaches the commands)
from motecli.cli_app import app

from motecli.data import dataset
from motecli.data.registry import load_dataset_split, store_path
from motecli.data.store import shard_name
from motecli.data.synth import make_synthetic_dataset
from motecli.decode.runner import decode_to_store
from motecli.decode.shard import StoreSettings
from motecli.errors import MoteError
from motecli.train.data import build_train_data
import motecli.train.loop as loop
from motecli.train.loop import train
from motecli.train.recipe import recipe_from_dict

from .clips import tiny_recipe_dict


@pytest.fixture(scope="module")
def synth_stores(tmp_path_factory):
    """Two classes x 3 videos, decoded: explicit store folders and the registry's default places."""
    tmp = tmp_path_factory.mktemp("store-training")
    ds = make_synthetic_dataset(tmp / "synth", videos_per_class=3, shapes=("square",), directions=("left", "right"))
    stores = {}
    for subset in ("train", "test"):
        videos = load_dataset_split("synth", 1, subset, config_path=ds.config)
        stores[subset] = tmp / f"{subset}-store"
        decode_to_store(videos, stores[subset], settings=StoreSettings(shard_size=4, max_frames=16), progress=False)
    return ds, stores


@pytest.fixture
def no_video_reads(monkeypatch):
    def refuse(path, *args, **kwargs):
        raise AssertionError(f"{path} was decoded although the recipe reads frame stores")

    monkeypatch.setattr(dataset, "read_video", refuse)


def store_recipe(output, ds, **data):
    return recipe_from_dict(tiny_recipe_dict(output, data={"synthetic": False, "dataset": "synth",
                                                           "datasets_config": str(ds.config), "frame_store": True,
                                                           "flip": False, **data},
                                             solver={"epochs": 1, "warmup_epochs": 0, "total_batch": 2}))


def test_training_reads_the_named_stores(synth_stores, tmp_path, no_video_reads):
    ds, stores = synth_stores
    recipe = store_recipe(tmp_path / "run", ds, train_store=str(stores["train"]), val_store=str(stores["test"]))
    result = train(recipe)
    (epoch,) = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
                if '"kind": "epoch"' in line]
    train_videos = len(load_dataset_split("synth", 1, "train", config_path=ds.config))
    assert epoch["clips"] == train_videos // 2 * 2 and epoch["failures"] == 0
    assert epoch["val_clips"] == len(load_dataset_split("synth", 1, "test", config_path=ds.config))
    assert result.epochs == 1 and (tmp_path / "run" / "last.pt").is_file()


def test_stores_default_to_the_registry_locations(synth_stores, tmp_path, monkeypatch, no_video_reads):
    ds, stores = synth_stores
    monkeypatch.setenv("MOTE_CACHE", str(tmp_path / "cache"))
    for subset in ("train", "test"):
        target = store_path("synth", 1, subset, ds.config)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(stores[subset])
    recipe = store_recipe(tmp_path / "run", ds)
    data = build_train_data(recipe.data, num_frames=4, seed=0)
    assert data.train.store.path == store_path("synth", 1, "train", ds.config)
    assert data.val.store.path == store_path("synth", 1, "test", ds.config)
    item = data.train[0]
    assert item["error"] is None and item["frames"].shape == (4, 3, 224, 224)


def test_a_store_of_other_videos_is_refused(synth_stores, tmp_path):
    ds, stores = synth_stores
    recipe = store_recipe(tmp_path / "run", ds, train_store=str(stores["test"]), val_store=str(stores["test"]))
    with pytest.raises(MoteError, match="frame store holds a different video list"):
        build_train_data(recipe.data, num_frames=4, seed=0)


def test_a_list_recipe_needs_its_store_named(synth_stores, tmp_path):
    ds, _ = synth_stores
    table = tiny_recipe_dict(tmp_path / "run", data={
        "synthetic": False, "list_file": str(ds.root / "lists" / "train1.txt"),
        "labels_file": str(ds.root / "lists" / "labels.csv"), "root": str(ds.root / "videos"), "frame_store": True})
    with pytest.raises(MoteError, match="data.frame_store with data.list_file needs data.train_store"):
        build_train_data(recipe_from_dict(table).data, num_frames=4, seed=0)


def _store_recipe_file(tmp_path, ds, *, train_store, val_store, workers: int):
    """`mote train`'s smallest store recipe, as a TOML file."""
    recipe = tmp_path / "store.toml"
    recipe.write_text(
        '[model]\nname = "mote-tiny"\nnum_frames = 4\nlayers = 2\nexperts = 4\n'
        f'[data]\ndataset = "synth"\ndatasets_config = "{ds.config}"\nframe_store = true\n'
        f'train_store = "{train_store}"\nval_store = "{val_store}"\nworkers = {workers}\n'
        '[solver]\nepochs = 1\nwarmup_epochs = 0\ntotal_batch = 2\n'
        f'[run]\noutput = "{tmp_path / "run"}"\nprecision = "fp32"\n')
    return recipe


def _truncate(shard):
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])


def test_training_from_a_truncated_shard_names_the_file(synth_stores, tmp_path):
    """Issue 10 item 2: `mote train` from a store with a cut-short shard used to stop with
    `internal error: OSError ... truncated file`; now one line naming the shard, before any work."""
    ds, stores = synth_stores
    train_store = tmp_path / "train-store"
    shutil.copytree(stores["train"], train_store)
    damaged = train_store / shard_name(0)
    _truncate(damaged)
    recipe = _store_recipe_file(tmp_path, ds, train_store=train_store, val_store=stores["test"], workers=0)
    result = CliRunner().invoke(app, ["train", str(recipe)])
    assert_one_line_error(result, f"mote: error: {damaged}: damaged frame store shard", "truncated",
                          "run `mote decode` again")
    assert not (tmp_path / "run" / "last.pt").exists()


def test_a_shard_damaged_mid_run_is_named_by_the_loader_worker(synth_stores, tmp_path, monkeypatch):
    """The shard is cut short after the start-up check, so a DataLoader worker is the first to
    open it: the error is still the worker's own line, not torch's re-raise with its traceback."""
    ds, stores = synth_stores
    train_store = tmp_path / "train-store"
    shutil.copytree(stores["train"], train_store)
    damaged = train_store / shard_name(0)
    real_build = loop.build_train_data

    def build_then_damage(*args, **kwargs):
        data = real_build(*args, **kwargs)
        _truncate(damaged)
        return data

    monkeypatch.setattr(loop, "build_train_data", build_then_damage)
    recipe = _store_recipe_file(tmp_path, ds, train_store=train_store, val_store=stores["test"], workers=1)
    result = CliRunner().invoke(app, ["train", str(recipe)])
    assert result.exit_code == MoteError.exit_code, result.output
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("mote:")]  # after the run's log lines
    assert line.startswith(f"mote: error: {damaged}: damaged frame store shard (OSError: ") and "truncated" in line
    assert line.endswith("run `mote decode` again to re-decode it"), line
    for fragment in ("Traceback", "DataLoader worker", 'File "'):
        assert fragment not in result.stderr, result.stderr

    shutil.copyfile(stores["train"] / shard_name(0), damaged)  # whole again for the start-up check
    monkeypatch.setenv("MOTE_DEBUG", "1")  # --debug: the worker's traceback is shown too
    result = CliRunner().invoke(app, ["train", str(recipe)])
    assert "Caught MoteError in DataLoader worker process 0" in result.stderr and "in _shard" in result.stderr
    assert result.stderr.rstrip().endswith(line)
