"""Find the inputs below the given paths and normalise them into one ScanSet."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

from mamori.model import InputError, ScanSet, Skipped
from mamori.policy.config import CONFIG_NAMES
from mamori.sources import is_dockerfile, is_yaml, load_text, read_file

SKIP_DIRS = {".git", ".hg", ".svn", "node_modules", ".venv", "venv", "__pycache__", ".terraform", ".tox"}


def discover(paths: Iterable[str], out: ScanSet) -> Iterator[str]:
    """Yield scannable files below ``paths`` in a stable order; note what is passed over."""
    for path in paths:
        if os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
                chart_templates = os.path.basename(root) == "templates" and os.path.isfile(
                    os.path.join(os.path.dirname(root), "Chart.yaml"))
                for name in sorted(files):
                    full = os.path.join(root, name)
                    if os.path.islink(full):
                        continue
                    if chart_templates and is_yaml(name):
                        out.skipped.append(Skipped(full, 0, "Helm template",
                                                   "unrendered chart template: scan `helm template` output"))
                        continue
                    if name in CONFIG_NAMES:
                        continue  # mamori's own policy file is configuration, not an input
                    if is_dockerfile(full) or is_yaml(full):
                        yield full
        elif os.path.exists(path):
            yield path
        else:
            out.errors.append(InputError(path, 0, "no such file or directory"))


def load_paths(paths: Iterable[str]) -> ScanSet:
    out = ScanSet()
    for file in discover(paths, out):
        text, err = read_file(file)
        if err is not None:
            out.errors.append(err)
            out.files.append(file)
            continue
        assert text is not None
        out.extend(load_text(file, text))
    return out
