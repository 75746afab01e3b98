"""The text side of pretraining: a compact token table and a cheaper, identical text forward.

Two costs of the tiny CLIP's text encoder are wasted on the captioned world:
  * its token table has 49,408 rows, of which the world's captions use a few dozen;
    AdamW would update (and weight-decay) all of them every step. `CompactVocab`
    trains only the used rows and writes them back at the end;
  * every caption is padded to 77 tokens. The text transformer is causal and pools
    at the end-of-text token, so no output that is used depends on a later position:
    `encode_text` cuts the batch after its longest caption and gives the same
    numbers as open_clip's `encode_text` (tested) at a fraction of the cost.
"""

from __future__ import annotations

import torch
from torch import nn

from ..constants import PROMPT_TEMPLATES
from ..data.world import COLOUR_NAMES, POSITIONS, SHAPES, SIZE_NAMES


def world_words() -> list[str]:
    """Every word a pretraining or evaluation caption can contain, as tokenizer input."""
    templates = [t.replace("{c}", "") for t in PROMPT_TEMPLATES]
    return [*templates, "a", " ".join(SHAPES), " ".join(COLOUR_NAMES), " ".join(SIZE_NAMES), *POSITIONS]


class CompactVocab(nn.Module):
    """A trainable copy of the token-embedding rows of `words`' tokens."""

    def __init__(self, table: nn.Embedding, tokenizer, words: list[str]) -> None:
        super().__init__()
        rows = torch.unique(tokenizer(words).flatten())  # includes padding 0, start and end tokens
        self.register_buffer("rows", rows, persistent=False)
        lookup = torch.full((table.num_embeddings,), -1, dtype=torch.long)
        lookup[rows] = torch.arange(len(rows))
        self.register_buffer("lookup", lookup, persistent=False)
        self.embedding = nn.Embedding.from_pretrained(table.weight.detach()[rows].clone(), freeze=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        index = self.lookup[tokens]
        if bool((index < 0).any()):
            raise ValueError("a caption uses a token outside the world's vocabulary")
        return self.embedding(index)

    @torch.no_grad()
    def write_back(self, table: nn.Embedding) -> None:
        table.weight[self.rows] = self.embedding.weight.to(table.weight.dtype)


def encode_text(model: nn.Module, tokens: torch.Tensor, *, embed: nn.Module | None = None) -> torch.Tensor:
    """open_clip `encode_text` (argmax pooling) on `tokens` cut after the last end token."""
    eot = tokens.argmax(dim=-1)  # the end-of-text token has the highest id
    length = int(eot.max()) + 1
    tokens = tokens[:, :length]
    x = (embed if embed is not None else model.token_embedding)(tokens)  # [B, L, W]
    x = x + model.positional_embedding[:length]
    x = model.transformer(x, attn_mask=model.attn_mask[:length, :length])
    x = model.ln_final(x)
    x = x[torch.arange(x.shape[0]), eot]  # [B, W]
    projection = model.text_projection
    return projection(x) if isinstance(projection, nn.Linear) else x @ projection
