"""MAM-SECRET-*: rules over model objects built directly, and end to end through the sources."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pytest
from tests.helpers import findings_of, scan_text
from tests.secrets.fakes import body, pem, windows

from mamori.model import Container, EnvVar, Identity, Loc, Role, ScanSet, SourceKind, Val, Workload
from mamori.model.resources import ConfigMap, DataEntry, Meta
from mamori.policy.settings import Settings
from mamori.rules import secrets as rs
from mamori.rules.registry import Context, Hit, all_rules

CTX = Context(Settings(), ScanSet())
LOC = Loc("deploy.yaml", 10, "/spec/template/spec/containers/0")


def _env(name: str, value: str | None, origin: str = "env", from_secret: bool = False, line: int = 20) -> EnvVar:
    return EnvVar(name, value, Loc("deploy.yaml", line, f"/env/{name}"), from_secret=from_secret, origin=origin)


def _container(*env: EnvVar, name: str = "app") -> Container:
    return Container(name, Role.CONTAINER, LOC, Val(None, LOC), env=tuple(env))


def _workload(c: Container, source: SourceKind = SourceKind.KUBERNETES) -> Workload:
    return Workload(Identity(source, "deploy.yaml", "Deployment", "web", "shop", 1), LOC, (c,))


def _configmap(**data: str) -> ConfigMap:
    ident = Identity(SourceKind.KUBERNETES, "cm.yaml", "ConfigMap", "web-config", "shop", 1)
    entries = tuple(DataEntry(k, v, Loc("cm.yaml", 7 + i, f"/data/{k}")) for i, (k, v) in enumerate(data.items()))
    return ConfigMap(Meta(ident, Loc("cm.yaml", 1)), entries)


ContainerRule = Callable[[Context, Workload, Container], Iterable[Hit]]


def _run(fn: ContainerRule, *env: EnvVar) -> list[Hit]:
    c = _container(*env)
    return list(fn(CTX, _workload(c), c))


def _run_cm(fn: Callable[[Context, ConfigMap], Iterable[Hit]], **data: str) -> list[Hit]:
    return list(fn(CTX, _configmap(**data)))


GH = "ghp_" + body(36, seed=21)
RANDOM = body(24, seed=22)


class TestContainerEnv:
    def test_known_format_fires_whatever_the_name(self) -> None:
        (h,) = _run(rs.env_known_format, _env("SETTINGS_BLOB", GH))
        assert h.loc.line == 20 and h.container == "app"
        assert "`SETTINGS_BLOB`" in h.message and "GitHub token" in h.message and "sha256:" in h.message

    def test_known_format_is_not_also_reported_as_generic(self) -> None:
        env = _env("GITHUB_TOKEN", GH)
        assert _run(rs.env_known_format, env) and not _run(rs.env_random_secret, env)
        assert not _run(rs.env_literal_secret, env)

    def test_random_literal_under_secret_name(self) -> None:
        (h,) = _run(rs.env_random_secret, _env("DJANGO_SECRET_KEY", RANDOM))
        assert "random-looking" in h.message
        assert not _run(rs.env_literal_secret, _env("DJANGO_SECRET_KEY", RANDOM))

    def test_plain_literal_under_secret_name(self) -> None:
        (h,) = _run(rs.env_literal_secret, _env("MYSQL_ROOT_PASSWORD", "example", origin="environment"))
        assert h.message.startswith("environment variable `MYSQL_ROOT_PASSWORD` of container 'app'")
        assert not _run(rs.env_random_secret, _env("MYSQL_ROOT_PASSWORD", "example"))

    def test_dockerfile_origins_are_named(self) -> None:
        (h,) = _run(rs.env_literal_secret, _env("DB_PASSWORD", "changeme", origin="ARG"))
        assert h.message.startswith("build argument `DB_PASSWORD`")
        (h,) = _run(rs.env_random_secret, _env("API_TOKEN", RANDOM, origin="ENV"))
        assert h.message.startswith("ENV variable `API_TOKEN`")

    @pytest.mark.parametrize("env", [
        _env("DB_PASSWORD", None, from_secret=True),  # secretKeyRef
        _env("DB_PASSWORD", None),  # configMapKeyRef / fieldRef / bare Compose name
        _env("DB_PASSWORD", "${DB_PASSWORD}", origin="environment"),
        _env("DB_PASSWORD", "$(DB_PASSWORD)"),
        _env("DB_PASSWORD", ""),
        _env("DB_PASSWORD", "<your-password>"),
        _env("DB_PASSWORD", "REPLACE_ME"),
        _env("PASSWORD_FILE", "/run/secrets/db"),
        _env("PASSWORD_MIN_LENGTH", "12"),
        _env("SECRET_NAME", "web-db"),
        _env("TOKEN_URL", "https://auth.example.com/token"),
        _env("MYSQL_ALLOW_EMPTY_PASSWORD", "yes"),
        _env("GPG_KEY", "7169605F62C751356D054A26A821E680E5FA6305", origin="ENV"),
        _env("DB_PASSWORD", "example", origin="configmap"),  # reported at the ConfigMap instead
    ], ids=lambda e: f"{e.name}={e.value}/{e.origin}")
    def test_no_secret_rule_fires(self, env: EnvVar) -> None:
        for fn in (rs.env_known_format, rs.env_random_secret, rs.env_literal_secret):
            assert not _run(fn, env), fn.__name__

    def test_one_hit_per_variable(self) -> None:
        hits = _run(rs.env_literal_secret, _env("A_PASSWORD", "one", line=1), _env("B_PASSWORD", "two", line=2),
                    _env("HOST", "db", line=3))
        assert [h.loc.line for h in hits] == [1, 2]

    def test_non_string_values_from_sources_do_not_crash(self) -> None:
        env = EnvVar("DB_PASSWORD", 12345678, LOC)  # type: ignore[arg-type]  # a YAML int, as Compose may give
        (h,) = _run(rs.env_literal_secret, env)
        assert "12345678" not in h.message


class TestConfigMap:
    def test_known_format(self) -> None:
        (h,) = _run_cm(rs.configmap_known_format, **{"tls.key": pem(), "DB_PORT": "5432"})
        assert h.loc.line == 7 and "key `tls.key`" in h.message and "PEM private key" in h.message

    def test_random_secret_inside_a_file(self) -> None:
        props = f"server.port=8080\nspring.datasource.password={RANDOM}\n"
        (h,) = _run_cm(rs.configmap_random_secret, **{"application.properties": props})
        assert "`spring.datasource.password`" in h.message and "line 2 of the value" in h.message

    def test_plain_literal(self) -> None:
        (h,) = _run_cm(rs.configmap_literal_secret, DB_PASSWORD="wordpress")
        assert "ConfigMap 'web-config' key `DB_PASSWORD`" in h.message

    def test_peers_false_positives_do_not_fire(self) -> None:
        data = {
            "password_validation.py": "def valid(password):\n    return len(password) >= 12\n",  # trivy#8198
            "DB_PORT": "5432",  # the KSV-01010 report
            "gitconfig": "[user]\n  email = bot@example.com\n  signingkey = /keys/bot.asc\n",
            "SECRET_NAME": "web-db",
            "nginx.conf": "auth_basic_user_file /etc/nginx/.htpasswd;\n",
        }
        for fn in (rs.configmap_known_format, rs.configmap_random_secret, rs.configmap_literal_secret):
            assert not _run_cm(fn, **data), fn.__name__


class TestBuildArgs:
    def test_credential_arg_without_value(self) -> None:
        (h,) = _run(rs.build_arg_secret, _env("NPM_TOKEN", None, origin="ARG"))
        assert "--build-arg" in h.message

    def test_well_known_names_with_frontend_prefixes(self) -> None:
        assert _run(rs.build_arg_secret, _env("AWS_ACCESS_KEY_ID", None, origin="ARG"))
        assert _run(rs.build_arg_secret, _env("VITE_OPENAI_API_KEY", None, origin="ARG"))

    def test_env_copying_a_build_arg(self) -> None:
        (h,) = _run(rs.build_arg_secret, _env("NPM_TOKEN", "$NPM_TOKEN", origin="ENV"))
        assert "image configuration" in h.message

    @pytest.mark.parametrize("env", [
        _env("NODE_ENV", None, origin="ARG"),
        _env("NPM_TOKEN", "changeme", origin="ARG"),  # a literal: MAM-SECRET-003's job
        _env("NPM_TOKEN", None, origin="env"),  # Kubernetes, not a build
        _env("NPM_TOKEN", "", origin="ENV"),
        _env("NPM_TOKEN", "REPLACE_ME", origin="ENV"),
        _env("TOKEN_URL", None, origin="ARG"),
    ], ids=lambda e: f"{e.name}={e.value}/{e.origin}")
    def test_does_not_fire(self, env: EnvVar) -> None:
        assert not _run(rs.build_arg_secret, env)


class TestSecretKeyRef:
    def test_fires_on_secret_key_ref(self) -> None:
        (h,) = _run(rs.secret_in_env, _env("DB_PASSWORD", None, from_secret=True))
        assert "secretKeyRef" in h.message

    def test_silent_on_other_env(self) -> None:
        assert not _run(rs.secret_in_env, _env("DB_PASSWORD_FILE", "/etc/db/password"), _env("HOST", None))


def test_messages_never_contain_the_secret() -> None:
    secrets = [GH, RANDOM, "example-weak-pw", pem().splitlines()[1]]
    env = [_env("BLOB", GH), _env("API_TOKEN", RANDOM), _env("DB_PASSWORD", "example-weak-pw"),
           _env("KEY", pem())]
    hits = [h for fn in (rs.env_known_format, rs.env_random_secret, rs.env_literal_secret) for h in _run(fn, *env)]
    hits += [h for fn in (rs.configmap_known_format, rs.configmap_random_secret, rs.configmap_literal_secret)
             for h in _run_cm(fn, a=GH, API_TOKEN=RANDOM, DB_PASSWORD="example-weak-pw", key=pem())]
    assert len(hits) == 8
    for h in hits:
        for s in secrets:
            assert not [w for w in windows(s, 6) if w in h.message], h.message


def test_rule_metadata() -> None:
    mine = {r.id: r for r in all_rules() if r.id.startswith("MAM-SECRET-")}
    assert sorted(mine) == [f"MAM-SECRET-00{i}" for i in range(1, 10)]
    for r in mine.values():
        assert r.controls and r.remediation and r.description and r.refs
    assert all("CSA-3.1.10.1" in mine[f"MAM-SECRET-00{i}"].controls for i in range(1, 8))
    assert mine["MAM-SECRET-007"].sources == frozenset({SourceKind.DOCKERFILE})
    assert mine["MAM-SECRET-004"].types == (ConfigMap,)


class TestEndToEnd:
    def test_kubernetes(self) -> None:
        text = f"""apiVersion: v1
kind: Pod
metadata: {{name: p, namespace: shop}}
spec:
  containers:
    - name: app
      image: registry.example.com/app:1.0
      env:
        - name: GITHUB_TOKEN
          value: "{GH}"
        - name: DB_PASSWORD
          valueFrom: {{secretKeyRef: {{name: db, key: password}}}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: cfg, namespace: shop}}
data:
  DB_PASSWORD: wordpress
"""
        d = scan_text("pod.yaml", text)
        assert [f.location.line for f in findings_of(d, "MAM-SECRET-001")] == [9]
        assert [f.location.line for f in findings_of(d, "MAM-SECRET-008")] == [11]
        assert [f.location.line for f in findings_of(d, "MAM-SECRET-006")] == [18]
        assert all(GH not in f.message and "wordpress" not in f.message for f in d.findings)

    def test_compose_default_value_is_a_hard_coded_default(self) -> None:
        text = "services:\n  db:\n    image: mysql:8.4\n    environment:\n      MYSQL_PASSWORD: ${DB_PW:-changeme}\n"
        assert findings_of(scan_text("compose.yaml", text), "MAM-SECRET-003")
        text = "services:\n  db:\n    image: mysql:8.4\n    environment:\n      MYSQL_PASSWORD: ${DB_PW}\n"
        assert not findings_of(scan_text("compose.yaml", text), "MAM-SECRET-003")

    def test_dockerfile(self) -> None:
        text = "FROM node:22\nARG NPM_TOKEN\nARG DB_PASSWORD=changeme\nUSER node\n"
        d = scan_text("Dockerfile", text)
        assert [f.location.line for f in findings_of(d, "MAM-SECRET-007")] == [2]
        assert [f.location.line for f in findings_of(d, "MAM-SECRET-003")] == [3]
