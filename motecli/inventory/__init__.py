"""`mote cache list` and `mote cache clear`: what is under the cache root, and removing it safely.

- `scan`   every cache, described from its card, manifest or attributes (no tensors)
- `clear`  filters (kind, checkpoint, dataset, age, incomplete) and safe removal
"""
