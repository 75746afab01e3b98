"""The frame-embedding cache: CLIP image features of every frame of every test view.

- `frames`  schema, writer of one shard, reader that streams complete shards
- `source`  the one place that talks to `motecli.data` (lists, datasets, loaders)
- `encode`  `mote encode-frames`: fill the missing shards, resumable and multi-rank
"""
