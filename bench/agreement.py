"""Agreement of mamori with Checkov and Trivy, per peer check id, on the same Kubernetes inputs.

Why: mamori is judged on held-out, peer-labelled Kubernetes cases, matched per peer check id through each
mamori rule's ``refs``. This script runs the three tools on the same directories, reduces every result to
(directory, file, kind, name, peer check id) -- resource granularity, namespace-insensitive, because the peers
report per resource or per container -- and scores mamori against each peer check as if the peer were the
label: TP/FP/FN, precision, recall, F1. A mamori positive for a check id is any finding, on that resource, of a
rule that lists the id in its refs.

    .venv/bin/python bench/agreement.py                  # bench/k8s_cases only
    .venv/bin/python bench/agreement.py --gen 500        # + 500 files from bench/gen_k8s.py (temp dir)
    .venv/bin/python bench/agreement.py DIR [DIR ...] --no-cases --examples 8

Peers come from .venv-peers (``make bench-peers``) and run offline: Checkov with --skip-download, Trivy with
its embedded checks and a throw-away cache. Peer reports are cached under bench/out/peer-cache/ keyed by the
input bytes and the peer version (mamori is re-run every time); --no-cache disables that.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))
import gen_k8s  # noqa: E402  (a sibling script, not a package)

PEERS = ("checkov", "trivy")
INPUT_SUFFIXES = (".yaml", ".yml", ".json")
MAX_FILE_BYTES = 4 * 1024 * 1024
TIMEOUT_S = 3600.0
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# (dir label, relative file, kind, name): the unit every tool's result is reduced to.
Key = tuple[str, str, str, str]


# ---------------------------------------------------------------- check ids


_K8S_ID = re.compile(r"^(KSV-|KCV-|CKV_K8S_|CKV2_K8S_)")
_KSV = re.compile(r"^(?:AVD-)?(K[A-Z]V)-?0*(\d+)$", re.I)


def norm_check_id(peer: str, raw: str) -> str:
    """Trivy prints KSV-0017 (newer) or KSV017 / AVD-KSV-0017 (older); all mean the same check."""
    raw = raw.strip()
    if peer == "trivy":
        m = _KSV.match(raw)
        if m:
            return f"{m.group(1).upper()}-{int(m.group(2)):04d}"
    return raw


def mamori_refs(mamori: Path) -> dict[str, list[str]]:
    """peer check id ("trivy:KSV-0017") -> mamori rule ids that list it in refs."""
    out = subprocess.run([str(mamori), "rules", "-f", "json"], capture_output=True, text=True, check=True,
                         timeout=120)
    by_ref: dict[str, list[str]] = defaultdict(list)
    for rule in json.loads(out.stdout):
        for ref in rule.get("refs", []):
            peer, _, cid = str(ref).partition(":")
            if peer in PEERS and cid:
                by_ref[f"{peer}:{norm_check_id(peer, cid)}"].append(str(rule["id"]))
    return dict(by_ref)


# ---------------------------------------------------------------- resource index (our own YAML reading)


@dataclass(frozen=True, slots=True)
class Res:
    key: Key
    namespace: str | None
    first: int  # 1-based line span of the object in its file
    last: int


def _scalar(node: Any, name: str) -> str | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == name:
            return v.value if isinstance(v, yaml.ScalarNode) else None
    return None


def _child(node: Any, name: str) -> Any:
    if not isinstance(node, yaml.MappingNode):
        return None
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == name:
            return v
    return None


def _objects(node: Any) -> Iterator[Any]:
    """Kubernetes objects in one YAML document: the document itself, or the items of a `kind: List`."""
    kind = _scalar(node, "kind")
    items = _child(node, "items")
    if kind is not None and kind.endswith("List") and isinstance(items, yaml.SequenceNode):
        for item in items.value:
            yield from _objects(item)
    elif kind is not None:
        yield node


def index_file(label: str, root: Path, path: Path) -> list[Res]:
    rel = path.relative_to(root).as_posix()
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return []
        text = path.read_text(encoding="utf-8", errors="replace")
        docs = list(yaml.compose_all(text, Loader=_Loader))
    except (OSError, yaml.YAMLError):
        return []
    out: list[Res] = []
    for doc in docs:
        for obj in _objects(doc):
            meta = _child(obj, "metadata")
            name = _scalar(meta, "name") or _scalar(meta, "generateName") or ""
            kind = _scalar(obj, "kind") or ""
            out.append(Res((label, rel, kind, name), _scalar(meta, "namespace"),
                           obj.start_mark.line + 1, obj.end_mark.line + 1))
    return out


@dataclass(slots=True)
class Index:
    by_file: dict[tuple[str, str], list[Res]] = field(default_factory=dict)
    keys: set[Key] = field(default_factory=set)

    def add(self, label: str, root: Path, files: list[str] | None) -> None:
        paths = [root / f for f in files] if files is not None else input_files(root)
        for path in paths:
            res = index_file(label, root, path)
            self.by_file[(label, path.relative_to(root).as_posix())] = res
            self.keys.update(r.key for r in res)

    def at_line(self, label: str, rel: str, line: int) -> Key | None:
        """The innermost object whose span holds ``line`` (else the next object below it)."""
        res = self.by_file.get((label, rel), [])
        holding = [r for r in res if r.first <= line <= r.last]
        if holding:
            return min(holding, key=lambda r: r.last - r.first).key
        below = [r for r in res if r.first >= line]
        return min(below, key=lambda r: r.first).key if below else None

    def by_name(self, label: str, rel: str, kind: str, name: str) -> Key | None:
        """The object called ``name`` in the file: exact kind first, then any case of it, then any kind."""
        key = (label, rel, kind, name)
        if key in self.keys:
            return key
        same = [r.key for r in self.by_file.get((label, rel), []) if r.key[3] == name]
        kinded = [k for k in same if k[2].lower() == kind.lower()]
        for cands in (kinded, same):
            if len(cands) == 1:
                return cands[0]
        return None

    def only(self, label: str, rel: str) -> Key | None:
        res = self.by_file.get((label, rel), [])
        return res[0].key if len(res) == 1 else None


# ---------------------------------------------------------------- running the tools


def input_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in INPUT_SUFFIXES)


Unit = tuple[str, Path, list[str] | None]  # (label, root, files: None = the whole root)


def scan_units(label: str, root: Path, isolate: bool) -> list[Unit]:
    """What is scanned together. Cross-document checks (Checkov's graph checks such as CKV2_K8S_6, mamori's
    namespace-level rules) see everything in one run, so unrelated cases must not share a run: the files
    directly under ``root`` form one unit and every first-level subdirectory is a unit of its own; with
    ``isolate`` every file is scanned alone (what a per-file labeller sees; slower)."""
    if isolate:
        return [(label if p.parent == root else f"{label}/{p.parent.relative_to(root).as_posix()}", p.parent, [p.name])
                for p in input_files(root)]
    units: list[Unit] = []
    if any(p.is_file() and p.suffix in INPUT_SUFFIXES for p in root.iterdir()):
        top = [p.name for p in sorted(root.iterdir()) if p.is_file() and p.suffix in INPUT_SUFFIXES]
        units.append((label, root, top))
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if input_files(sub):
            units.append((f"{label}/{sub.name}", sub, None))
    return units


def base_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRIVY_", "BC_", "CKV_", "CHECKOV_"))}
    env.update({"HOME": str(home), "NO_COLOR": "1", "PYTHONDONTWRITEBYTECODE": "1",
                "LC_ALL": env.get("LC_ALL", "C.UTF-8")})
    return env


def tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix in INPUT_SUFFIXES:
            h.update(path.relative_to(root).as_posix().encode() + b"\0")
            h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()[:20]


def peer_version(exe: Path, env: dict[str, str]) -> str:
    try:
        out = subprocess.run([str(exe), "--version"], env=env, capture_output=True, text=True, timeout=120,
                             check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    lines = (out.stdout or out.stderr).strip().splitlines()
    return lines[0].strip() if lines else "unknown"


def run_tool(name: str, exe: Path, target: Path, work: Path, env: dict[str, str]) -> Any:
    """Run one tool on ``target``; return its parsed JSON report."""
    out = work / f"{name}.json"
    err = work / f"{name}.err"
    run_env = dict(env)
    if name == "mamori":
        cmd = [str(exe), "scan", str(target), "--no-config", "-f", "json", "--output", str(out)]
        ok = {0, 1}
    elif name == "checkov":  # no --quiet: passed checks tell which checks and resources Checkov evaluated
        cmd = [str(exe), "-d", str(target), "--framework", "kubernetes", "-o", "json", "--skip-download"]
        ok = {0, 1}
    else:
        run_env["TRIVY_CACHE_DIR"] = str(work / "trivy-cache")
        cmd = [str(exe), "config", "--quiet", "--include-non-failures", "--skip-check-update",
               "--skip-version-check", "--disable-telemetry", "-f", "json", "-o", str(out), str(target)]
        ok = {0}
    with open(err, "wb") as fe, open(out if name == "checkov" else work / f"{name}.stdout", "wb") as fo:
        proc = subprocess.run(cmd, stdout=fo, stderr=fe, env=run_env, cwd=work, timeout=TIMEOUT_S, check=False)
    if proc.returncode not in ok:
        tail = err.read_text(errors="replace")[-1500:]
        raise RuntimeError(f"{name} exited {proc.returncode} on {target}:\n{tail}")
    text = out.read_text(encoding="utf-8", errors="replace").strip()
    return json.loads(text) if text else {}


# ---------------------------------------------------------------- normalising reports


@dataclass(slots=True)
class PeerView:
    """What one peer said: fired[check] = resources; evaluated = check ids it ran; notes per (check, key)."""

    fired: dict[str, set[Key]] = field(default_factory=lambda: defaultdict(set))
    passed: dict[str, set[Key]] = field(default_factory=lambda: defaultdict(set))
    evaluated: set[str] = field(default_factory=set)
    notes: dict[tuple[str, Key], str] = field(default_factory=dict)
    unplaced: Counter[str] = field(default_factory=Counter)  # results we could not tie to a resource


def _rel_to(root: Path, raw: str) -> str:
    p = Path(raw)
    if p.is_absolute():
        try:
            return p.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            return raw.lstrip("/")
    return raw


def parse_checkov(report: Any, label: str, root: Path, idx: Index, view: PeerView) -> None:
    reports = report if isinstance(report, list) else [report]
    for rep in reports:
        if not isinstance(rep, dict) or not isinstance(rep.get("results"), dict):
            continue
        for bucket in ("failed_checks", "passed_checks"):
            for c in rep["results"].get(bucket) or []:
                cid = norm_check_id("checkov", str(c.get("check_id", "")))
                view.evaluated.add(cid)
                abs_path = str(c.get("file_abs_path") or "")
                rel = _rel_to(root, abs_path) if abs_path and Path(abs_path).is_file() else \
                    str(c.get("file_path", "")).lstrip("/")
                kind, _, rest = str(c.get("resource", "")).partition(".")
                _ns, _, name = rest.partition(".")
                key = idx.by_name(label, rel, kind, name)
                if key is None:
                    span = c.get("file_line_range") or [0, 0]
                    key = idx.at_line(label, rel, int(span[0] or 1))
                if key is None:
                    view.unplaced[cid] += 1
                    continue
                if bucket == "failed_checks":
                    view.fired[cid].add(key)
                    keys = (c.get("check_result") or {}).get("evaluated_keys") or []
                    view.notes.setdefault((cid, key), f"{c.get('resource')} {','.join(map(str, keys))[:160]}")
                else:
                    view.passed[cid].add(key)


# How Trivy's messages name the object: "Container 'x' of Deployment 'web'", "Role 'r' should ...",
# "daemonset web in default namespace ...", 'container "x" of deployment "web" in "ns" namespace'.
_TRIVY_NAMED = (re.compile(r"""(?:of|in)\s+'?(\w+)'?\s+['"]([^'"]+)['"]""", re.I),
                re.compile(r"""^(\w+)\s+'([^']+)'"""),
                re.compile(r"""^(\w+)\s+(\S+)\s+in\s+\S+\s+namespace"""))


def parse_trivy(report: Any, label: str, idx: Index, view: PeerView) -> None:
    for result in (report or {}).get("Results") or []:
        rel = str(result.get("Target", ""))
        for m in result.get("Misconfigurations") or []:
            cid = norm_check_id("trivy", str(m.get("ID") or m.get("AVDID") or ""))
            view.evaluated.add(cid)
            if m.get("Status") != "FAIL":
                continue
            cause = m.get("CauseMetadata") or {}
            line = int(cause.get("StartLine") or 0)
            key = idx.at_line(label, rel, line) if line > 0 else None
            msg = str(m.get("Message", ""))
            for pattern in _TRIVY_NAMED if key is None else ():
                named = pattern.search(msg)
                key = idx.by_name(label, rel, named.group(1), named.group(2)) if named else None
                if key is not None:
                    break
            if key is None:
                key = idx.only(label, rel)
            if key is None:
                view.unplaced[cid] += 1
                continue
            view.fired[cid].add(key)
            view.notes.setdefault((cid, key), msg[:200])


@dataclass(slots=True)
class MamoriView:
    fired: dict[str, set[Key]] = field(default_factory=lambda: defaultdict(set))  # "peer:id" -> keys
    rules_on: dict[tuple[str, Key], set[str]] = field(default_factory=lambda: defaultdict(set))
    notes: dict[tuple[str, Key], str] = field(default_factory=dict)
    unplaced: int = 0


def parse_mamori(report: Any, label: str, root: Path, idx: Index, view: MamoriView) -> None:
    for f in (report or {}).get("findings") or []:
        refs = [r for r in f.get("refs") or [] if str(r).partition(":")[0] in PEERS]
        if not refs:
            continue
        loc = f.get("location") or {}
        rel = _rel_to(root, str(loc.get("file", "")))
        key = idx.by_name(label, rel, str(loc.get("kind") or ""), str(loc.get("name") or ""))
        if key is None and loc.get("line"):
            key = idx.at_line(label, rel, int(loc["line"]))
        if key is None:
            view.unplaced += 1
            continue
        for ref in refs:
            peer, _, cid = str(ref).partition(":")
            full = f"{peer}:{norm_check_id(peer, cid)}"
            view.fired[full].add(key)
            view.rules_on[(full, key)].add(str(f.get("rule_id")))
            where = f" [{loc['container']}]" if loc.get("container") else ""
            view.notes.setdefault((full, key), f"{f.get('rule_id')}{where}: {str(f.get('message', ''))[:150]}")


# ---------------------------------------------------------------- scoring


@dataclass(frozen=True, slots=True)
class Score:
    check: str  # "trivy:KSV-0017"
    rules: tuple[str, ...]
    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    f1: float
    fp_examples: tuple[dict[str, str], ...]
    fn_examples: tuple[dict[str, str], ...]


def _ratio(a: int, b: int) -> float:
    return a / b if b else 1.0


def show(key: Key) -> str:
    label, rel, kind, name = key
    return f"{label}/{rel} {kind}/{name}"


def score(check: str, rules: list[str], mam: MamoriView, peer: PeerView, examples: int) -> Score:
    cid = check.partition(":")[2]
    m, p = mam.fired.get(check, set()), peer.fired.get(cid, set())
    tp, fp, fn = len(m & p), len(m - p), len(p - m)
    prec, rec = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    fps = tuple({"resource": show(k), "mamori": mam.notes.get((check, k), ""),
                 "peer_evaluated": "yes" if k in peer.passed.get(cid, set()) else "no-pass-record"}
                for k in sorted(m - p)[:examples])
    fns = tuple({"resource": show(k), "peer": peer.notes.get((cid, k), "")} for k in sorted(p - m)[:examples])
    return Score(check, tuple(sorted(set(rules))), tp, fp, fn, prec, rec, f1, fps, fns)


# ---------------------------------------------------------------- main


def slim(name: str, report: Any) -> Any:
    """Keep only what the scoring reads: Checkov's JSON carries every resource's source code (tens of MB)."""
    if name == "checkov":
        reps = report if isinstance(report, list) else [report]
        keep = ("check_id", "resource", "file_path", "file_abs_path", "file_line_range", "check_result")
        out = []
        for rep in reps:
            if isinstance(rep, dict) and isinstance(rep.get("results"), dict):
                res = rep["results"]
                out.append({"results": {b: [{k: c.get(k) for k in keep} for c in res.get(b) or []]
                                        for b in ("failed_checks", "passed_checks")}})
        return out
    if name == "trivy":
        results = []
        for r in (report or {}).get("Results") or []:
            mis = [{"ID": m.get("ID"), "AVDID": m.get("AVDID"), "Status": m.get("Status"), "Message": m.get("Message"),
                    "CauseMetadata": {"StartLine": (m.get("CauseMetadata") or {}).get("StartLine")}}
                   for m in r.get("Misconfigurations") or []]
            results.append({"Target": r.get("Target"), "Misconfigurations": mis})
        return {"Results": results}
    return report


def cached_peer(name: str, exe: Path, target: Path, work: Path, env: dict[str, str], version: str,
                cache: Path | None) -> Any:
    if cache is None:
        return slim(name, run_tool(name, exe, target, work, env))
    tag = hashlib.sha256(version.encode()).hexdigest()[:8]
    path = cache / f"{name}-{tree_digest(target)}-{tag}.json"
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    report = slim(name, run_tool(name, exe, target, work, env))
    cache.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report), encoding="utf-8")
    return report


def dump_trivy_rego(trivy: Path, out: Path) -> int:
    """Write the Kubernetes checks embedded in the trivy binary, one file per Rego package (best effort: the
    embedded files are stored back to back, so a file is cut at the next `# METADATA` header or NUL byte).
    This is the evidence for what the pinned Trivy really does; it differs from trivy-checks' main branch."""
    data = trivy.read_bytes()
    starts = [m.start() for m in re.finditer(rb"# METADATA\n", data)]
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    for i, start in enumerate(starts):
        nul = data.find(b"\0", start)
        end = min(nul if nul != -1 else len(data), starts[i + 1] if i + 1 < len(starts) else len(data),
                  start + 200_000)
        chunk = data[start:end]
        m = re.search(rb"\npackage ((?:builtin|lib)\.kubernetes\.\w+|lib\.k8s_sec_context|lib\.kubernetes)", chunk)
        if m:
            (out / f"{m.group(1).decode()}.rego").write_bytes(chunk)
            written += 1
    print(f"wrote {written} Rego files to {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("dirs", nargs="*", type=Path, help="extra input directories")
    ap.add_argument("--no-cases", action="store_true", help="leave out bench/k8s_cases")
    ap.add_argument("--gen", type=int, default=0, metavar="N", help="add N files from bench/gen_k8s.py")
    ap.add_argument("--seed", type=int, default=1, help="seed for --gen")
    ap.add_argument("--mamori", type=Path, default=REPO / ".venv" / "bin" / "mamori")
    ap.add_argument("--peers-venv", type=Path, default=REPO / ".venv-peers")
    ap.add_argument("--out-dir", type=Path, default=BENCH / "out")
    ap.add_argument("--no-cache", action="store_true", help="always re-run the peers")
    ap.add_argument("--examples", type=int, default=4, help="disagreeing resources shown per check")
    ap.add_argument("--only", default="", help="comma-separated check ids to show (e.g. KSV-0012,CKV_K8S_23)")
    ap.add_argument("--jobs", type=int, default=2, help="tools run at once (default 2)")
    ap.add_argument("--isolate", action="store_true", help="scan every file alone (per-file labelling; slow)")
    ap.add_argument("--dump-trivy-rego", type=Path, metavar="DIR", help="write the Rego checks embedded in the "
                    "pinned trivy binary to DIR and exit")
    args = ap.parse_args(argv)
    if args.dump_trivy_rego:
        return dump_trivy_rego(args.peers_venv / "bin" / "trivy", args.dump_trivy_rego)

    exes = {"mamori": args.mamori, **{p: args.peers_venv / "bin" / p for p in PEERS}}
    for name, exe in exes.items():
        if not (exe.is_file() and os.access(exe, os.X_OK)):
            hint = "make venv" if name == "mamori" else "make bench-peers"
            print(f"agreement: {name} not found at {exe} (run `{hint}`)", file=sys.stderr)
            return 2

    work = Path(tempfile.mkdtemp(prefix="mamori-agreement-"))
    try:
        return _run(args, exes, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(args: argparse.Namespace, exes: dict[str, Path], work: Path) -> int:
    inputs: dict[str, Path] = {}
    if not args.no_cases:
        inputs["cases"] = BENCH / "k8s_cases"
    for i, d in enumerate(args.dirs):
        inputs[f"dir{i}-{d.name}"] = d.resolve()
    if args.gen > 0:
        gen_dir = work / "gen"
        gen_k8s.generate(gen_dir, args.gen, args.seed)
        inputs[f"gen{args.gen}s{args.seed}"] = gen_dir
    if not inputs:
        print("agreement: no inputs", file=sys.stderr)
        return 2
    home = work / "home"
    home.mkdir()
    env = base_env(home)
    versions = {p: peer_version(exes[p], env) for p in PEERS}
    refs = mamori_refs(exes["mamori"])
    cache = None if args.no_cache else args.out_dir / "peer-cache"

    units = [u for label, root in inputs.items() for u in scan_units(label, root, args.isolate)]
    idx = Index()
    for label, root, files in units:
        idx.add(label, root, files)
    tasks: dict[tuple[int, str], Any] = {}
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for n, (_label, root, files) in enumerate(units):
            target = root
            if files is not None:  # an isolated file: give it a directory of its own
                target = work / "units" / str(n)
                target.mkdir(parents=True)
                for f in files:
                    shutil.copyfile(root / f, target / f)
            for name in ("mamori", *PEERS):
                wd = work / f"{n}-{name}"
                wd.mkdir()
                if name == "mamori":
                    tasks[(n, name)] = pool.submit(run_tool, name, exes[name], target, wd, env)
                else:
                    tasks[(n, name)] = pool.submit(cached_peer, name, exes[name], target, wd, env, versions[name],
                                                   cache)
    mam = MamoriView()
    peers = {p: PeerView() for p in PEERS}
    for n, (label, root, files) in enumerate(units):
        reports = {name: tasks[(n, name)].result() for name in ("mamori", *PEERS)}
        target = root if files is None else work / "units" / str(n)
        parse_mamori(reports["mamori"], label, target, idx, mam)
        parse_checkov(reports["checkov"], label, target, idx, peers["checkov"])
        parse_trivy(reports["trivy"], label, idx, peers["trivy"])

    scores: list[Score] = []
    not_evaluated: list[str] = []
    for check, rules in sorted(refs.items()):
        peer, _, cid = check.partition(":")
        if cid not in peers[peer].evaluated:
            not_evaluated.append(check)
            continue
        scores.append(score(check, rules, mam, peers[peer], args.examples))
    scores.sort(key=lambda s: (s.f1, s.check))
    unmapped = {f"{p}:{cid}": len(keys) for p, v in peers.items() for cid, keys in v.fired.items()
                if f"{p}:{cid}" not in refs and keys}

    only = {c.strip() for c in args.only.split(",") if c.strip()}
    print(f"inputs: {', '.join(f'{k}={v}' for k, v in inputs.items())}; resources: {len(idx.keys)}; "
          f"checkov {versions['checkov']}, trivy {versions['trivy'].removeprefix('Version:').strip()}")
    print(f"\n{'check':<22} {'F1':>6} {'P':>6} {'R':>6} {'TP':>5} {'FP':>5} {'FN':>5}  mamori rules")
    for s in scores:
        print(f"{s.check:<22} {s.f1:6.3f} {s.precision:6.3f} {s.recall:6.3f} {s.tp:5d} {s.fp:5d} {s.fn:5d}  "
              f"{','.join(s.rules)}")
    macro = sum(s.f1 for s in scores) / len(scores) if scores else 0.0
    tp, fp, fn = (sum(getattr(s, a) for s in scores) for a in ("tp", "fp", "fn"))
    micro = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0
    below = [s for s in scores if s.f1 < 0.97]
    print(f"\nchecks: {len(scores)}; macro F1 {macro:.3f}; micro F1 {micro:.3f}; below 0.97: {len(below)}")
    print("\ndisagreements (checks with F1 < 1):")
    for s in scores:
        if s.f1 >= 1.0 or (only and s.check.partition(":")[2] not in only):
            continue
        print(f"  {s.check}  F1 {s.f1:.3f}  (FP {s.fp}, FN {s.fn})")
        for e in s.fp_examples:
            print(f"    FP mamori-only  {e['resource']}  <- {e['mamori']}  (peer pass record: {e['peer_evaluated']})")
        for e in s.fn_examples:
            print(f"    FN peer-only    {e['resource']}  <- {e['peer']}")
    k8s_missing = [c for c in not_evaluated if _K8S_ID.match(c.partition(":")[2])]
    if k8s_missing:
        print(f"\nKubernetes ids in refs that the peer did not evaluate on these inputs: {', '.join(k8s_missing)} "
              f"(+{len(not_evaluated) - len(k8s_missing)} Dockerfile/secret-scanner ids)")
    print("\npeer checks that fired but no mamori rule lists (resources):")
    for check, n in sorted(unmapped.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {check:<22} {n}")
    unplaced = {p: dict(v.unplaced) for p, v in peers.items() if v.unplaced}
    if unplaced or mam.unplaced:
        print(f"\nresults not tied to a resource: peers {unplaced}, mamori {mam.unplaced}")

    args.out_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.out_dir / f"agreement-{stamp}.json"
    out.write_text(json.dumps({
        "inputs": {k: str(v) for k, v in inputs.items()}, "gen": args.gen, "seed": args.seed,
        "versions": versions, "resources": len(idx.keys), "macro_f1": macro, "micro_f1": micro,
        "checks": [{"check": s.check, "rules": s.rules, "tp": s.tp, "fp": s.fp, "fn": s.fn,
                    "precision": s.precision, "recall": s.recall, "f1": s.f1,
                    "fp_examples": s.fp_examples, "fn_examples": s.fn_examples} for s in scores],
        "not_evaluated": not_evaluated, "unmapped_fired": unmapped,
        "unplaced": {"peers": unplaced, "mamori": mam.unplaced},
    }, indent=1), encoding="utf-8")
    print(f"\nwrote {out.relative_to(REPO) if out.is_relative_to(REPO) else out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
