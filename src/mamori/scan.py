"""Find the inputs below the given paths and normalise them into one ScanSet."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from mamori.model import InputError, ScanSet, Skipped
from mamori.policy.config import CONFIG_NAMES
from mamori.sources import is_dockerfile, is_yaml, load_text, looks_like_dockerfile, read_file
from mamori.sources.sbom import looks_like_sbom

if TYPE_CHECKING:
    from mamori.live.docker_host import LiveOptions

DOCKER_SCHEME = "docker://"
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


SBOM_HINT = "CycloneDX/SPDX SBOM: its packages are matched against the advisory database by `mamori vuln scan FILE`"


def sbom_inputs(paths: Iterable[str]) -> list[str]:
    """The named files that are SBOMs: ``mamori scan`` hands them to the vulnerability report when every
    input is one (an SBOM has no configuration for the policy rules to judge)."""
    return [p for p in paths if p.lower().endswith(".json") and os.path.isfile(p) and looks_like_sbom(p)]


STDIN = "-"
STDIN_NAME = "<stdin>"
MAX_STDIN = 32 * 1024 * 1024


def _load_stdin(out: ScanSet) -> None:
    data = sys.stdin.buffer.read(MAX_STDIN + 1)
    if len(data) > MAX_STDIN:
        out.errors.append(InputError(STDIN_NAME, 0, f"standard input is over {MAX_STDIN} bytes; not read"))
        return
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        out.errors.append(InputError(STDIN_NAME, data[: exc.start].count(b"\n") + 1, "not UTF-8 text"))
        return
    out.extend(load_text(STDIN_NAME, text, as_dockerfile=looks_like_dockerfile(text)))


def load_paths(paths: Iterable[str], live: LiveOptions | None = None) -> ScanSet:
    """Read every input below ``paths`` (``-`` is standard input, ``docker://[HOST]`` a live daemon)."""
    out = ScanSet()
    paths = list(paths)
    if any(p.startswith(DOCKER_SCHEME) for p in paths):
        from mamori.live.docker_host import load_docker

        for target in (p for p in paths if p.startswith(DOCKER_SCHEME)):
            out.extend(part := load_docker(target, options=live))
            out.complete = out.complete and part.complete
        paths = [p for p in paths if not p.startswith(DOCKER_SCHEME)]
    if STDIN in paths:
        _load_stdin(out)
        paths = [p for p in paths if p != STDIN]
    for file in discover(paths, out):
        if file.lower().endswith(".json") and looks_like_sbom(file):
            out.files.append(file)
            out.skipped.append(Skipped(file, 0, "SBOM", SBOM_HINT))
            continue
        text, err = read_file(file)
        if err is not None:
            out.errors.append(err)
            out.files.append(file)
            continue
        assert text is not None
        out.extend(load_text(file, text))
    return out
