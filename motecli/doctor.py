"""`mote doctor` and `mote --version --verbose`: what this environment has, and whether
a run would work in it.

Each check is a small function returning a `Check` (ok, warn or fail, one line, and
what to do about a problem). Checks import what they test, so an environment without
torch or decord still gets a report instead of a crash.
"""

from __future__ import annotations

import os
import platform
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from .cachecard import tree_size
from .env import cache_root, datasets_config, default_checkpoint
from .errors import MoteError
from .hashing import package_version

OK, WARN, FAIL = "ok", "warn", "fail"
LOW_DISK_BYTES = 20 * 2**30  # one K400 frame cache of ViT-B/16 at 1x1 is about 6 GB
# Distribution names of the packages whose versions decide the numbers.
PACKAGES = {"torch": "torch", "torchvision": "torchvision", "open_clip": "open_clip_torch", "decord": "decord",
            "PyAV": "av", "h5py": "h5py", "numpy": "numpy", "safetensors": "safetensors", "typer": "typer"}


@dataclass
class Check:
    name: str
    status: str  # ok | warn | fail
    detail: str
    fix: str = ""

    def line(self) -> str:
        tail = f" -> {self.fix}" if self.fix and self.status != OK else ""
        return f"[{self.status:>4}] {self.name}: {self.detail}{tail}"


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def torch_report() -> dict[str, str]:
    """torch's version, its CUDA and cuDNN, and the GPUs it sees (imports torch)."""
    try:
        import torch
    except ImportError as err:
        return {"torch": f"not importable ({err})"}
    cuda = torch.version.cuda or "none (CPU build)"
    report = {"torch": torch.__version__, "torch CUDA": cuda}
    if torch.cuda.is_available():
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        report["cuDNN"] = str(torch.backends.cudnn.version())
        report["GPUs"] = ", ".join(names)
    else:
        report["GPUs"] = "none visible"
    return report


def environment_report() -> dict[str, str]:
    """Versions and places: what a bug report needs (`mote --version --verbose`)."""
    report = {"python": f"{platform.python_version()} ({platform.platform()})"}
    for label, dist in PACKAGES.items():
        if label != "torch":
            report[label] = package_version(dist).replace("unknown", "not installed")
    report.update(torch_report())
    root = cache_root()
    report["cache root"] = f"{root.resolve()} ({human_bytes(tree_size(root)) if root.is_dir() else 'not created yet'})"
    config = datasets_config()
    report["datasets config"] = f"{config.resolve()} ({'found' if config.is_file() else 'absent'})"
    report["default checkpoint"] = f"{default_checkpoint()} ({'found' if default_checkpoint().is_file() else 'absent'})"
    return report


# --- the checks ------------------------------------------------------------------


def check_torch() -> Check:
    info = torch_report()
    if "not importable" in info["torch"]:
        return Check("torch", FAIL, info["torch"], "reinstall: pip install -e .")
    device = f"cuda ({info['GPUs']})" if "cuDNN" in info else "cpu (no GPU visible; training and encoding run on the CPU)"
    return Check("torch", OK, f"{info['torch']}, device {device}")


def check_open_clip() -> Check:
    version = package_version("open_clip_torch")
    if version == "unknown":
        return Check("open_clip", FAIL, "not installed", "pip install -e .")
    try:
        import open_clip  # noqa: F401
    except Exception as err:
        return Check("open_clip", FAIL, f"{version} does not import ({type(err).__name__}: {err})", "pip install -e .")
    return Check("open_clip", OK, version)


def write_probe_video(path: Path, *, frames: int = 8) -> None:
    """A tiny mpeg4 video of `frames` frames whose frame t is uniformly 16 * t grey."""
    import numpy as np

    from .data.synth import write_video

    video = np.stack([np.full((48, 64, 3), 16 * t, dtype=np.uint8) for t in range(frames)])
    write_video(path, video)


def check_decoders(workdir: Path) -> list[Check]:
    """decord (mote's reader) and PyAV (writes the probe; mote's fallback reader) on one
    generated video: both must give 8 frames whose brightness rises."""
    probe = workdir / "probe.mp4"
    try:
        write_probe_video(probe)
    except ImportError:
        return [Check("PyAV", WARN, "not installed: cannot write the probe video, decord not exercised",
                      "pip install av (needed for `mote synth` and `mote demo`)")]
    except Exception as err:
        return [Check("PyAV", FAIL, f"cannot write a probe video ({type(err).__name__}: {err})", "pip install -U av")]
    return [_check_pyav_read(probe), _check_decord_read(probe)]


def _rising(means: list[float]) -> bool:
    return len(means) == 8 and all(b > a for a, b in zip(means, means[1:]))


def _check_pyav_read(probe: Path) -> Check:
    import av

    with av.open(str(probe)) as container:
        means = [float(frame.to_ndarray(format="rgb24").mean()) for frame in container.decode(video=0)]
    if not _rising(means):
        return Check("PyAV", FAIL, f"decoded {len(means)} frames of the probe, not the 8 written", "pip install -U av")
    return Check("PyAV", OK, f"{package_version('av')}, decodes the probe video")


def _check_decord_read(probe: Path) -> Check:
    import numpy as np

    from .data.video import VideoReadError, read_frames

    try:
        frames, _, n = read_frames(str(probe), lambda n: np.arange(n), timeout_s=60.0)
    except ImportError as err:
        return Check("decord", FAIL, f"not importable ({err})", "pip install decord (Linux x86_64 or macOS wheels)")
    except VideoReadError as err:
        return Check("decord", FAIL, f"cannot read the probe video: {err.reason}", "pip install -U decord")
    means = [float(f.mean()) for f in frames]
    if n != 8 or not _rising(means):
        return Check("decord", FAIL, f"read {n} frames of the probe, not the 8 written", "pip install -U decord")
    return Check("decord", OK, f"{package_version('decord')}, decodes the probe video")


def check_h5py(workdir: Path) -> Check:
    try:
        import h5py
        import numpy as np
    except ImportError as err:
        return Check("h5py", FAIL, f"not importable ({err})", "pip install -e .")
    file = workdir / "probe.h5"
    data = np.arange(12, dtype=np.float16).reshape(3, 4)
    with h5py.File(file, "w") as f:
        f.create_dataset("x", data=data)
    with h5py.File(file, "r") as f:
        same = bool((f["x"][...] == data).all())
    if not same:
        return Check("h5py", FAIL, "read back other numbers than it wrote", "pip install -U h5py")
    return Check("h5py", OK, f"{h5py.__version__}, writes and reads HDF5 in the cache root")


def check_cache_root(root: Path) -> Check:
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, prefix=".doctor-"):
            pass
    except OSError as err:
        return Check("cache root", FAIL, f"{root}: not writable ({err.strerror})", "set MOTE_CACHE to a writable folder")
    free = shutil.disk_usage(root).free
    detail = f"{root.resolve()}: writable, {human_bytes(free)} free, {human_bytes(tree_size(root))} used by mote"
    if free < LOW_DISK_BYTES:
        return Check("cache root", WARN, detail, "frame caches of real datasets take several GB each; free space or move MOTE_CACHE")
    return Check("cache root", OK, detail)


def _subset_key(layout: str, subset: str) -> str | None:
    """The config key that must exist for a dataset to have `subset` (None: always has it)."""
    return {"list": subset, "kinetics": f"{subset}_csv", "ssv2": f"{subset}_json"}.get(layout)


def check_datasets(config: Path) -> list[Check]:
    """Every configured dataset: its annotation files parse and its videos exist."""
    import tomllib

    from .data.registry import load_dataset_split, load_entry

    if not config.is_file():
        return [Check("datasets", WARN, f"{config}: no datasets config",
                      "create ./datasets.toml or set MOTE_DATASETS (docs/datasets.md); `mote synth` writes an example")]
    try:
        names = [k for k, v in tomllib.loads(config.read_text()).items() if isinstance(v, dict)]
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        return [Check("datasets", FAIL, f"{config}: cannot be parsed ({err})", "fix the TOML syntax")]
    checks = []
    for name in names:
        try:
            entry = load_entry(name, config)
            found, listed = 0, 0
            for split in range(1, entry.num_splits() + 1):
                for subset in ("train", "test"):
                    key = _subset_key(entry.layout, subset)
                    if key is not None and not entry.has(key):
                        continue
                    videos = load_dataset_split(name, split, subset, config)
                    listed += len(videos)
                    found += sum(os.path.isfile(videos.path(i)) for i in range(len(videos)))
        except MoteError as err:
            checks.append(Check(f"dataset {name}", FAIL, str(err), f"fix [{name}] in {config}"))
            continue
        detail = f"{entry.layout}, {found} of {listed} listed videos found"
        if listed and found == 0:
            checks.append(Check(f"dataset {name}", FAIL, detail, f"check root / train_root / test_root of [{name}] in {config}"))
        elif found < listed:
            checks.append(Check(f"dataset {name}", WARN, detail, "missing videos are reported and excluded by every command"))
        else:
            checks.append(Check(f"dataset {name}", OK, detail))
    return checks


def check_checkpoint(path: Path) -> Check:
    if not path.exists():
        return Check("default checkpoint", WARN, f"{path}: absent",
                     "pass --checkpoint to eval/encode-frames, set MOTE_CHECKPOINT, or `mote merge ... --out` it")
    from .checkpoints.merged import read_merged_metadata

    try:
        meta = read_merged_metadata(path)
    except MoteError as err:
        return Check("default checkpoint", FAIL, str(err), "re-run `mote merge` to write it again")
    return Check("default checkpoint", OK, f"{path}: merged {meta['clip']['model']}, {len(meta['class_names'])} classes")


def run_checks(*, config: Path | None = None, progress: Callable[[Check], None] | None = None) -> list[Check]:
    """Every check, in the order a run needs them; `progress` sees each as it finishes."""
    root = cache_root()
    results: list[Check] = []

    def add(*checks: Check) -> None:
        for check in checks:
            results.append(check)
            if progress is not None:
                progress(check)

    add(Check("python", OK, platform.python_version()))
    add(check_torch(), check_open_clip(), check_cache_root(root))
    if results[-1].status != FAIL:
        with tempfile.TemporaryDirectory(dir=root, prefix=".doctor-") as tmp:
            add(*check_decoders(Path(tmp)), check_h5py(Path(tmp)))
    add(*check_datasets(config or datasets_config()), check_checkpoint(default_checkpoint()))
    return results


def summary(checks: list[Check]) -> dict:
    counts = {s: sum(c.status == s for c in checks) for s in (OK, WARN, FAIL)}
    return dict(ok=counts[FAIL] == 0, counts=counts, checks=[asdict(c) for c in checks])
