"""CLIP encoders (open_clip), the MoTE temporal head, modulation and the loss."""
