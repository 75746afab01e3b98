"""Every environment variable mote reads, each read here and nowhere else.

Values are parsed when they are used, not at import, so a bad value is a
one-line error of the command that needs it (README, "Environment variables").

| variable | meaning | default |
|---|---|---|
| MOTE_CACHE | cache root | `./cache` |
| MOTE_DATASETS | the datasets config | `./datasets.toml` |
| MOTE_CHECKPOINT | the merged model eval and encode-frames use | `<cache>/checkpoints/merged.safetensors` |
| MOTE_DECODE_TIMEOUT_S | per-video read limit of `mote decode`, seconds | 60 |
| MOTE_HANG_GRACE_S | watchdog grace beyond a read's limit, seconds, or `off` | 5 |
| MOTE_HUNG_VIDEOS | the hung-videos registry | `<cache>/hung-videos.tsv` |
| MOTE_VIDEO_BACKEND | `auto` (decord, PyAV where decord fails or is known wrong), `decord` or `pyav` | auto |
| MOTE_OFFLINE, HF_HUB_OFFLINE | never try to download weights | unset |
| HF_ENDPOINT | the hub host named in offline errors | huggingface.co |
| MOTE_DEBUG | tracebacks on errors (`mote --debug` sets it for child processes) | unset |
| RANK, WORLD_SIZE, LOCAL_RANK | set by torchrun | 0, 1, 0 |
| LOCAL_WORLD_SIZE | set by torchrun: processes on this node (shares the CPUs for default workers) | 1 |
| SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID | set by srun; used when torchrun's are absent | |
| MASTER_ADDR, MASTER_PORT | rendezvous of a multi-process run started by srun without torchrun | first node of SLURM_JOB_NODELIST, 20000 + SLURM_JOB_ID % 10000 |
| SLURM_JOB_NODELIST (SLURM_NODELIST), SLURM_JOB_ID | set by sbatch/srun; give the defaults above | |
| SLURM_CPUS_PER_TASK | CPUs of one srun task (default workers) | the CPU affinity mask |
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import MoteError

CACHE = "MOTE_CACHE"
DATASETS = "MOTE_DATASETS"
CHECKPOINT = "MOTE_CHECKPOINT"
DECODE_TIMEOUT = "MOTE_DECODE_TIMEOUT_S"
HANG_GRACE = "MOTE_HANG_GRACE_S"
HUNG_VIDEOS = "MOTE_HUNG_VIDEOS"
VIDEO_BACKEND = "MOTE_VIDEO_BACKEND"
VIDEO_BACKENDS = ("auto", "decord", "pyav")
OFFLINE = ("MOTE_OFFLINE", "HF_HUB_OFFLINE")
DEBUG = "MOTE_DEBUG"

DEFAULT_DECODE_TIMEOUT_S = 60.0
DEFAULT_HANG_GRACE_S = 5.0


def _raw(name: str) -> str:
    return os.environ.get(name, "").strip()


def _flag(name: str) -> bool:
    return _raw(name) not in ("", "0")


def cache_root() -> Path:
    """Where caches live: `$MOTE_CACHE`, else `./cache`."""
    return Path(_raw(CACHE) or "cache")


def datasets_config(path: str | os.PathLike | None = None) -> Path:
    """The datasets config: `path` if given, else `$MOTE_DATASETS`, else `./datasets.toml`."""
    return Path(path or _raw(DATASETS) or "datasets.toml")


def default_checkpoint() -> Path:
    """The merged model used when none is named: `$MOTE_CHECKPOINT`, else the cache's."""
    return Path(_raw(CHECKPOINT) or cache_root() / "checkpoints" / "merged.safetensors")


def decode_timeout_s() -> float:
    """Per-video read limit of `mote decode`: an operational knob, not part of the store."""
    raw = _raw(DECODE_TIMEOUT)
    if not raw:
        return DEFAULT_DECODE_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise MoteError(f"{DECODE_TIMEOUT}={raw!r}: expected a positive number of seconds")
    return value


def video_backend() -> str:
    """How videos are read (data/video.py): `auto` unless `$MOTE_VIDEO_BACKEND` says otherwise."""
    raw = _raw(VIDEO_BACKEND).lower() or "auto"
    if raw not in VIDEO_BACKENDS:
        raise MoteError(f"{VIDEO_BACKEND}={raw!r}: expected one of {', '.join(VIDEO_BACKENDS)}")
    return raw


def hang_grace_s() -> float | None:
    """Seconds the watchdog waits beyond a read's limit; None when set to 'off'."""
    raw = _raw(HANG_GRACE)
    if not raw:
        return DEFAULT_HANG_GRACE_S
    if raw.lower() == "off":
        return None
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise MoteError(f"{HANG_GRACE}={raw!r}: expected seconds (a number >= 0) or 'off'")
    return value


def hung_videos_file() -> Path:
    """The hung-videos registry: `$MOTE_HUNG_VIDEOS`, else `<cache root>/hung-videos.tsv`."""
    return Path(_raw(HUNG_VIDEOS) or cache_root() / "hung-videos.tsv")


def offline() -> bool:
    return any(_flag(name) for name in OFFLINE)


def hub_endpoint() -> str:
    return _raw("HF_ENDPOINT") or "https://huggingface.co"


def debug_enabled() -> bool:
    return _flag(DEBUG)


def enable_debug() -> None:
    """Also for child processes (decode shards, DataLoader workers)."""
    os.environ[DEBUG] = "1"


@dataclass(frozen=True)
class WorldInfo:
    rank: int
    world_size: int
    local_rank: int
    launcher: str  # "torchrun", "slurm" or "none"


# First match wins: torchrun's variables, then SLURM's (srun without torchrun).
_WORLD_SOURCES = (
    ("torchrun", "RANK", "WORLD_SIZE", "LOCAL_RANK"),
    ("slurm", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"),
)


def _int_var(name: str, default: int) -> int:
    raw = _raw(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise MoteError(f"{name}={raw!r}: expected an integer") from None


def world_info() -> WorldInfo:
    """This process's rank, the number of processes and its local rank on the node."""
    for launcher, rank, world, local in _WORLD_SOURCES:
        if _raw(world):
            info = WorldInfo(_int_var(rank, 0), _int_var(world, 1), _int_var(local, 0), launcher)
            if info.world_size < 1 or not 0 <= info.rank < info.world_size:
                raise MoteError(f"{rank}={info.rank} with {world}={info.world_size}: expected 0 <= rank < world size")
            return info
    return WorldInfo(0, 1, 0, "none")


def cpu_count() -> int:
    """CPUs this process may use: its affinity mask (taskset, cgroups, srun's binding),
    at most SLURM_CPUS_PER_TASK under srun."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        count = os.cpu_count() or 1
    if world_info().launcher == "slurm" and _raw("SLURM_CPUS_PER_TASK"):
        count = min(count, max(1, _int_var("SLURM_CPUS_PER_TASK", count)))
    return max(1, count)


MAX_DEFAULT_WORKERS = 8


def default_workers() -> int:
    """DataLoader workers of one process when none are asked for: min(8, CPUs - 1),
    the CPUs shared among torchrun's processes on this node; one core stays with the
    main process, which feeds the model. 0 (decode in the main process) on one CPU."""
    share = cpu_count() // max(1, _int_var("LOCAL_WORLD_SIZE", 1) if world_info().launcher == "torchrun" else 1)
    return max(0, min(MAX_DEFAULT_WORKERS, share - 1))


# srun starts the processes itself: no torchrun to agree on a rendezvous address.
SLURM_PORT_BASE, SLURM_PORT_SPAN = 20000, 10000


def first_host(nodelist: str) -> str:
    """The first host of a SLURM node list: 'gpu[07-09,12],cpu1' -> 'gpu07'."""
    match = re.match(r"([^,\[]*)(?:\[([^\]]+)\])?([^,]*)", nodelist.strip())
    if match is None or not (match.group(1) or match.group(2)):
        raise MoteError(f"SLURM_JOB_NODELIST={nodelist!r}: expected host names such as 'node[01-04]'")
    prefix, ranges, rest = match.groups()
    if ranges is None:
        return prefix + rest
    return first_host(prefix + ranges.split(",")[0].split("-")[0] + rest)


def rendezvous() -> tuple[str, int]:
    """(address, port) where the processes of a run started by srun meet: MASTER_ADDR /
    MASTER_PORT when set, else the first node of the job and a port from the job id."""
    address = _raw("MASTER_ADDR")
    if not address:
        nodelist = _raw("SLURM_JOB_NODELIST") or _raw("SLURM_NODELIST")
        if not nodelist:
            raise MoteError("several processes without torchrun, and neither MASTER_ADDR nor SLURM_JOB_NODELIST "
                            "is set: export MASTER_ADDR=<host of rank 0> and MASTER_PORT=<free port>")
        address = first_host(nodelist)
    if _raw("MASTER_PORT"):
        port = _int_var("MASTER_PORT", 0)
    elif _raw("SLURM_JOB_ID"):
        port = SLURM_PORT_BASE + _int_var("SLURM_JOB_ID", 0) % SLURM_PORT_SPAN
    else:
        raise MoteError("several processes without torchrun, and neither MASTER_PORT nor SLURM_JOB_ID is set: "
                        "export MASTER_PORT=<free port>")
    if not 0 < port < 65536:
        raise MoteError(f"MASTER_PORT={port}: expected a port number between 1 and 65535")
    return address, port
