"""Where caches live: `$MOTE_CACHE`, else `./cache`."""

import os
from pathlib import Path


def cache_root() -> Path:
    return Path(os.environ.get("MOTE_CACHE", "cache"))
