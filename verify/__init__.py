"""NumPy linear transformers trained on sampled prompts, compared with closed forms."""
