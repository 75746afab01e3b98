"""`mote merge`: collapse a trained MoTE checkpoint into the deployable model.

- `formats`  reading our training checkpoints and the authors' release
- `patch`    mixing the fine-tuned image encoder with the original CLIP weights
- `merge`    collapse experts, write tensors + metadata atomically
- `deployed` `load_merged`, the reader used by encode-frames and eval
"""
