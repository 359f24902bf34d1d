"""Migration scripts, one per revision, applied in order (``0001`` ...)."""
