"""Chorus's benchmark suite: `python -m bench [trainer|history|fanout|api] [--smoke]`."""
