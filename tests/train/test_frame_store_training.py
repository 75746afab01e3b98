"""Training from `mote decode` frame stores (data.frame_store): train and validation
clips come from the stores, never from the videos, named explicitly or found where
the dataset registry puts them."""

import json

import pytest

from motecli.data import dataset
from motecli.data.registry import load_dataset_split, store_path
from motecli.data.synth import make_synthetic_dataset
from motecli.decode.runner import decode_to_store
from motecli.decode.shard import StoreSettings
from motecli.errors import MoteError
from motecli.train.data import build_train_data
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
