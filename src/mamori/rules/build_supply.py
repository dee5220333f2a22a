"""CSA-3.1.6.4, 3.1.2.2, 3.1.3.1: what enters the image during the build is verified and identifiable.

Every stage counts here, builder stages included: what they download is copied into the
final image. ``ONBUILD RUN`` triggers are checked too, since they run in every child build.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from mamori.model import Build, Instruction, Severity, SourceKind
from mamori.rules.build_common import (
    Step,
    basename,
    has_option,
    operands,
    option_values,
    redact,
    short_cluster_has,
    show,
    steps,
    steps_of,
)
from mamori.rules.registry import Context, Hit, Scope, hit, rule
from mamori.sources.shell import SHELLS

DF = [SourceKind.DOCKERFILE]

_DOWNLOADERS = frozenset({"curl", "wget", "fetch", "aria2c", "http", "https", "lwp-request", "GET"})
_INTERPRETERS = SHELLS | frozenset({"python", "python2", "python3", "perl", "ruby", "node", "nodejs", "php",
                                    "pwsh", "powershell", "bun", "deno", "lua", "tclsh", "fish"})
_PASS_THROUGH = frozenset({"tee", "cat", "gunzip", "zcat", "base64", "sed", "tr", "dos2unix", "gzip", "xz",
                           "bunzip2", "head", "tail"})
_DOWNLOAD_SUB = re.compile(r"(?:\$\(|<\(|`)\s*(?:\S*/)?(?:curl|wget|fetch)\b")


def _interpreter(prog: str) -> bool:
    return prog in _INTERPRETERS or bool(re.fullmatch(r"python[\d.]*|perl[\d.]*|ruby[\d.]*|php[\d.]*", prog))


def _piped_chain(step: Step, all_steps: list[Step]) -> Step | None:
    """The program that finally receives a download's output through pass-through filters."""
    cur = step
    idx = all_steps.index(step)
    for _ in range(6):
        target = cur.command.piped_to
        if not target:
            return None
        nxt = next((s for s in all_steps[idx + 1 :] if s.command.argv == target), None)
        if nxt is None:
            return None
        if _interpreter(nxt.prog):
            return nxt
        if nxt.prog not in _PASS_THROUGH:
            return None
        idx = all_steps.index(nxt)
        cur = nxt
    return None


@rule(id="MAM-BUILD-001", title="Remote script piped into an interpreter", severity=Severity.HIGH,
      controls=["CSA-3.1.6.4", "CSA-3.1.2.2"], scope=Scope.BUILD, sources=DF,
      remediation="Download the script or archive to a file, verify its checksum or signature "
                  "(`echo \"<sha256>  file\" | sha256sum -c -`), then run it; better, install a packaged, "
                  "signed release.")
def remote_script(ctx: Context, build: Build) -> Iterator[Hit]:
    """``curl ... | sh`` runs whatever the server (or anyone on the path) returns at build time,
    unverified and unrecorded: the image content is no longer reviewable or reproducible."""
    for ins in _runs(build):
        all_steps = list(steps_of(ins))
        reported: set[int] = set()  # one finding per line: `sh -c "$(curl ...)"` is one problem
        for step in all_steps:
            message = None
            if step.prog in _DOWNLOADERS and step.command.piped_to:
                target = _piped_chain(step, all_steps)
                if target is not None:
                    message = f"`{show(step.command.argv)} | {show(target.command.argv)}` runs a downloaded script"
            if message is None and (_interpreter(step.prog) or step.prog in ("eval", "source", ".")):
                if any(_DOWNLOAD_SUB.search(a) for a in step.argv[1:]):
                    message = f"`{show(step.command.argv)}` runs a downloaded script"
            elif message is None and _DOWNLOAD_SUB.match(step.argv[0]):
                message = f"`{show(step.command.argv)}` executes downloaded content"
            if message is not None and step.command.loc.line not in reported:
                reported.add(step.command.loc.line)
                yield hit(step.command.loc, message + " without verifying it")


def _runs(build: Build) -> Iterator[Instruction]:
    for ins in build.instructions:
        if ins.keyword == "RUN" or (ins.keyword == "ONBUILD" and ins.argv[:1] == ("RUN",)):
            yield ins


@rule(id="MAM-BUILD-002", title="sudo used in a build step", severity=Severity.MEDIUM, controls=["CSA-3.1.2.3"],
      scope=Scope.BUILD, sources=DF,
      remediation="Build steps already run as the current USER: switch with `USER root` ... `USER app` around "
                  "the steps that need root instead of calling sudo, and do not install sudo in the image.",
      refs=["trivy:DS-0010", "checkov:CKV2_DOCKER_1", "hadolint:DL3004", "dockle:DKL-DI-0001"])
def sudo_in_run(ctx: Context, build: Build) -> Iterator[Hit]:
    """sudo in an image means a setuid-root path to privilege that a container never needs;
    in a RUN step it hides which steps need root and behaves unpredictably without a TTY."""
    for ins in _runs(build):
        for cmd in ins.commands:
            if cmd.argv and basename(cmd.argv[0]) == "sudo":
                yield hit(cmd.loc, f"`{show(cmd.argv)}` uses sudo")


# --- TLS verification ---------------------------------------------------------------------------------------------

_CURL_ARG = frozenset({"-o", "-H", "-d", "-u", "-X", "-A", "-e", "-x", "-w", "-T", "-F", "-b", "-c", "-m", "-r",
                       "-E", "-K", "-U", "-Y", "-y", "-z", "-C", "-D", "-P", "-Q", "-t", "--output", "--header",
                       "--data", "--user", "--request", "--url", "--cert", "--key", "--cacert", "--proxy",
                       "--config", "--write-out", "--max-time", "--connect-timeout", "--retry"})
_FALSE = r"(?:0|false|no|off)"
_ENV_TLS: dict[str, str] = {
    # variable -> regex its value must match for verification to be off
    "GIT_SSL_NO_VERIFY": r".+",
    "NODE_TLS_REJECT_UNAUTHORIZED": r"0",
    "PYTHONHTTPSVERIFY": r"0",
    "NPM_CONFIG_STRICT_SSL": r"false",
    "YARN_ENABLE_STRICT_SSL": r"false|0",
    "PIP_TRUSTED_HOST": r".+",
    "GOINSECURE": r".+",
    "GOFLAGS": r".*-insecure\b.*",
}
_ENV_REFS_NOTE = "GIT_SSL_NO_VERIFY, NODE_TLS_REJECT_UNAUTHORIZED, PYTHONHTTPSVERIFY, npm strict-ssl, PIP_TRUSTED_HOST"
_RUN_ASSIGN = re.compile(
    r"(?:^|[\s;&|(])(?:export\s+)?(" + "|".join(_ENV_TLS) + r"|npm_config_strict_ssl)=(\"[^\"]*\"|'[^']*'|[^\s;&|]*)",
    re.I)
_SSLVERIFY_TEXT = re.compile(r"(?i)(?:\b|(?<=\\n))sslverify\s*=\s*[\"']?" + _FALSE + r"\b")


def _tls_off(step: Step) -> str | None:
    """Why this command skips TLS certificate verification, or None."""
    argv, prog = step.argv, step.prog
    args = argv[1:]
    if prog == "curl" and (has_option(args, "--insecure") or short_cluster_has(args, "k", _CURL_ARG)):
        return "curl -k/--insecure"
    if prog == "wget" and has_option(args, "--no-check-certificate"):
        return "wget --no-check-certificate"
    if _is_pip(argv) and (has_option(args, "--trusted-host") or _pip_config_trusted(args)):
        return "pip --trusted-host"
    if prog == "git":
        for value in option_values(args, "-c"):
            key, _, val = value.partition("=")
            if re.fullmatch(r"(?i)http(\..+)?\.sslverify", key) and re.fullmatch(_FALSE, val, re.I):
                return "git -c http.sslVerify=false"
        words = operands(args, frozenset({"-c", "-C", "--file", "-f"}))
        if len(words) >= 3 and words[0] == "config" and re.fullmatch(r"(?i)http(\..+)?\.sslverify", words[1]) \
                and re.fullmatch(_FALSE, words[2], re.I):
            return "git config http.sslVerify false"
    if prog in ("npm", "yarn", "pnpm"):
        text = " ".join(args)
        if re.search(r"(?i)\b(?:c|config)?\s*set\s+[\"']?(?:strict-ssl|enableStrictSsl)[\"']?(?:\s+|=)[\"']?false",
                     text) or "--strict-ssl=false" in args:
            return f"{prog} strict-ssl false"
    if prog in ("yum", "dnf", "microdnf", "yum-config-manager", "dnf-3", "tdnf"):
        for value in option_values(args, "--setopt"):
            if re.fullmatch(r"(?i)(?:[\w.*-]+\.)?sslverify=[\"']?" + _FALSE + r"[\"']?", value):
                return f"{prog} --setopt sslverify={value.split('=', 1)[1]}"
    if any(a == "--insecure-skip-tls-verify" or a.startswith("--insecure-skip-tls-verify=true") for a in args):
        return f"{prog} --insecure-skip-tls-verify"
    if prog in ("podman", "skopeo", "buildah", "crane", "oras") and (
            any(re.fullmatch(r"--(?:src-|dest-)?tls-verify=false", a) for a in args) or "--insecure" in args):
        return f"{prog} with TLS verification off"
    if prog == "composer":
        words = operands(args)
        if len(words) >= 3 and words[0] == "config" and (
                (words[1] == "secure-http" and words[2] == "false") or (words[1] == "disable-tls" and
                                                                         words[2] == "true")):
            return f"composer config {words[1]} {words[2]}"
    return None


def _is_pip(argv: tuple[str, ...]) -> bool:
    prog = basename(argv[0])
    if re.fullmatch(r"pip[\d.]*", prog):
        return True
    return bool(re.fullmatch(r"python[\d.]*", prog)) and "-m" in argv and argv[argv.index("-m") + 1:][:1] == ("pip",)


def _pip_config_trusted(args: tuple[str, ...]) -> bool:
    words = operands(args)
    return len(words) >= 3 and words[0] == "config" and words[1] == "set" and words[2].endswith("trusted-host")


def _env_tls(name: str, value: str) -> bool:
    pattern = next((p for k, p in _ENV_TLS.items() if k == name.upper()), None)
    if pattern is None:
        return False
    return bool(re.fullmatch(pattern, value.strip().strip("'\""), re.I)) and value.strip().strip("'\"") != ""


@rule(id="MAM-BUILD-003", title="TLS certificate verification disabled in the build", severity=Severity.HIGH,
      controls=["CSA-3.1.2.2", "CSA-3.1.4.1"], scope=Scope.BUILD, sources=DF,
      remediation="Keep certificate verification on; if a private CA signs the mirror, add its certificate to "
                  "the trust store (`COPY ca.crt /usr/local/share/ca-certificates/` + `update-ca-certificates`) "
                  "or point the tool at it (`--cacert`, `PIP_CERT`, `npm config set cafile`).",
      refs=["checkov:CKV2_DOCKER_2", "checkov:CKV2_DOCKER_3", "checkov:CKV2_DOCKER_4", "checkov:CKV2_DOCKER_5",
            "checkov:CKV2_DOCKER_6", "checkov:CKV2_DOCKER_12", "checkov:CKV2_DOCKER_13", "checkov:CKV2_DOCKER_14",
            "checkov:CKV2_DOCKER_15", "checkov:CKV2_DOCKER_16", "checkov:CKV2_DOCKER_18"])
def tls_disabled(ctx: Context, build: Build) -> Iterator[Hit]:
    """Without certificate verification anyone on the network path can substitute the
    packages and scripts the build downloads. Covers curl -k, wget --no-check-certificate,
    pip --trusted-host, git http.sslVerify, npm/yarn strict-ssl, yum/dnf sslverify, and the
    variables that switch verification off (in ENV, ARG or a RUN step) - the union of
    Checkov's CKV2_DOCKER_2..6, 12..16 and 18."""
    for ins in build.instructions:
        if ins.keyword in ("ENV", "ARG"):
            for pair in ins.argv:
                name, eq, value = pair.partition("=")
                if eq and _env_tls(name, value):
                    yield hit(ins.loc, f"{ins.keyword} {name} switches TLS certificate verification off")
            continue
        if ins.keyword not in ("RUN", "ONBUILD"):
            continue
        found = False
        for step in steps_of(ins):
            why = _tls_off(step)
            if why:
                found = True
                yield hit(step.command.loc, f"`{show(step.command.argv)}` disables TLS verification ({why})")
        text = ins.args + "\n" + (ins.heredoc or "")
        for m in _RUN_ASSIGN.finditer(text):
            if _env_tls(m.group(1), m.group(2)):
                found = True
                yield hit(ins.loc, f"RUN sets {m.group(1)} and so switches TLS certificate verification off")
        if not found and _SSLVERIFY_TEXT.search(text):
            yield hit(ins.loc, "RUN writes `sslverify` off into a package manager configuration")


# --- package signatures -------------------------------------------------------------------------------------------

_APT = frozenset({"apt-get", "apt", "aptitude"})
_RPM_MANAGERS = frozenset({"yum", "dnf", "microdnf", "tdnf", "dnf-3", "yum-config-manager"})
_APT_CONF_TEXT = re.compile(r"(?i)(?:AllowUnauthenticated|AllowInsecureRepositories|"
                            r"AllowDowngradeToInsecureRepositories)\s*\"?(?:=|\s)\s*\"?(?:true|1|yes)\b")
_TRUSTED_YES = re.compile(r"(?i)\[[^\]\n]*\btrusted=yes\b[^\]\n]*\](?!\s*file:)")
_GPGCHECK_TEXT = re.compile(r"(?i)(?:\b|(?<=\\n))(?:repo_|localpkg_)?gpgcheck\s*=\s*[\"']?" + _FALSE + r"\b")


def _signatures_off(step: Step) -> str | None:
    prog, args = step.prog, step.argv[1:]
    if prog == "apk" and has_option(args, "--allow-untrusted") and \
            (operands(args, _APK_ARG)[:1] or ["add"])[0] in ("add", "fix", "upgrade"):
        return "apk --allow-untrusted"
    if prog in _APT:
        for opt in ("--allow-unauthenticated", "--force-yes", "--allow-insecure-repositories"):
            if has_option(args, opt):
                return f"{prog} {opt}"
        for value in option_values(args, "-o", "--option"):
            if _APT_CONF_TEXT.search(value):
                return f"{prog} -o {value}"
    if prog in _RPM_MANAGERS or prog == "rpm":
        if has_option(args, "--nogpgcheck"):
            return f"{prog} --nogpgcheck"
        for value in option_values(args, "--setopt"):
            if re.fullmatch(r"(?i)(?:[\w.*-]+\.)?(?:localpkg_|repo_)?gpgcheck=[\"']?" + _FALSE + r"[\"']?", value):
                return f"{prog} --setopt {value}"
    if prog == "rpm":
        for opt in ("--nosignature", "--nodigest", "--noverify", "--nofiledigest"):
            if has_option(args, opt):
                return f"rpm {opt}"
    if prog == "zypper" and has_option(args, "--no-gpg-checks"):
        return "zypper --no-gpg-checks"
    if prog == "dpkg" and any(a.startswith("--force-bad-verify") for a in args):
        return "dpkg --force-bad-verify"
    return None


@rule(id="MAM-BUILD-004", title="Package signature verification disabled", severity=Severity.HIGH,
      controls=["CSA-3.1.6.4", "CSA-3.1.8.1"], scope=Scope.BUILD, sources=DF,
      remediation="Remove the option; import the repository's signing key (`signed-by=` keyring, `rpm --import`, "
                  "`/etc/apk/keys`) so packages are verified.",
      refs=["checkov:CKV2_DOCKER_7", "checkov:CKV2_DOCKER_8", "checkov:CKV2_DOCKER_9", "checkov:CKV2_DOCKER_10",
            "checkov:CKV2_DOCKER_11"])
def signatures_disabled(ctx: Context, build: Build) -> Iterator[Hit]:
    """Package signatures are the chain of trust from the distribution to the image; an
    unsigned or unverified package can be anything. Covers apk --allow-untrusted, apt
    --allow-unauthenticated / --force-yes / AllowUnauthenticated / ``[trusted=yes]``, yum/dnf
    --nogpgcheck and gpgcheck=0, rpm --nosignature/--nodigest, zypper --no-gpg-checks."""
    for ins in _runs(build):
        found = False
        for step in steps_of(ins):
            why = _signatures_off(step)
            if why:
                found = True
                yield hit(step.command.loc, f"`{show(step.command.argv)}` installs packages without verifying "
                                            f"signatures ({redact(why)})")
        if found:
            continue
        text = ins.args + "\n" + (ins.heredoc or "")
        if _APT_CONF_TEXT.search(text):
            yield hit(ins.loc, "RUN writes an apt setting that accepts unauthenticated packages")
        elif _TRUSTED_YES.search(text):
            yield hit(ins.loc, "RUN adds an apt source marked [trusted=yes]: its packages are not verified")
        elif _GPGCHECK_TEXT.search(text):
            yield hit(ins.loc, "RUN writes gpgcheck off into a yum/dnf repository definition")
    for ins in build.instructions:
        if ins.keyword == "COPY" and ins.heredoc and (_TRUSTED_YES.search(ins.heredoc) or
                                                      _GPGCHECK_TEXT.search(ins.heredoc) or
                                                      _APT_CONF_TEXT.search(ins.heredoc)):
            yield hit(ins.loc, "COPY writes a package source or setting that turns signature checks off")


# --- version pinning ----------------------------------------------------------------------------------------------

_APT_ARG = frozenset({"-o", "--option", "-t", "--target-release", "-c", "--config-file", "-a", "--host-architecture"})
_APK_ARG = frozenset({"-t", "--virtual", "-X", "--repository", "-p", "--root", "--arch", "--cache-dir",
                      "--keys-dir", "--repositories-file"})
_PIP_ARG = frozenset({"-r", "--requirement", "-c", "--constraint", "-e", "--editable", "-i", "--index-url",
                      "--extra-index-url", "-f", "--find-links", "-t", "--target", "--prefix", "--root", "--src",
                      "--platform", "--python-version", "--implementation", "--abi", "--trusted-host",
                      "--progress-bar", "--upgrade-strategy", "--no-binary", "--only-binary", "--proxy", "--cert",
                      "--client-cert", "--cache-dir", "--log", "--timeout", "--retries", "--exists-action",
                      "-C", "--config-settings", "--global-option", "--install-option", "--build-option",
                      "--python", "--report", "--root-user-action"})
_NPM_ARG = frozenset({"--prefix", "--registry", "--cache", "--userconfig", "--tag", "-w", "--workspace",
                      "--omit", "--include", "--loglevel"})
_GEM_ARG = frozenset({"-i", "--install-dir", "-n", "--bindir", "-s", "--source", "-p", "--http-proxy",
                      "--platform", "-P", "--trust-policy", "--build-root", "--document"})
_RPM_ARG = frozenset({"--setopt", "--enablerepo", "--disablerepo", "--repo", "--installroot", "--releasever",
                      "-c", "--config", "--exclude", "-x", "--forcearch", "--repofrompath", "--nodocs-x"})
_ZYPPER_ARG = frozenset({"-t", "--type", "-r", "--repo", "--from", "--root", "-R"})
_PIP_VERSION = ("==", ">=", "<=", "~=", "!=", "<", ">", "===", " @ ", "@")
_VCS = ("git+", "hg+", "svn+", "bzr+")


def _unknown(word: str) -> bool:
    return "$" in word or "`" in word


def _first(args: tuple[str, ...], with_arg: frozenset[str]) -> tuple[str | None, list[str]]:
    words = operands(args, with_arg)
    return (words[0] if words else None), words[1:]


def _unpinned(step: Step) -> tuple[str, list[str]] | None:
    """(manager, unpinned packages) when the command installs packages without a version."""
    prog, args = step.prog, step.argv[1:]
    if prog in _APT:
        sub, pkgs = _first(args, _APT_ARG)
        if sub == "install":
            bad = [p for p in pkgs if not _unknown(p) and "=" not in p and "/" not in p and not p.endswith(".deb")]
            return (prog, bad) if bad else None
    elif prog == "apk":
        sub, pkgs = _first(args, _APK_ARG)
        if sub == "add":
            bad = [p for p in pkgs if not _unknown(p) and "=" not in p and "~" not in p and not p.endswith(".apk")]
            return ("apk", bad) if bad else None
    elif _is_pip(step.argv):
        rest = args[args.index("pip") + 1:] if "pip" in args and not re.fullmatch(r"pip[\d.]*", prog) else args
        sub, pkgs = _first(rest, _PIP_ARG)
        if sub == "install" and not has_option(rest, "-r", "--requirement", "-c", "--constraint"):
            bad = [p for p in pkgs if not _unknown(p) and not _pip_pinned(p)]
            return ("pip", bad) if bad else None
    elif prog == "npm":
        sub, pkgs = _first(args, _NPM_ARG)
        if sub in ("install", "i", "add"):
            bad = [p for p in pkgs if not _unknown(p) and not _npm_pinned(p)]
            return ("npm", bad) if bad else None
    elif prog == "gem":
        sub, pkgs = _first(args, _GEM_ARG)
        if sub in ("install", "i") and not has_option(args, "-v", "--version"):
            bad = [p for p in pkgs if not _unknown(p) and ":" not in p and not p.endswith(".gem")]
            return ("gem", bad) if bad else None
    elif prog in ("yum", "dnf", "microdnf", "tdnf"):
        sub, pkgs = _first(args, _RPM_ARG)
        words = operands(args, _RPM_ARG)
        if sub == "module" and len(words) > 1 and words[1] == "install":
            bad = [p for p in words[2:] if not _unknown(p) and ":" not in p]
            return (prog, bad) if bad else None
        if sub == "install":
            bad = [p for p in pkgs if not _unknown(p) and not _rpm_pinned(p)]
            return (prog, bad) if bad else None
    elif prog == "zypper":
        sub, pkgs = _first(args, _ZYPPER_ARG)
        if sub in ("install", "in"):
            bad = [p for p in pkgs if not _unknown(p) and not re.search(r"[=<>]", p) and not p.endswith(".rpm")]
            return ("zypper", bad) if bad else None
    elif prog == "go":
        sub, pkgs = _first(args, frozenset({"-C", "-o", "-p", "-tags", "-ldflags", "-gcflags", "-mod"}))
        if sub == "install":
            bad = [p for p in pkgs if not _unknown(p) and not p.startswith((".", "/"))
                   and ("@" not in p or p.endswith("@latest"))]
            return ("go", bad) if bad else None
    return None


def _pip_pinned(p: str) -> bool:
    if p.startswith(_VCS):
        return "@" in p.split("://", 1)[-1]
    if p in (".", "..") or p.startswith(("./", "../", "/", "file:")) or p.endswith((".whl", ".tar.gz", ".zip")):
        return True
    if "/" in p and "://" not in p:
        return True
    return any(s in p for s in _PIP_VERSION)


def _npm_pinned(p: str) -> bool:
    if p.startswith(("git://", "git+ssh://", "git+http://", "git+https://", "github:")):
        return "#" in p
    if p.endswith((".tar", ".tar.gz", ".tgz")) or p.startswith(("/", "./", "../", "~/", "file:")):
        return True
    bare = p.split("/", 1)[1] if p.startswith("@") and "/" in p else p
    if "@" not in bare:
        return False
    return bare.rsplit("@", 1)[1] not in ("", "latest", "next")


def _rpm_pinned(p: str) -> bool:
    """hadolint DL3041's reading: ``name-<version>`` where the version part starts with a digit."""
    if p.endswith(".rpm"):
        return True
    if re.search(r"[<>=]", p):
        return True
    parts = p.split("-")
    if len(parts) <= 1:
        return False
    tail = parts[1:]
    return all(re.fullmatch(r"[A-Za-z0-9.~^_:+]+", t) for t in tail) and any(t[:1].isdigit() for t in tail)


@rule(id="MAM-BUILD-005", title="Package installed without a pinned version", severity=Severity.LOW,
      controls=["CSA-3.1.3.1"], scope=Scope.BUILD, sources=DF,
      remediation="Pin versions (`apt-get install curl=8.5.0-2`, `apk add curl=8.5.0-r0`, `pip install x==1.2`, "
                  "`npm install x@1.2.3`, `gem install x -v 1.2`, `dnf install x-1.2`) or install from a lock "
                  "file (`pip install -r requirements.txt`, `npm ci`).",
      refs=["hadolint:DL3008", "hadolint:DL3018", "hadolint:DL3013", "hadolint:DL3016", "hadolint:DL3028",
            "hadolint:DL3033", "hadolint:DL3037", "hadolint:DL3041"])
def unpinned_packages(ctx: Context, build: Build) -> Iterator[Hit]:
    """Without versions, two builds of the same Dockerfile contain different software; the
    image's version no longer identifies what is inside it. Package lists held in
    variables (``$BUILD_DEPS``) are not judged."""
    for step in steps(build, onbuild=True):
        found = _unpinned(step)
        if found is None:
            continue
        manager, pkgs = found
        shown = ", ".join(redact(p) for p in pkgs[:5]) + (f" and {len(pkgs) - 5} more" if len(pkgs) > 5 else "")
        yield hit(step.command.loc, f"`{manager}` installs {shown} without a version")


# --- base images and remote sources -------------------------------------------------------------------------------


@rule(id="MAM-BUILD-006", title="Base image tag is latest or missing", severity=Severity.MEDIUM,
      controls=["CSA-3.1.3.1"], scope=Scope.BUILD, sources=DF,
      remediation="Name an exact base version, ideally with its digest: `FROM python:3.12.4-slim@sha256:...`.",
      refs=["trivy:DS-0001", "checkov:CKV_DOCKER_7", "hadolint:DL3006", "hadolint:DL3007"])
def floating_base(ctx: Context, build: Build) -> Iterator[Hit]:
    """A floating base (``FROM node`` or ``:latest``) changes under the same Dockerfile, so the
    built image's version says nothing about its operating system and libraries. Every
    stage's external base counts (builder stages shape the output too); stage aliases,
    ``scratch`` and bases set by an unresolved build argument are not judged."""
    for stage in build.stages:
        ref = stage.base.value
        if ref is None or not ref.floating:
            continue
        why = "the `latest` tag" if ref.tag == "latest" else "no tag"
        yield hit(stage.base, f"FROM {redact(ref.raw)} uses {why}")


_URL = re.compile(r"^(?:https?|ftp)://", re.I)
_GIT = re.compile(r"^(?:git@|git://|ssh://|https?://\S+\.git(?:#|$))", re.I)


def _add_sources(ins: Instruction) -> list[str]:
    if len(ins.argv) < 2:
        return []
    return [s for s in ins.argv[:-1] if not s.startswith("<<")]


@rule(id="MAM-BUILD-007", title="ADD downloads a remote file without a checksum", severity=Severity.MEDIUM,
      controls=["CSA-3.1.6.4"], scope=Scope.BUILD, sources=DF,
      remediation="Add `--checksum=sha256:<digest>` to the ADD (BuildKit), pin git sources to a commit, or "
                  "download in a RUN step and verify the checksum before use.")
def add_remote(ctx: Context, build: Build) -> Iterator[Hit]:
    """``ADD <url>`` puts whatever the server returns into the image, unverified; a git source
    at a branch or tag can move. With ``--checksum`` (or a commit id) the build fails when
    the content changes."""
    for ins in build.instructions:
        if ins.keyword != "ADD" or any(f.startswith("--checksum=") for f in ins.flags):
            continue
        for src in _add_sources(ins):
            if _GIT.match(src):
                ref = src.split("#", 1)[1] if "#" in src else ""
                if not re.fullmatch(r"[0-9a-f]{40}(?::.*)?", ref.split(":", 1)[0] if ref else ""):
                    yield hit(ins.loc, f"ADD {redact(src)} fetches a git source that is not pinned to a commit")
            elif _URL.match(src):
                yield hit(ins.loc, f"ADD {redact(src)} downloads a file without --checksum")
