"""Bundle-relative paths: the only names an artifact may have, for the writer and the verifier alike.

A path is ``/``-separated, relative, without empty, ``.`` or ``..`` components, NUL or
backslash, so neither writing nor checking a bundle can reach outside it.
"""

from __future__ import annotations

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
SIGNER = "signer.pem"
RESERVED = frozenset({MANIFEST, SIGNATURE, SIGNER})
MAX_PATH = 4096
MAX_COMPONENT = 255


def check_rel(path: object) -> str | None:
    """Why ``path`` is not a safe bundle path, or None when it is."""
    if not isinstance(path, str) or not path:
        return "not a non-empty string"
    if len(path.encode("utf-8", "surrogatepass")) > MAX_PATH:
        return f"longer than {MAX_PATH} bytes"
    if "\x00" in path or "\\" in path:
        return "holds a NUL or backslash"
    if path.startswith("/"):
        return "is absolute"
    for part in path.split("/"):
        if part in ("", ".", ".."):
            return "has an empty, '.' or '..' component"
        if len(part.encode("utf-8", "surrogatepass")) > MAX_COMPONENT:
            return f"has a component longer than {MAX_COMPONENT} bytes"
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid UTF-8"
    return None


def container_rel(container_path: str) -> str | None:
    """The bundle-relative form of an absolute container path (under ``fs/``), None when unsafe."""
    parts = [p for p in container_path.split("/") if p and p != "."]
    if not parts or ".." in parts:
        return None
    rel = "container/fs/" + "/".join(parts)
    return None if check_rel(rel) else rel
