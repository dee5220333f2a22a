"""CSA-3.1.6.3 and 3.1.8.3: only what the application needs goes into the image.

Rules about image content look only at the stages whose layers end up in the image (the
final stage and the stages it is built FROM): caches or extra packages in a builder
stage are thrown away with it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator

from mamori.model import Build, Instruction, Severity, SourceKind
from mamori.rules.build_common import (
    Step,
    basename,
    has_cache_mount,
    has_option,
    image_stages,
    operands,
    redact,
    show,
    steps,
    steps_of,
)
from mamori.rules.registry import Context, Hit, Scope, hit, rule

DF = [SourceKind.DOCKERFILE]
IMG = "CSA-3.1.6.3"
MIN = "CSA-3.1.8.3"
_APT = frozenset({"apt-get", "apt", "aptitude"})
_APT_ARG = frozenset({"-o", "--option", "-t", "--target-release", "-c", "--config-file"})
_TRUTHY = frozenset({"1", "true", "on", "yes"})


def _sub(step: Step, with_arg: frozenset[str] = frozenset()) -> str | None:
    words = operands(step.argv[1:], with_arg)
    return words[0] if words else None


def _image_runs(build: Build) -> Iterator[Instruction]:
    stages = image_stages(build)
    for ins in build.instructions:
        if ins.keyword == "RUN" and ins.stage in stages:
            yield ins


@rule(id="MAM-BUILD-009", title="apt-get install without --no-install-recommends", severity=Severity.LOW,
      controls=[IMG, MIN], scope=Scope.BUILD, sources=DF,
      remediation="Add `--no-install-recommends` (or set `APT::Install-Recommends \"false\";` once in "
                  "/etc/apt/apt.conf.d) and install the packages you need explicitly.",
      refs=["hadolint:DL3015", "trivy:DS-0029"])
def apt_recommends(ctx: Context, build: Build) -> Iterator[Hit]:
    """Recommended packages are not needed to run the application; each one adds code,
    vulnerabilities and attack surface to the image."""
    configured = False
    for ins in _image_runs(build):
        text = ins.args + "\n" + (ins.heredoc or "")
        for step in steps_of(ins):
            if step.prog in ("apt-get", "apt") and _sub(step, _APT_ARG) == "install":
                args = step.argv[1:]
                if configured or has_option(args, "--no-install-recommends") or any(
                        re.fullmatch(r"(?i)APT::Install-Recommends=[\"']?(false|0|no)[\"']?", a) for a in args):
                    continue
                yield hit(step.command.loc, f"`{show(step.argv)}` also installs recommended packages")
        if re.search(r"(?i)APT::Install-Recommends\s*\"?\s*(false|0)", text):
            configured = True


def _removes(step: Step, *prefixes: str) -> bool:
    return step.prog == "rm" and any(a.rstrip("*").rstrip("/").startswith(p.rstrip("/")) for a in step.argv[1:]
                                     for p in prefixes if not a.startswith("-"))


@rule(id="MAM-BUILD-010", title="apt lists left in the image", severity=Severity.LOW, controls=[IMG, MIN],
      scope=Scope.BUILD, sources=DF,
      remediation="End the RUN that calls `apt-get update` with `&& rm -rf /var/lib/apt/lists/*`, or use "
                  "`RUN --mount=type=cache,target=/var/lib/apt/lists ...`.",
      refs=["hadolint:DL3009"])
def apt_lists(ctx: Context, build: Build) -> Iterator[Hit]:
    """The package index (tens of MB) is only needed while installing; left in a layer it
    bloats the image and goes stale."""
    for ins in _image_runs(build):
        ss = list(steps_of(ins))
        update = next((s for s in ss if s.prog in _APT and _sub(s, _APT_ARG) == "update"), None)
        if update is None or has_cache_mount(ins, "/var/lib/apt/lists", "/var/lib/apt"):
            continue
        if any(_removes(s, "/var/lib/apt/lists", "/var/lib/apt") for s in ss):
            continue
        yield hit(update.command.loc, f"`{show(update.argv)}` leaves /var/lib/apt/lists in the layer")


@rule(id="MAM-BUILD-011", title="apk add without --no-cache", severity=Severity.LOW, controls=[IMG, MIN],
      scope=Scope.BUILD, sources=DF,
      remediation="Use `apk add --no-cache <packages>`.",
      refs=["hadolint:DL3019", "trivy:DS-0025"])
def apk_cache(ctx: Context, build: Build) -> Iterator[Hit]:
    """``apk add`` without ``--no-cache`` keeps the package index in /var/cache/apk."""
    for ins in _image_runs(build):
        ss = list(steps_of(ins))
        if has_cache_mount(ins, "/var/cache/apk", "/etc/apk/cache") or any(_removes(s, "/var/cache/apk") for s in ss):
            continue
        for step in ss:
            if step.prog == "apk" and _sub(step) == "add" and not has_option(step.argv[1:], "--no-cache"):
                yield hit(step.command.loc, f"`{show(step.argv)}` keeps the apk cache in the layer")


def _pip_install(step: Step) -> tuple[str, ...] | None:
    argv = step.argv
    if re.fullmatch(r"pip[\d.]*", step.prog):
        rest = argv[1:]
    elif re.fullmatch(r"python[\d.]*", step.prog) and "-m" in argv and argv[argv.index("-m") + 1:][:1] == ("pip",):
        rest = argv[argv.index("-m") + 2:]
    else:
        return None
    words = operands(rest)
    return rest if words[:1] == ["install"] else None


def _pip_env_no_cache(build: Build) -> set[str]:
    """Paths of the RUN steps that see a truthy ENV PIP_NO_CACHE_DIR (set before them or in a parent stage)."""
    out: set[str] = set()
    final_value: dict[int, bool] = {}
    for stage in build.stages:
        on = final_value.get(stage.base_stage, False) if stage.base_stage is not None else False
        for ins in stage.instructions:
            if ins.keyword == "ENV":
                for pair in ins.argv:
                    name, _, value = pair.partition("=")
                    if name == "PIP_NO_CACHE_DIR":
                        on = value.lower() in _TRUTHY
            elif ins.keyword == "RUN" and on:
                out.add(ins.loc.path)
        final_value[stage.index] = on
    return out


@rule(id="MAM-BUILD-012", title="pip install keeps its cache", severity=Severity.LOW, controls=[IMG, MIN],
      scope=Scope.BUILD, sources=DF,
      remediation="Use `pip install --no-cache-dir`, set `ENV PIP_NO_CACHE_DIR=1`, or mount a cache: "
                  "`RUN --mount=type=cache,target=/root/.cache/pip pip install ...`.",
      refs=["hadolint:DL3042"])
def pip_cache(ctx: Context, build: Build) -> Iterator[Hit]:
    """pip's wheel cache under ~/.cache/pip is useless at run time and often larger than the
    installed packages."""
    no_cache = _pip_env_no_cache(build)
    for ins in _image_runs(build):
        if ins.loc.path in no_cache or has_cache_mount(ins, "/root/.cache/pip", "/root/.cache"):
            continue
        text = ins.args + "\n" + (ins.heredoc or "")
        if re.search(r"\bPIP_NO_CACHE_DIR=[\"']?(1|true|on|yes)\b", text, re.I):
            continue
        ss = list(steps_of(ins))
        if any(_removes(s, "/root/.cache/pip", "/root/.cache", "~/.cache/pip", "~/.cache") for s in ss):
            continue
        for step in ss:
            rest = _pip_install(step)
            if rest is not None and "--no-cache-dir" not in rest:
                yield hit(step.command.loc, f"`{show(step.argv)}` keeps pip's download cache in the layer")


_RPM_INSTALL = {"yum": ("install", "groupinstall", "localinstall", "reinstall"),
                "dnf": ("install", "in", "reinstall", "rei", "groupinstall"),
                "microdnf": ("install", "reinstall"),
                "tdnf": ("install", "reinstall"),
                "zypper": ("install", "in", "source-install", "si")}
_RPM_CACHE = {"yum": ("/var/cache/yum", "/var/cache/dnf"), "dnf": ("/var/cache/dnf", "/var/cache/yum"),
              "microdnf": ("/var/cache/dnf", "/var/cache/yum"), "tdnf": ("/var/cache/tdnf",),
              "zypper": ("/var/cache/zypp",)}
_RPM_ARG = frozenset({"--setopt", "--enablerepo", "--disablerepo", "--repo", "--installroot", "--releasever",
                      "-c", "--config", "--exclude", "-x", "-r", "--from", "--root"})


def _cleans(step: Step, manager: str) -> bool:
    words = operands(step.argv[1:], _RPM_ARG)
    if manager == "zypper":
        return step.prog == "zypper" and words[:1] in (["clean"], ["cc"])
    family = {"yum", "dnf", "microdnf", "tdnf", "dnf-3"}
    return (step.prog in family and words[:2] == ["clean", "all"]) or _removes(step, *_RPM_CACHE[manager])


@rule(id="MAM-BUILD-013", title="yum/dnf/zypper cache left in the image", severity=Severity.LOW,
      controls=[IMG, MIN], scope=Scope.BUILD, sources=DF,
      remediation="End the RUN with `&& yum clean all` / `dnf clean all` / `microdnf clean all` / "
                  "`zypper clean -a`, or mount the cache directory with `--mount=type=cache`.",
      refs=["hadolint:DL3032", "hadolint:DL3040", "hadolint:DL3036", "trivy:DS-0015", "trivy:DS-0019",
            "trivy:DS-0020", "trivy:DS-0027"])
def rpm_cache(ctx: Context, build: Build) -> Iterator[Hit]:
    """RPM package managers keep downloaded packages and metadata under /var/cache; cleaned
    in a later RUN they still weigh in the earlier layer."""
    for ins in _image_runs(build):
        ss = list(steps_of(ins))
        for manager, subs in _RPM_INSTALL.items():
            installs = [k for k, s in enumerate(ss) if s.prog == manager and _sub(s, _RPM_ARG) in subs]
            if not installs or has_cache_mount(ins, *_RPM_CACHE[manager]):
                continue
            last = installs[-1]
            if any(_cleans(s, manager) for s in ss[last + 1:]):
                continue
            step = ss[last]
            yield hit(step.command.loc, f"`{show(step.argv)}` is not followed by `{manager} clean` in the same RUN")


_REFRESH = {"apt-get": ("update",), "apt": ("update",), "aptitude": ("update",), "apk": ("update",),
            "zypper": ("refresh", "ref"), "yum": ("makecache",), "dnf": ("makecache",)}
_INSTALLS = {"apt-get": ("install", "upgrade", "dist-upgrade", "full-upgrade", "build-dep", "source", "reinstall"),
             "apk": ("add", "upgrade", "fix"),
             "zypper": ("install", "in", "update", "up", "dist-upgrade", "dup", "patch", "source-install", "si"),
             "yum": ("install", "update", "upgrade", "groupinstall", "localinstall", "reinstall")}
_SAME_FAMILY = {"apt": "apt-get", "aptitude": "apt-get", "dnf": "yum"}


@rule(id="MAM-BUILD-014", title="Package index update without install in the same RUN", severity=Severity.MEDIUM,
      controls=[IMG, "CSA-3.1.6.5"], scope=Scope.BUILD, sources=DF,
      remediation="Refresh and install in one RUN: `RUN apt-get update && apt-get install -y --no-install-recommends "
                  "pkg=1.2 && rm -rf /var/lib/apt/lists/*`.",
      refs=["trivy:DS-0017", "checkov:CKV_DOCKER_5", "cis-docker:4.7", "dockle:CIS-DI-0007"])
def update_alone(ctx: Context, build: Build) -> Iterator[Hit]:
    """A RUN that only refreshes the package index is cached as its own layer: later builds
    reuse the stale index and install outdated, possibly vulnerable packages (or fail)."""
    for ins in build.instructions:
        if ins.keyword != "RUN":
            continue
        ss = list(steps_of(ins))
        for k, step in enumerate(ss):
            family = _SAME_FAMILY.get(step.prog, step.prog)
            if step.prog not in _REFRESH or _sub(step, _APT_ARG) not in _REFRESH[step.prog]:
                continue
            follows = any(_SAME_FAMILY.get(s.prog, s.prog) == family and _sub(s, _APT_ARG) in _INSTALLS[family]
                          for s in ss[k + 1:])
            if not follows:
                yield hit(step.command.loc, f"`{show(step.argv)}` refreshes the package index but this RUN "
                                            "installs nothing")
            break


@rule(id="MAM-BUILD-015", title="Distribution upgrade in a build step", severity=Severity.LOW,
      controls=["CSA-3.1.3.1", IMG], scope=Scope.BUILD, sources=DF,
      remediation="Use a base image of the distribution release you need (`FROM debian:13-slim`) and rebuild "
                  "when it is updated; do not `dist-upgrade` inside the build.",
      refs=["trivy:DS-0024", "hadolint:DL3035"])
def dist_upgrade(ctx: Context, build: Build) -> Iterator[Hit]:
    """``dist-upgrade`` may move the whole distribution under the base image's tag: the image
    no longer matches the version its base names, and essential packages may not upgrade in
    an unprivileged build."""
    for step in steps(build):
        sub = _sub(step, _APT_ARG)
        if (step.prog in _APT and sub in ("dist-upgrade", "full-upgrade")) or \
                (step.prog == "zypper" and sub in ("dist-upgrade", "dup")):
            yield hit(step.command.loc, f"`{show(step.argv)}` upgrades the distribution inside the build")


@rule(id="MAM-BUILD-016", title="SSH port exposed", severity=Severity.MEDIUM, controls=[IMG, "CSA-3.1.5.4"],
      scope=Scope.BUILD, sources=DF,
      remediation="Remove `EXPOSE 22`; use `docker exec` / `kubectl exec` (audited) instead of SSH into containers.",
      refs=["trivy:DS-0004", "checkov:CKV_DOCKER_1"])
def expose_ssh(ctx: Context, build: Build) -> Iterator[Hit]:
    """An SSH endpoint in a container is a second, unaudited way in that bypasses the
    platform's access control."""
    stages = image_stages(build)
    for ins in build.instructions:
        if ins.keyword != "EXPOSE" or ins.stage not in stages:
            continue
        for word in ins.argv:
            m = re.fullmatch(r"(\d+)(?:-(\d+))?(?:/\w+)?", word)
            if m and int(m.group(1)) <= 22 <= int(m.group(2) or m.group(1)):
                yield hit(ins.loc, f"EXPOSE {word} publishes the SSH port")


_SSH_PKG = re.compile(r"^(?:openssh-server|openssh|dropbear|openssh-server-pam|tinysshd?)(?:[=~<>:@]|-\d|$)")
_PKG_ADD = {"apt-get": ("install",), "apt": ("install",), "aptitude": ("install",), "apk": ("add",),
            "yum": ("install",), "dnf": ("install",), "microdnf": ("install",), "zypper": ("install", "in"),
            "tdnf": ("install",)}
_PKG_ARG = frozenset({"-o", "--option", "-t", "--target-release", "--virtual", "-X", "--repository",
                      "--setopt", "--enablerepo", "--disablerepo", "-r", "--repo"})


@rule(id="MAM-BUILD-017", title="SSH server installed in the image", severity=Severity.MEDIUM,
      controls=[IMG, MIN], scope=Scope.BUILD, sources=DF,
      remediation="Do not install or start an SSH daemon in the image; debug with `docker exec` / `kubectl "
                  "debug`, copy files with `docker cp` / volumes.")
def ssh_server(ctx: Context, build: Build) -> Iterator[Hit]:
    """An SSH daemon is a component the application does not need and a remote-login service
    with its own keys and passwords inside the container."""
    stages = image_stages(build)
    for step in steps(build, stages):
        if step.prog in _PKG_ADD and _sub(step, _PKG_ARG) in _PKG_ADD[step.prog]:
            pkgs = [p for p in operands(step.argv[1:], _PKG_ARG)[1:] if _SSH_PKG.match(p)]
            if pkgs:
                yield hit(step.command.loc, f"`{step.prog}` installs the SSH server {redact(pkgs[0])}")
    for ins in build.instructions:
        if ins.keyword in ("CMD", "ENTRYPOINT") and ins.stage in stages:
            argv = ins.argv or tuple(ins.args.split())
            if argv and basename(argv[0]) in ("sshd", "dropbear"):
                yield hit(ins.loc, f"{ins.keyword} starts the SSH daemon {basename(argv[0])}")


_ARCHIVE = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tbz", ".tb2", ".tar.xz", ".txz", ".tar.lz",
            ".tlz", ".tar.lzma", ".tar.z", ".tar.zst", ".tzst", ".gz", ".bz2", ".xz", ".lz", ".lzma", ".z", ".zst")


@rule(id="MAM-BUILD-008", title="ADD used where COPY would do", severity=Severity.LOW, controls=[IMG, MIN],
      scope=Scope.BUILD, sources=DF,
      remediation="Use COPY for local files and directories; keep ADD for archives you mean to unpack.",
      refs=["trivy:DS-0005", "hadolint:DL3020"])
def add_local(ctx: Context, build: Build) -> Iterator[Hit]:
    """ADD also fetches URLs and unpacks archives; for plain local files that hidden behaviour
    only adds risk (an archive dropped into the context would be expanded into the image)."""
    for ins in build.instructions:
        if ins.keyword != "ADD" or len(ins.argv) < 2:
            continue
        sources = [s for s in ins.argv[:-1] if not s.startswith("<<")]
        if not sources or any("$" in s for s in sources):
            continue
        if all(not re.match(r"^(?:[a-z][a-z0-9+.-]*://|git@)", s, re.I) and not s.lower().endswith(_ARCHIVE)
               for s in sources):
            yield hit(ins.loc, f"ADD {' '.join(redact(s) for s in sources)[:120]} copies local files: use COPY")


@rule(id="MAM-BUILD-018", title="Deprecated MAINTAINER instruction", severity=Severity.INFO,
      controls=["CSA-3.1.3.1"], scope=Scope.BUILD, sources=DF,
      remediation="Replace it with `LABEL org.opencontainers.image.authors=\"team@example.com\"`.",
      refs=["trivy:DS-0022", "checkov:CKV_DOCKER_6", "hadolint:DL4000"])
def maintainer(ctx: Context, build: Build) -> Iterator[Hit]:
    """MAINTAINER is deprecated and not part of the OCI image labels that tools read; the
    standard ``org.opencontainers.image.*`` labels identify owner and version."""
    for ins in build.instructions:
        if ins.keyword == "MAINTAINER":
            yield hit(ins.loc, "MAINTAINER is deprecated: use LABEL org.opencontainers.image.authors")


def _world_writable(mode: str) -> bool:
    if re.fullmatch(r"[0-7]{3,4}", mode):
        digits = mode.zfill(4)
        sticky = int(digits[0]) & 1
        return bool(int(digits[3]) & 2) and not sticky
    for clause in mode.split(","):
        m = re.fullmatch(r"([ugoa]*)([-+=][rwxXst]*)+", clause)
        if not m:
            continue
        who = m.group(1)
        for op in re.findall(r"([-+=])([rwxXst]*)", clause[len(who):]):
            if op[0] in "+=" and "w" in op[1] and ("o" in who or "a" in who) and "t" not in clause:
                return True
    return False


@rule(id="MAM-BUILD-019", title="World-writable permissions set in the build", severity=Severity.MEDIUM,
      controls=["CSA-3.1.8.8"], scope=Scope.BUILD, sources=DF,
      remediation="Give files to the user that needs them (`chown app:app`, `COPY --chown=app:app`) with "
                  "modes like 755/644; use 1777 (sticky) only for shared temporary directories.")
def world_writable(ctx: Context, build: Build) -> Iterator[Hit]:
    """A world-writable file or directory (``chmod 777``, ``o+w``) lets any process in the
    container change code or configuration, so the image's integrity no longer holds."""
    stages = image_stages(build)
    for ins in _image_runs(build):
        ss = list(steps_of(ins))
        for k, step in enumerate(ss):
            if step.prog != "chmod":
                continue
            words = [a for a in step.argv[1:] if not a.startswith("-") or re.fullmatch(r"-[rwxXst]+", a)]
            if not words or not _world_writable(words[0]):
                continue
            paths = set(words[1:])
            if paths and any(s.prog == "rm" and paths <= set(s.argv[1:]) for s in ss[k + 1:]):
                continue  # a temporary directory removed in the same step
            yield hit(step.command.loc, f"`{show(step.argv)}` makes files writable by every user")
    for ins in build.instructions:
        if ins.keyword in ("COPY", "ADD") and ins.stage in stages:
            for flag in ins.flags:
                if flag.startswith("--chmod=") and _world_writable(flag.split("=", 1)[1]):
                    yield hit(ins.loc, f"{ins.keyword} {flag} makes the copied files writable by every user")


def _duplicates(build: Build, *keywords: str) -> Iterator[tuple[Instruction, int]]:
    for stage in build.stages:
        seen: dict[str, list[Instruction]] = defaultdict(list)
        for ins in stage.instructions:
            if ins.keyword in keywords:
                seen[ins.keyword].append(ins)
        for items in seen.values():
            for ins in items[:-1]:
                yield ins, len(items)


@rule(id="MAM-BUILD-020", title="Several CMD or ENTRYPOINT instructions in a stage", severity=Severity.LOW,
      controls=["CSA-3.1.8.8"], scope=Scope.BUILD, sources=DF,
      remediation="Keep one CMD and at most one ENTRYPOINT per stage.",
      refs=["trivy:DS-0016", "trivy:DS-0007", "hadolint:DL4003", "hadolint:DL4004"])
def several_commands(ctx: Context, build: Build) -> Iterator[Hit]:
    """Only the last CMD / ENTRYPOINT of a stage takes effect; earlier ones mislead reviewers
    about what the container runs."""
    for ins, count in _duplicates(build, "CMD", "ENTRYPOINT"):
        yield hit(ins.loc, f"this {ins.keyword} is overridden by a later one ({count} in the stage)")


@rule(id="MAM-BUILD-021", title="Several HEALTHCHECK instructions in a stage", severity=Severity.LOW,
      controls=["CSA-3.1.11.1"], scope=Scope.BUILD, sources=DF,
      remediation="Keep a single HEALTHCHECK per stage.",
      refs=["trivy:DS-0023", "hadolint:DL3012"])
def several_healthchecks(ctx: Context, build: Build) -> Iterator[Hit]:
    """Only the last HEALTHCHECK applies; the others suggest checks that never run."""
    for ins, count in _duplicates(build, "HEALTHCHECK"):
        yield hit(ins.loc, f"this HEALTHCHECK is overridden by a later one ({count} in the stage)")


_MANAGER_FILES = {"apt-get": ("/usr/bin/apt", "/usr/bin/dpkg", "/var/lib/dpkg"), "apk": ("/sbin/apk",),
                  "yum": ("/usr/bin/yum", "/usr/bin/rpm"), "dnf": ("/usr/bin/dnf", "/usr/bin/rpm"),
                  "microdnf": ("/usr/bin/microdnf", "/usr/bin/rpm"), "zypper": ("/usr/bin/zypper", "/usr/bin/rpm")}
_MANAGER_PKGS = {"apt-get": ("apt", "dpkg"), "apk": ("apk-tools",), "yum": ("yum", "rpm"), "dnf": ("dnf", "rpm"),
                 "microdnf": ("microdnf", "rpm"), "zypper": ("zypper", "rpm")}


def _family(prog: str) -> str:
    return {"apt": "apt-get", "aptitude": "apt-get"}.get(prog, prog)


@rule(id="MAM-BUILD-022", title="Package manager kept in the runtime image", severity=Severity.INFO,
      controls=[IMG, MIN], scope=Scope.BUILD, sources=DF, default_enabled=False,
      remediation="Install what the runtime needs in a builder stage and copy it into a distroless or "
                  "scratch runtime stage, or remove the package manager at the end of the final stage.")
def package_manager_kept(ctx: Context, build: Build) -> Iterator[Hit]:
    """A multi-stage build signals a slim runtime stage; if that stage still installs packages
    and keeps the package manager, anyone inside the container can add tools. Off by default:
    most images legitimately keep one."""
    final = build.final
    if final is None or len(build.stages) < 2 or final.base.value is None:
        return
    if re.search(r"distroless|scratch|chainguard", final.base.value.repository):
        return
    last: Step | None = None
    removed: set[str] = set()
    for step in steps(build, {final.index}):
        family = _family(step.prog)
        if family in _PKG_ADD and _sub(step, _PKG_ARG) in _PKG_ADD.get(step.prog, ()):
            last = step
        words = operands(step.argv[1:], _PKG_ARG)
        for fam, pkgs in _MANAGER_PKGS.items():
            if _family(step.prog) in ("apt-get", "apk", "yum", "dnf", "microdnf", "zypper", "rpm", "dpkg") and \
                    words[:1] and words[0] in ("purge", "remove", "del", "erase", "-e", "--purge") and \
                    any(p in words[1:] for p in pkgs):
                removed.add(fam)
            if _removes(step, *_MANAGER_FILES[fam]):
                removed.add(fam)
        if step.prog in ("rpm", "dpkg") and any(a in ("-e", "--erase", "--purge", "-P", "-r") for a in step.argv):
            for fam, pkgs in _MANAGER_PKGS.items():
                if any(p in step.argv for p in pkgs):
                    removed.add(fam)
    if last is not None and _family(last.prog) not in removed:
        yield hit(last.command.loc, f"the runtime stage installs packages with `{last.prog}` and keeps the "
                                    "package manager in the image")
