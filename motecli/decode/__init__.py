"""`mote decode`: decode a video list once into a frame store (see motecli.data.store).

- `shard`   decode one shard of videos and write it atomically
- `runner`  the resumable, parallel loop over shards, with progress and a failure report
"""
