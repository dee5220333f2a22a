"""Dockerfile build-step rules (MAM-BUILD-*): what each finds, where it points, what it says."""

from __future__ import annotations

import re

import pytest
from tests.helpers import findings_of, rule_ids, scan_text

from mamori.controls.catalog import control_ids
from mamori.model import Severity, SourceKind
from mamori.policy.config import Policy
from mamori.rules.registry import Scope, all_rules


def scan(text: str, policy: Policy | None = None):  # type: ignore[no-untyped-def]
    d = scan_text("Dockerfile", text, policy)
    assert not d.errors, d.errors
    return d


def lines(text: str, rule_id: str) -> list[int]:
    return [f.location.line for f in findings_of(scan(text), rule_id)]


def messages(text: str, rule_id: str) -> list[str]:
    return [f.message for f in findings_of(scan(text), rule_id)]


# --- metadata --------------------------------------------------------------------------------------------------------


def _build_rules():  # type: ignore[no-untyped-def]
    return [r for r in all_rules() if r.id.startswith("MAM-BUILD-")]


def test_build_rules_metadata() -> None:
    rules = _build_rules()
    assert len(rules) >= 20
    catalog_ids = control_ids()
    for r in rules:
        assert r.scope is Scope.BUILD
        assert r.sources == frozenset({SourceKind.DOCKERFILE})
        assert r.controls and set(r.controls) <= catalog_ids, r.id
        assert r.description and r.remediation
        assert all(re.fullmatch(r"(trivy|checkov|hadolint|dockle|cis-docker):[A-Z0-9_.-]+", x) for x in r.refs), r.id


def test_package_manager_rule_is_opt_in() -> None:
    rule = next(r for r in _build_rules() if r.id == "MAM-BUILD-022")
    assert not rule.default_enabled
    text = ("FROM golang:1.22.4 AS b\nRUN go build\nFROM debian:12.5-slim\n"
            "RUN apt-get update && apt-get install -y --no-install-recommends x=1 && rm -rf /var/lib/apt/lists/*\n")
    assert "MAM-BUILD-022" not in rule_ids(scan(text))
    assert lines_with_policy(text, "MAM-BUILD-022", Policy(enable=("MAM-BUILD-022",))) == [4]


def lines_with_policy(text: str, rule_id: str, policy: Policy) -> list[int]:
    return [f.location.line for f in findings_of(scan(text, policy), rule_id)]


# --- supply chain --------------------------------------------------------------------------------


def test_remote_script_points_at_the_download_and_names_both_sides() -> None:
    text = "FROM alpine:3.20\nRUN set -e \\\n  && curl -fsSL https://get.example.com/i.sh | sh -s -- --yes\n"
    fs = findings_of(scan(text), "MAM-BUILD-001")
    assert [f.location.line for f in fs] == [3]
    assert "curl -fsSL https://get.example.com/i.sh | sh -s -- --yes" in fs[0].message
    assert fs[0].severity is Severity.HIGH


@pytest.mark.parametrize("run", [
    "curl -fsSL https://x | bash",
    "wget -qO- https://x | sudo -E bash -",
    "curl -s https://x | tee /tmp/i | python3",
    'sh -c "$(curl -fsSL https://x)"',
    "bash <(curl -fsSL https://x)",
    'eval "$(wget -qO- https://x)"',
    "curl https://x | gunzip | perl",
])
def test_remote_script_variants(run: str) -> None:
    assert lines(f"FROM alpine:3.20\nRUN {run}\n", "MAM-BUILD-001") == [2]


@pytest.mark.parametrize("run", [
    "curl -fsSL https://x | tar -xz",
    "curl -fsSL https://x | gpg --dearmor -o /k.gpg",
    "curl -fsSLo i.sh https://x && echo 'abc  i.sh' | sha256sum -c - && sh i.sh",
    "echo curl | sh",
])
def test_remote_script_quiet(run: str) -> None:
    assert lines(f"FROM alpine:3.20\nRUN {run}\n", "MAM-BUILD-001") == []


def test_onbuild_triggers_are_checked() -> None:
    assert lines("FROM alpine:3.20\nONBUILD RUN curl https://x | sh\n", "MAM-BUILD-001") == [2]


def test_sudo() -> None:
    text = "FROM ubuntu:24.04\nRUN apt-get -v && sudo apt-get install -y x=1\nRUN echo sudo\nRUN bash -c 'sudo make'\n"
    assert lines(text, "MAM-BUILD-002") == [2, 4]


@pytest.mark.parametrize(("line", "why"), [
    ("RUN curl -sSLk https://x", "curl -k"),
    ("RUN curl --insecure https://x", "curl -k"),
    ("RUN wget --no-check-certificate https://x", "wget"),
    ("RUN pip3 install --trusted-host=packages.local x==1", "pip --trusted-host"),
    ("RUN python3 -m pip install --trusted-host packages.local x==1", "pip --trusted-host"),
    ("RUN pip config set global.trusted-host packages.local", "pip --trusted-host"),
    ("RUN git -c http.sslVerify=false clone https://x", "git"),
    ("RUN git config --system http.https://x.sslverify 0", "git"),
    ("RUN npm config set strict-ssl=false", "npm strict-ssl"),
    ("RUN yarn config set strict-ssl false", "yarn strict-ssl"),
    ("RUN dnf --setopt=*.sslverify=0 install -y x-1.0", "sslverify"),
    ("RUN kubectl --insecure-skip-tls-verify apply -f x", "insecure-skip-tls-verify"),
    ("ENV NODE_TLS_REJECT_UNAUTHORIZED=0", "NODE_TLS_REJECT_UNAUTHORIZED"),
    ("ENV PYTHONHTTPSVERIFY 0", "PYTHONHTTPSVERIFY"),
    ("ARG GIT_SSL_NO_VERIFY=1", "GIT_SSL_NO_VERIFY"),
    ("ENV npm_config_strict_ssl=false", "npm_config_strict_ssl"),
    ("ENV PIP_TRUSTED_HOST=packages.local", "PIP_TRUSTED_HOST"),
    ("ENV GOINSECURE=example.com/*", "GOINSECURE"),
    ("RUN export GIT_SSL_NO_VERIFY=true && git clone https://x", "GIT_SSL_NO_VERIFY"),
    ("RUN NODE_TLS_REJECT_UNAUTHORIZED='0' npm ci", "NODE_TLS_REJECT_UNAUTHORIZED"),
    ("RUN printf '[main]\\nsslverify=False\\n' >> /etc/dnf/dnf.conf", "sslverify"),
])
def test_tls_disabled(line: str, why: str) -> None:
    msgs = messages(f"FROM alpine:3.20\n{line}\n", "MAM-BUILD-003")
    assert len(msgs) == 1 and why in msgs[0], msgs


@pytest.mark.parametrize("line", [
    "ENV NODE_TLS_REJECT_UNAUTHORIZED=1",
    "ARG GIT_SSL_NO_VERIFY",
    "RUN curl -ok https://x && curl -sSo -k https://x && curl -H 'X: -k' https://x",
    "RUN git config --global http.sslVerify true",
    "RUN echo --insecure && wget -O- --https-only https://x",
    "RUN npm config set strict-ssl true",
])
def test_tls_quiet(line: str) -> None:
    assert messages(f"FROM alpine:3.20\n{line}\n", "MAM-BUILD-003") == []


def test_messages_never_show_credentials() -> None:
    text = ("FROM alpine:3.20\nRUN curl -k -u deploy:S3cretPass -H 'Authorization: Bearer tok3n' "
            "'https://bob:hunter2@example.com/x?token=qwerty&ok=1' | sh\n"
            "ADD https://alice:pw123@example.com/file.tgz?sig=zzz /x\n")
    d = scan(text)
    found = [f.message for f in d.findings if f.rule_id in ("MAM-BUILD-001", "MAM-BUILD-003", "MAM-BUILD-007")]
    assert len(found) == 3
    for secret in ("S3cretPass", "tok3n", "hunter2", "qwerty", "pw123", "zzz"):
        assert all(secret not in m for m in found), (secret, found)


@pytest.mark.parametrize("run", [
    "apk add --no-cache --allow-untrusted x.apk",
    "apt-get install -y --allow-unauthenticated x=1",
    "apt-get -o APT::Get::AllowUnauthenticated=true install -y x=1",
    "apt-get --force-yes install x=1",
    "yum --nogpgcheck localinstall -y x-1.0.rpm",
    "dnf install -y --setopt=gpgcheck=0 x-1.0",
    "rpm -Uvh --nodigest --nosignature x-1.0.rpm",
    "zypper --no-gpg-checks install -y x=1",
    "echo 'APT::Get::AllowUnauthenticated \"true\";' > /etc/apt/apt.conf.d/99x",
    "echo 'deb [arch=amd64 trusted=yes] http://r/ stable main' >> /etc/apt/sources.list",
    "printf '[r]\\nbaseurl=http://r\\ngpgcheck=0\\n' > /etc/yum.repos.d/r.repo",
])
def test_signatures_disabled(run: str) -> None:
    assert lines(f"FROM alpine:3.20\nRUN {run}\n", "MAM-BUILD-004") == [2]


def test_signatures_quiet_for_local_index_and_file_repo() -> None:
    text = ("FROM alpine:3.20\nRUN apk index --allow-untrusted -o /t/APKINDEX.tar.gz /t/*.apk\n"
            "RUN echo 'deb [ trusted=yes ] file:///tmp/r ./' > /etc/apt/sources.list.d/t.list\n"
            "RUN yum install -y --setopt=gpgcheck=1 x-1.0\n")
    assert lines(text, "MAM-BUILD-004") == []


def test_unpinned_names_only_unpinned_packages() -> None:
    text = ("FROM debian:12.5-slim\nRUN apt-get install -y --no-install-recommends -o Dpkg::Options::=--force-confnew "
            "curl=7.88 git $EXTRA libfoo/bookworm-backports wget\n")
    msgs = messages(text, "MAM-BUILD-005")
    assert msgs == ["`apt-get` installs git, wget without a version"]


@pytest.mark.parametrize(("run", "fires"), [
    ("pip install flask", True),
    ("pip install --upgrade pip", True),
    ("pip install 'flask[async]==3.0.3' 'requests>=2.31'", False),
    ("pip install -r requirements.txt", False),
    ("pip install -e . -c constraints.txt flask", False),
    ("pip install git+https://github.com/x/y.git@v1.2", False),
    ("pip install git+https://github.com/x/y.git", True),
    ("pip install ./dist/app-1.0-py3-none-any.whl", False),
    ("npm install", False),
    ("npm install express", True),
    ("npm install express@latest", True),
    ("npm install @types/node@20.14.2", False),
    ("npm install @types/node", True),
    ("gem install rails", True),
    ("gem install rails -v 7.1.3", False),
    ("gem install rails:7.1.3", False),
    ("apk add --virtual .build-deps gcc", True),
    ("apk add --virtual .build-deps gcc=13.2.1_git20240309-r0", False),
    ("yum install -y httpd", True),
    ("yum install -y httpd-2.4.6", False),
    ("dnf install -y python3-pip", True),
    ("dnf module install -y nodejs:20", False),
    ("microdnf install -y shadow-utils-4.9", False),
    ("zypper in -y 'curl>=8'", False),
    ("zypper in -y curl>=8", True),  # the shell reads `>=8` as a redirection
    ("go install golang.org/x/tools/gopls@latest", True),
    ("go install ./cmd/...", False),
])
def test_unpinned_managers(run: str, fires: bool) -> None:
    assert bool(lines(f"FROM alpine:3.20\nRUN {run}\n", "MAM-BUILD-005")) is fires


def test_floating_base_every_external_stage() -> None:
    text = ("ARG TAG\nFROM golang AS build\nFROM build AS again\nFROM node:latest AS web\nFROM python:${TAG}\n"
            "FROM scratch\n")
    fs = findings_of(scan(text), "MAM-BUILD-006")
    assert [(f.location.line, f.message) for f in fs] == [
        (2, "FROM golang uses no tag"), (4, "FROM node:latest uses the `latest` tag")]


def test_add_remote_and_local() -> None:
    text = ("FROM alpine:3.20\nADD https://x/t.tgz /opt/\nADD --checksum=sha256:"
            + "a" * 64 + " https://x/t.tgz /opt/\n"
            "ADD git@github.com:x/y.git /src\nADD files/ /srv/\nADD a.tar.gz /\nADD [\"a b\", \"/c\"]\n")
    assert lines(text, "MAM-BUILD-007") == [2, 4]
    assert lines(text, "MAM-BUILD-008") == [5, 7]


# --- image hygiene --------------------------------------------------------------------------------


def test_hygiene_only_looks_at_stages_in_the_image() -> None:
    builder = ("FROM debian:12.5-slim AS build\nRUN apt-get update && apt-get install -y gcc=12 openssh-server=1\n"
               "RUN pip install -r r.txt && apk add gcc=1 && yum install -y x-1 && chmod 777 /b\nEXPOSE 22\n")
    final_from_scratch = builder + "FROM scratch\nCOPY --from=build /b /b\n"
    final_from_builder = builder + "FROM build\n"
    hygiene = {"MAM-BUILD-009", "MAM-BUILD-010", "MAM-BUILD-011", "MAM-BUILD-012", "MAM-BUILD-013",
               "MAM-BUILD-016", "MAM-BUILD-017", "MAM-BUILD-019"}
    assert not rule_ids(scan(final_from_scratch)) & hygiene
    assert rule_ids(scan(final_from_builder)) >= hygiene


def test_apt_recommends_and_config() -> None:
    text = ("FROM debian:12.5-slim\nRUN apt-get install -y x=1\n"
            "RUN apt install -y -o APT::Install-Recommends=false y=1\n"
            "RUN echo 'APT::Install-Recommends \"0\";' > /etc/apt/apt.conf.d/00r\nRUN apt-get install -y z=1\n")
    assert lines(text, "MAM-BUILD-009") == [2]


def test_apt_lists_points_at_update() -> None:
    text = ("FROM debian:12.5-slim\nRUN apt-get update \\\n && apt-get install -y --no-install-recommends x=1\n"
            "RUN apt-get update && apt-get install -y --no-install-recommends y=1 && rm -rf /var/lib/apt/lists/*\n"
            "RUN --mount=type=cache,target=/var/lib/apt apt-get update \\\n"
            "  && apt-get install -y --no-install-recommends z=1\n")
    assert lines(text, "MAM-BUILD-010") == [2]


def test_apk_cache() -> None:
    text = ("FROM alpine:3.20\nRUN apk add x=1\nRUN apk add --no-cache y=1\n"
            "RUN apk add z=1 && rm -rf /var/cache/apk/*\nRUN apk --no-cache add w=1\n")
    assert lines(text, "MAM-BUILD-011") == [2]


def test_pip_cache() -> None:
    text = ("FROM python:3.12-slim\nRUN pip install x==1\nRUN pip install --no-cache-dir y==1\n"
            "RUN PIP_NO_CACHE_DIR=1 pip install z==1\nRUN pipenv install\nRUN pip download w==1\n"
            "ENV PIP_NO_CACHE_DIR=true\nRUN pip install v==1\n")
    assert lines(text, "MAM-BUILD-012") == [2]


def test_rpm_cache_needs_clean_after_the_last_install() -> None:
    text = ("FROM rockylinux:9.3\nRUN dnf install -y a-1 && dnf clean all\nRUN dnf clean all && dnf install -y b-1\n"
            "RUN yum install -y c-1 && rm -rf /var/cache/yum/*\nRUN zypper in -y d=1 && zypper cc -a\n"
            "RUN microdnf install e-1 && microdnf clean all\n")
    assert lines(text, "MAM-BUILD-013") == [3]


def test_update_alone() -> None:
    text = ("FROM debian:12.5-slim\nRUN apt-get update\nRUN apt-get update && apt-get install -y x=1\n"
            "RUN apt-get install -y y=1 && apt-get update\nRUN apk update && apk add --no-cache z=1\n"
            "RUN apt-get -q update && apt-get -y upgrade\n")
    assert lines(text, "MAM-BUILD-014") == [2, 4]


def test_dist_upgrade() -> None:
    text = ("FROM debian:12.5-slim\nRUN apt-get update && apt-get -y dist-upgrade\nRUN apt-get -y upgrade\n"
            "RUN zypper dup -y\nRUN apt full-upgrade -y\n")
    assert lines(text, "MAM-BUILD-015") == [2, 4, 5]


def test_expose_ssh_ranges() -> None:
    text = "FROM alpine:3.20\nEXPOSE 20-25/tcp\nEXPOSE 22/udp\nEXPOSE 222 2200-2300\n"
    assert lines(text, "MAM-BUILD-016") == [2, 3]


def test_ssh_server_packages() -> None:
    text = ("FROM alpine:3.20\nRUN apk add --no-cache openssh=9.7_p1-r4\nRUN apk add --no-cache openssh-client=9\n"
            "RUN yum install -y openssh-server-8.7p1 && yum clean all\nENTRYPOINT /usr/sbin/sshd -D\n")
    assert lines(text, "MAM-BUILD-017") == [2, 4, 5]


def test_world_writable_modes() -> None:
    text = ("FROM alpine:3.20\nRUN chmod 0777 /a\nRUN chmod 666 /b\nRUN chmod 775 /c && chmod 1777 /d\n"
            "RUN chmod o+w /e\nRUN chmod go-w,u+x /f\nRUN chmod -R a=rwX /g\nRUN chmod +w /h\n"
            "COPY --chmod=777 x /x\n")
    assert lines(text, "MAM-BUILD-019") == [2, 3, 5, 7, 9]


def test_duplicate_cmd_points_at_the_overridden_one() -> None:
    text = 'FROM alpine:3.20\nCMD ["a"]\nENTRYPOINT ["e"]\nCMD ["b"]\nHEALTHCHECK CMD x\nHEALTHCHECK NONE\n'
    assert lines(text, "MAM-BUILD-020") == [2]
    assert lines(text, "MAM-BUILD-021") == [5]


def test_maintainer() -> None:
    fs = findings_of(scan("FROM alpine:3.20\nMAINTAINER someone\n"), "MAM-BUILD-018")
    assert [(f.location.line, f.severity) for f in fs] == [(2, Severity.INFO)]


# --- suppressions end to end ------------------------------------------------------------------------------------------


def test_inline_suppression_suppresses_with_reason() -> None:
    text = ("FROM alpine:3.20\n# mamori:ignore=MAM-BUILD-002 vendor image needs sudo for its installer\n"
            "RUN sudo ./install.sh\nRUN sudo ./other.sh\n")
    d = scan(text)
    assert [f.location.line for f in findings_of(d, "MAM-BUILD-002")] == [4]
    sup = [s for s in d.suppressed if s.finding.rule_id == "MAM-BUILD-002"]
    assert [(s.finding.location.line, s.reason, s.via) for s in sup] == [
        (3, "vendor image needs sudo for its installer", "inline")]


def test_file_wide_suppression() -> None:
    d = scan("# mamori:ignore-file=MAM-BUILD-006 base pinned by the platform team\nFROM alpine\nFROM node\n")
    assert findings_of(d, "MAM-BUILD-006") == []
    assert len([s for s in d.suppressed if s.finding.rule_id == "MAM-BUILD-006"]) == 2
