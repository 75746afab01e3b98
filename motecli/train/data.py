"""Clips for training: the only place that knows the data module (`motecli.data`).

`build_train_data` turns a recipe's [data] section into train/val datasets whose
items follow the data module's contract (dict frames/label/index/error/path);
`train_loader` / `val_loader` wrap any such dataset, with an order that is a
function of (seed, epoch) only, so a resumed run sees the same batches.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset

from ..atomic import remove_stale_temporaries_of, temporary_sibling
from ..cachecard import mark_used, write_card
from ..errors import MoteError
from ..env import cache_root
from ..lifeline import worker_init_fn
from .recipe import DataSection

log = logging.getLogger("mote")
SYNTH_NAME = "synth"  # the list-layout dataset that make_synthetic_dataset names in its datasets.toml
SYNTH_SEED = 0


@dataclass
class TrainData:
    train: Dataset
    val: Dataset | None
    class_names: list[str]
    description: str


def synthetic_dataset_dir(*, videos_per_class: int, shapes: tuple[str, ...], directions: tuple[str, ...]) -> Path:
    from ..data.synth import SYNTH_VERSION

    spec = f"{videos_per_class}|{','.join(shapes)}|{','.join(directions)}|{SYNTH_SEED}|v{SYNTH_VERSION}"
    key = hashlib.sha256(spec.encode()).hexdigest()[:12]
    return cache_root() / "synthetic" / f"synth-{key}"


def ensure_synthetic_dataset(*, videos_per_class: int, shapes: tuple[str, ...], directions: tuple[str, ...]) -> Path:
    """Generate the synthetic videos once under cache/; a finished set is a renamed folder."""
    from ..data.synth import make_synthetic_dataset

    final = synthetic_dataset_dir(videos_per_class=videos_per_class, shapes=shapes, directions=directions)
    if not (final / "datasets.toml").is_file():
        remove_stale_temporaries_of(final)  # folders of generators that were killed
        tmp = temporary_sibling(final)
        log.info("generating the synthetic dataset under %s", final)
        make_synthetic_dataset(tmp, videos_per_class=videos_per_class, shapes=shapes, directions=directions,
                               seed=SYNTH_SEED)
        if (final / "datasets.toml").is_file():  # another process finished first
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            write_card(tmp, kind="synthetic", videos_per_class=videos_per_class, shapes=list(shapes),
                       directions=list(directions), seed=SYNTH_SEED)
            shutil.rmtree(final, ignore_errors=True)
            os.replace(tmp, final)
    mark_used(final)
    return final / "datasets.toml"


def is_ssv2_dataset(data: DataSection) -> bool:
    """A named dataset of layout "ssv2" trains with the SSv2 recipe unless data.ssv2 says otherwise."""
    from ..data.registry import load_entry

    return bool(data.dataset) and load_entry(data.dataset, data.datasets_config).layout == "ssv2"


def build_train_data(data: DataSection, *, num_frames: int, seed: int) -> TrainData:
    """Train and validation datasets (train-mode augmentation / one test view) of a [data] section."""
    from ..data.dataset import ClipDataset
    from ..data.layouts import load_video_list
    from ..data.registry import load_dataset_split, store_path

    store_train = store_val = None
    if data.synthetic:
        config = ensure_synthetic_dataset(videos_per_class=data.synthetic_videos_per_class,
                                          shapes=data.synthetic_shapes, directions=data.synthetic_directions)
        train = load_dataset_split(SYNTH_NAME, data.split, "train", config_path=config)
        val = load_dataset_split(SYNTH_NAME, data.split, "test", config_path=config)
    elif data.dataset:
        train = load_dataset_split(data.dataset, data.split, "train", config_path=data.datasets_config)
        val = load_dataset_split(data.dataset, data.split, "test", config_path=data.datasets_config)
        if data.frame_store:
            store_train = data.train_store or store_path(data.dataset, data.split, "train", data.datasets_config)
            store_val = data.val_store or store_path(data.dataset, data.split, "test", data.datasets_config)
    else:
        train = load_video_list(data.list_file, data.labels_file, data.root)
        val = load_video_list(data.val_list_file, data.labels_file, data.root) if data.val_list_file else None
        if data.frame_store:
            if not data.train_store:
                raise MoteError("data.frame_store with data.list_file needs data.train_store (and data.val_store)")
            store_train, store_val = data.train_store, data.val_store
    if data.labels_file and not data.list_file:
        from ..textfile import read_labels_file

        names = read_labels_file(data.labels_file)
        train = train.with_class_names(names, origin=data.labels_file)
        val = val.with_class_names(names, origin=data.labels_file) if val is not None else None

    ssv2 = data.ssv2 if data.ssv2 is not None else is_ssv2_dataset(data)
    train_set = ClipDataset(train, store=store_train, mode="train", num_frames=num_frames, flip=data.flip,
                            grayscale=data.grayscale, crop=data.crop, ssv2=ssv2, seed=seed)
    val_set = None
    if val is not None and (store_val is not None or not data.frame_store):
        val_set = ClipDataset(val, store=store_val, mode="test", num_frames=num_frames)
    for dataset in (train_set, val_set):
        if dataset is not None and dataset.store is not None:
            dataset.store.require_fresh(dataset.videos)  # one stat per video: stale frames are refused
    return TrainData(train=train_set, val=val_set, class_names=list(train.class_names), description=train.source)


def _collate(items: list[dict]) -> dict:
    from ..data.dataset import collate_clips

    return collate_clips(items)


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A generator that depends on (seed, epoch) only: worker seeds, hence augmentation, repeat."""
    g = torch.Generator()
    g.manual_seed(int(np.random.SeedSequence([seed, epoch]).generate_state(1, dtype=np.uint64)[0] >> 1))
    return g


def train_loader(dataset: Dataset, *, batch_size: int, workers: int, seed: int, epoch: int, rank: int,
                 world_size: int, pin_memory: bool = False) -> DataLoader:
    """The shuffled, rank-sharded loader of one epoch; the last incomplete batch is dropped."""
    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(epoch)
    sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=True)
    sampler.set_epoch(epoch)
    if len(sampler) < batch_size:
        raise MoteError(f"{len(dataset)} training clips give {len(sampler)} per process, fewer than one batch of {batch_size}")
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers, collate_fn=_collate,
                      drop_last=True, generator=epoch_generator(seed, epoch), pin_memory=pin_memory,
                      persistent_workers=False, worker_init_fn=worker_init_fn())


def val_loader(dataset: Dataset, *, batch_size: int, workers: int, rank: int, world_size: int,
               pin_memory: bool = False) -> DataLoader:
    """Every validation clip exactly once across ranks (strided shards, no padding)."""
    shard = Subset(dataset, list(range(rank, len(dataset), world_size)))
    return DataLoader(shard, batch_size=batch_size, shuffle=False, num_workers=workers, collate_fn=_collate,
                      worker_init_fn=worker_init_fn(), pin_memory=pin_memory)
