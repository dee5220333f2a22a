"""``mamori serve``: the enforcement endpoints in one process."""
