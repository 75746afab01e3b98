"""Class names, prompt templates, and the cached class text embeddings."""
