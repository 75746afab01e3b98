"""`mote predict`: a merged model applied to a user's own videos, top-k classes each.

Inputs are files, folders (searched recursively for videos) and glob patterns; the
classes come from a labels file, a comma list or a configured dataset. Frames are
sampled and fused as in zero-shot evaluation (3 clips x 1 crop by default, per-view
softmax over the classes averaged over views), with temporal feature modulation as
in `mote eval`. A video that cannot be read is listed with its reason, never fatal.
"""

from __future__ import annotations

import glob
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..cache.encode import encode_setup, encoder_identity, frame_features, load_visual
from ..cache.source import VideoSource, eval_loader
from ..checkpoints.merged import load_head, read_merged_metadata
from ..errors import MoteError
from ..model.scoring import fuse_views
from .runner import EvalSettings, class_text_embeddings
from .scoring import Modulation, view_similarities

log = logging.getLogger("mote")

VIDEO_EXTENSIONS = (".mp4", ".avi", ".webm", ".mkv", ".mov", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv", ".3gp", ".ogv")


@dataclass
class Prediction:
    path: str
    backend: str
    fallback: str | None
    top: list[tuple[int, str, float]]  # (class id, class name, probability), best first


@dataclass
class PredictReport:
    classes: list[str]
    predictions: list[Prediction] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (path or argument, reason)

    def to_dict(self, settings: EvalSettings) -> dict:
        return dict(
            checkpoint=str(settings.checkpoint), classes=len(self.classes), views=settings.clips * settings.crops,
            num_frames=settings.num_frames, modulation=settings.modulation,
            tfm_scale=settings.scales[0] if settings.modulation else None,
            videos=[dict(path=p.path, backend=p.backend, fallback=p.fallback,
                         top=[dict(id=i, name=n, probability=s) for i, n, s in p.top]) for p in self.predictions],
            unreadable=[dict(path=p, reason=r) for p, r in self.unreadable],
        )


def collect_videos(inputs: list[str]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Video files named by `inputs`: files as given (any extension), folders searched
    recursively for video extensions, anything else as a glob pattern. Returns the
    videos (each once, in argument order) and the arguments that matched nothing."""
    found: dict[Path, None] = {}
    missing = []
    for arg in inputs:
        path = Path(arg).expanduser()
        if path.is_file():
            matches = [path]
        elif path.is_dir():
            matches = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)
        else:
            matches = sorted(Path(p) for p in glob.glob(os.path.expanduser(arg), recursive=True) if Path(p).is_file())
        if not matches:
            missing.append((arg, "no video file, folder with videos or matching pattern"))
        for m in matches:
            found.setdefault(m.resolve(), None)
    return list(found), missing


def resolve_classes(*, labels: str | os.PathLike | None, classes: str | None, dataset: str | None, split: int,
                    config: str | os.PathLike | None) -> tuple[list[str], str]:
    """(class names, where they came from): exactly one of a labels file, a comma list, a dataset."""
    given = [x for x in (labels, classes, dataset) if x is not None]
    if len(given) != 1:
        raise MoteError("name the classes once: --labels FILE, --classes \"a,b,c\" or --dataset NAME")
    if labels is not None:
        from ..textfile import read_labels_file

        return read_labels_file(labels), f"labels {labels}"
    if classes is not None:
        names = [c.strip() for c in classes.split(",") if c.strip()]
        if len(names) < 2 or len(set(names)) != len(names):
            raise MoteError(f"--classes {classes!r}: expected two or more distinct names separated by commas")
        return names, "--classes"
    from ..data.registry import load_dataset_split

    return load_dataset_split(dataset, split, "test", config_path=config).class_names, f"dataset {dataset} split {split}"


def predict(videos: list[Path], class_names: list[str], settings: EvalSettings, *, top_k: int) -> PredictReport:
    """Top-k classes of each video under the merged model of `settings.checkpoint`."""
    from ..data.layouts import VideoList

    if top_k < 1:
        raise MoteError(f"--top-k {top_k}: expected at least 1")
    meta = read_merged_metadata(settings.checkpoint)
    head, _, finetune_text = load_head(settings.checkpoint, meta)
    text, _, _ = class_text_embeddings(meta, class_names, settings)
    modulation = Modulation(finetune_text=finetune_text.float(), k=settings.k,
                            scales=settings.scales[:1] if settings.modulation else ())
    run = encode_setup(device=settings.device, precision=settings.precision, batch_size=settings.batch_size,
                       batch_frames=settings.batch_frames, workers=settings.workers,
                       views=settings.clips * settings.crops, num_frames=settings.num_frames)
    encoder = encoder_identity(settings.checkpoint, patch_alpha=settings.patch_alpha, original=settings.original)
    visual = load_visual(encoder, device=run.device)
    # Absolute paths under root "/": VideoList joins root and path.
    items = VideoList(Path("/"), [(str(v), 0) for v in videos], list(class_names), "mote predict")
    source = VideoSource(videos=items, name="predict", dataset=None, split=None)
    loader = eval_loader(source, list(range(len(videos))), num_frames=settings.num_frames, clips=settings.clips,
                         crops=settings.crops, batch_size=run.batch_size, workers=run.workers, device=run.device)
    report = PredictReport(classes=list(class_names))
    k = min(top_k, len(class_names))
    for batch in loader:
        report.unreadable += [(path, reason) for _, path, reason in batch["failures"]]
        if batch["frames"] is None:
            continue
        frames = batch["frames"].to(run.device, non_blocking=True)
        feats = frame_features(visual, frames, precision=run.precision, batch_frames=run.batch_frames)  # [B, V, T, D]
        feats = feats.cpu()
        sims = view_similarities(head, feats, test_text=text, modulation=modulation)[0]  # [B, V, C]
        probs, ids = fuse_views(sims).topk(k, dim=-1)  # [B, k]
        for row, (index, backend, fallback) in enumerate(batch["backends"]):
            top = [(int(i), class_names[int(i)], float(p)) for p, i in zip(probs[row], ids[row])]
            report.predictions.append(Prediction(str(videos[index]), backend, fallback, top))
    return report


@torch.no_grad()
def run_predict(*, inputs: list[str], class_names: list[str], settings: EvalSettings, top_k: int) -> PredictReport:
    videos, missing = collect_videos(inputs)
    if not videos:
        raise MoteError(f"no videos found in {', '.join(inputs)}")
    report = predict(videos, class_names, settings, top_k=top_k)
    report.unreadable = missing + report.unreadable
    return report
