"""Input formats -> model. ``load_text`` recognises the format of one file."""

from __future__ import annotations

import os
import re

from mamori.model import InputError, ScanSet, Skipped

YAML_SUFFIXES = (".yaml", ".yml", ".json")


def is_dockerfile(path: str) -> bool:
    base = os.path.basename(path)
    low = base.lower()
    return (
        low in ("dockerfile", "containerfile")
        or low.startswith(("dockerfile.", "containerfile."))
        or low.endswith((".dockerfile", ".containerfile"))
    )


def is_yaml(path: str) -> bool:
    return path.lower().endswith(YAML_SUFFIXES)


_DOCKERFILE_START = re.compile(r"^\s*(FROM|ARG)\s", re.I)


def looks_like_dockerfile(text: str) -> bool:
    """For standard input: the first instruction of a Dockerfile is FROM or ARG."""
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            return bool(_DOCKERFILE_START.match(line))
    return False


def load_text(file: str, text: str, as_dockerfile: bool | None = None) -> ScanSet:
    """Normalise one file's text into a ScanSet (errors and skipped objects included).

    The format follows the file name unless ``as_dockerfile`` says it (standard input).
    """
    out = ScanSet(files=[file])
    if as_dockerfile if as_dockerfile is not None else is_dockerfile(file):
        from mamori.sources import dockerfile

        out.extend(dockerfile.load(file, text))
        out.files.pop()  # dockerfile.load lists the file itself
        return out
    from mamori.sources import compose, docker_host_doc, image_contents_doc, kubernetes
    from mamori.sources.inline import inline_suppressions
    from mamori.sources.yamldoc import load_docs

    docs, errors = load_docs(file, text)
    out.errors.extend(errors)
    lines = text.splitlines()
    for doc in docs:
        if doc.data is None:
            continue
        if docker_host_doc.is_snapshot(doc.data):
            part = docker_host_doc.load(doc)
            part.files = []
            out.extend(part)
        elif image_contents_doc.is_snapshot(doc.data):
            part = image_contents_doc.load(doc)
            part.files = []
            out.extend(part)
        elif kubernetes.is_kubernetes(doc.data):
            before = len(out.workloads) + len(out.resources)
            kubernetes.load(doc, out)
            if len(out.workloads) + len(out.resources) > before:
                out.suppressions.extend(inline_suppressions(lines, doc, file, out.errors))
        elif compose.is_compose(doc.data):
            part = compose.load(doc)
            part.files = []
            out.extend(part)
            out.suppressions.extend(inline_suppressions(lines, doc, file, out.errors))
        else:
            out.skipped.append(Skipped(file, doc.line, f"document {doc.index + 1}",
                                       "neither a Kubernetes object nor a Compose file"))
    return out


def read_file(path: str, max_bytes: int = 32 * 1024 * 1024) -> tuple[str | None, InputError | None]:
    """Read a file as UTF-8 text, bounded; an unreadable file is an InputError, not a crash."""
    try:
        size = os.path.getsize(path)
        if size > max_bytes:
            return None, InputError(path, 0, f"file is {size} bytes, over the {max_bytes} byte limit; not read")
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        return None, InputError(path, 0, f"cannot read: {exc.strerror or exc}")
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return None, InputError(path, line, "not UTF-8 text")
