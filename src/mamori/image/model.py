"""An image's configuration judged by the Dockerfile rules.

The config (User, Env, ExposedPorts, Healthcheck, Entrypoint/Cmd, Labels, Volumes) and the
``RUN`` steps recorded in ``history[].created_by`` are written out as the Dockerfile that
would produce them, and that text goes through :func:`mamori.sources.dockerfile.load`. So
the image gets exactly the model a Dockerfile gets - a ``Workload`` with one ``Role.IMAGE``
container and a ``Build`` - and every Dockerfile rule (root user, no health check, EXPOSE 22,
secrets in ENV, floating base, curl | sh in RUN...) fires on it unchanged.

The base is known only when the image says it: the ``org.opencontainers.image.base.name``
label (what BuildKit and many pipelines record); otherwise the reconstruction starts
``FROM scratch`` and the floating-base rule stays silent. Findings point at lines of the
reconstructed Dockerfile (``reconstruct`` returns it; ``mamori image scan --show-dockerfile``
prints it with recognised secrets replaced by ``<redacted>``); secrets in the config are
reported only by fingerprint, as in any Dockerfile.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

from mamori.model import Identity, ScanSet, SourceKind

BASE_LABEL = "org.opencontainers.image.base.name"
MAX_ITEMS = 2000
MAX_TEXT = 64 * 1024
_BUILDKIT_SUFFIX = " # buildkit"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,255}$")
_ARGS_PREFIX = re.compile(r"^\|(\d{1,6}) ")


def _quote(value: str) -> str:
    """A double-quoted Dockerfile word: no variable expansion, no line continuation."""
    v = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return '"' + v.replace("\n", "\\n").replace("\r", "") + '"'


def _json_words(words: object) -> str | None:
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words) or not words:
        return None
    return json.dumps([w[:MAX_TEXT] for w in words[:MAX_ITEMS]])


def _run_step(created_by: str) -> tuple[list[tuple[str, str]], str] | None:
    """The build arguments and shell command of a history entry made by RUN; None for other steps.

    Classic builder: ``/bin/sh -c CMD`` (``#(nop)`` marks a non-RUN step); BuildKit: ``RUN /bin/sh
    -c CMD # buildkit``. Build arguments in scope come first as ``|N A=b C=d``: their values are
    recorded in the image for anyone to read, so they become ``ARG A="b"`` for the secret rules.
    """
    text = created_by.strip()
    if text.endswith(_BUILDKIT_SUFFIX):
        text = text[: -len(_BUILDKIT_SUFFIX)].rstrip()
    text = text.removeprefix("RUN ").lstrip()
    args: list[tuple[str, str]] = []
    m = _ARGS_PREFIX.match(text)
    if m:
        count = int(m.group(1))
        words = text[m.end():].split(" ", count)
        if count > MAX_ITEMS or len(words) <= count:
            return None
        for word in words[:count]:
            name, eq, value = word.partition("=")
            if not eq or not _NAME.match(name):
                return None  # a value with spaces: the split is ambiguous, leave the step out
            args.append((name, value))
        text = words[count].lstrip()
    for shell in ("/bin/sh -c ", "/bin/bash -c "):
        if text.startswith(shell):
            cmd = text[len(shell):].strip()
            if cmd.startswith("#(nop)") or not cmd or "\n" in cmd or "<<" in cmd:
                return (args, "") if args else None
            return args, cmd[:MAX_TEXT]
    return None  # not a shell step, or arguments whose values held spaces (the split went wrong)


def _hide(name: str | None, value: str) -> str:
    """``value`` with every credential the detectors recognise replaced, for display only."""
    from mamori.secrets import DETECTORS, detect

    if name is not None and detect(name, value):
        return "<redacted>"
    spans = sorted({(a, b) for d in DETECTORS if d.name_check is None for _, a, b in d.spans(None, value)})
    for a, b in reversed(spans):
        value = value[:a] + "<redacted>" + value[b:]
    return value


def reconstruct(config: dict[str, Any], display: bool = False) -> str:
    """The Dockerfile equivalent of an image config (see the module docstring).

    ``display`` replaces recognised secrets by ``<redacted>``: the text is then for people, not rules.
    """
    hide = _hide if display else (lambda name, value: value)
    cfg = config.get("config") if isinstance(config.get("config"), dict) else {}
    assert isinstance(cfg, dict)
    labels = cfg.get("Labels") if isinstance(cfg.get("Labels"), dict) else {}
    assert isinstance(labels, dict)
    base = labels.get(BASE_LABEL)
    lines = [f"FROM {base.strip()}" if isinstance(base, str) and base.strip() and " " not in base.strip()
             else "FROM scratch"]
    history = config.get("history") if isinstance(config.get("history"), list) else []
    assert isinstance(history, list)
    seen_args: set[tuple[str, str]] = set()
    for h in history[:MAX_ITEMS]:
        if isinstance(h, dict) and isinstance(h.get("created_by"), str):
            step = _run_step(h["created_by"])
            if step is None:
                continue
            args, cmd = step
            for name, value in args:
                if (name, value) not in seen_args:
                    seen_args.add((name, value))
                    lines.append(f"ARG {name}={_quote(hide(name, value[:MAX_TEXT]))}")
            if cmd:
                lines.append(f"RUN {hide(None, cmd)}")
    env = cfg.get("Env") if isinstance(cfg.get("Env"), list) else []
    assert isinstance(env, list)
    for item in env[:MAX_ITEMS]:
        if isinstance(item, str) and "=" in item:
            name, _, value = item.partition("=")
            if _NAME.match(name):
                lines.append(f"ENV {name}={_quote(hide(name, value[:MAX_TEXT]))}")
    for key, value in list(labels.items())[:MAX_ITEMS]:
        if isinstance(key, str) and isinstance(value, str) and _NAME.match(key):
            lines.append(f"LABEL {key}={_quote(hide(key, value[:MAX_TEXT]))}")
    ports = cfg.get("ExposedPorts") if isinstance(cfg.get("ExposedPorts"), dict) else {}
    assert isinstance(ports, dict)
    words = [p for p in list(ports)[:MAX_ITEMS] if isinstance(p, str) and re.fullmatch(r"\d{1,5}(?:/\w{1,8})?", p)]
    if words:
        lines.append("EXPOSE " + " ".join(words))
    vols = cfg.get("Volumes") if isinstance(cfg.get("Volumes"), dict) else {}
    assert isinstance(vols, dict)
    vol = _json_words([v for v in vols if isinstance(v, str)])
    if vol:
        lines.append(f"VOLUME {vol}")
    hc = cfg.get("Healthcheck")
    test = hc.get("Test") if isinstance(hc, dict) else None
    if isinstance(test, list) and test and test[0] == "NONE":
        lines.append("HEALTHCHECK NONE")
    elif isinstance(test, list) and len(test) > 1 and test[0] in ("CMD", "CMD-SHELL"):
        words_json = _json_words(test[1:]) if test[0] == "CMD" else _json_words(["/bin/sh", "-c", *test[1:]])
        if words_json:
            lines.append(f"HEALTHCHECK CMD {hide(None, words_json)}")
    user = cfg.get("User")
    if isinstance(user, str) and user.strip():
        lines.append(f"USER {_quote(user.strip()[:256])}")
    entry_json, cmd_json = _json_words(cfg.get("Entrypoint")), _json_words(cfg.get("Cmd"))
    if entry_json:
        lines.append(f"ENTRYPOINT {hide(None, entry_json)}")
    if cmd_json:
        lines.append(f"CMD {hide(None, cmd_json)}")
    return "\n".join(lines) + "\n"


def config_scan(config: dict[str, Any], name: str) -> ScanSet:
    """The image configuration as the Dockerfile model, named after the image."""
    from mamori.sources import dockerfile

    text = reconstruct(config)
    file = f"{name} (image config)"
    out = dockerfile.load(file, text)
    ident = Identity(SourceKind.DOCKERFILE, file, "Image", name, None, 1)
    out.workloads = [replace(w, ident=ident) for w in out.workloads]
    out.builds = [replace(b, ident=ident) for b in out.builds]
    return out
