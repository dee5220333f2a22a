"""Generate a seeded, realistic Kubernetes manifest corpus for the scan benchmark.

Why generated: no public corpus of 10,000 manifests can be shipped here, and a seeded generator gives every
machine the same bytes. File ``i`` depends only on ``(seed, i)``, so ``--n 2000`` is a prefix of ``--n 10000``.
The mix (kinds, multi-document files, ``kind: List``, secure and insecure settings, 1-3 containers, 30-150
lines) imitates what ``helm template`` output and hand-written repositories look like. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

GENERATOR_VERSION = 1
FILES_PER_DIR = 100

Obj = dict[str, Any]

# ---------------------------------------------------------------- YAML emitter (block style, deterministic)

_PLAIN = re.compile(r"^[A-Za-z_/$][A-Za-z0-9_./:@$=+-]*$")
_RESERVED = {"y", "n", "yes", "no", "true", "false", "on", "off", "null", "~"}


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    if _PLAIN.match(text) and text.lower() not in _RESERVED and not text.endswith(":"):
        return text
    return json.dumps(text)


def _emit(value: Any, indent: int, out: list[str]) -> None:
    pad = " " * indent
    if isinstance(value, dict):
        for key, item in value.items():
            _emit_entry(f"{pad}{_scalar(key)}:", item, indent, out)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict) and item:
                sub: list[str] = []
                _emit(item, indent + 2, sub)
                out.append(f"{pad}- {sub[0].lstrip()}")
                out.extend(sub[1:])
            else:
                _emit_entry(f"{pad}-", item, indent, out)
    else:
        out.append(pad + _scalar(value))


def _emit_entry(head: str, item: Any, indent: int, out: list[str]) -> None:
    if isinstance(item, dict | list) and item:
        out.append(head)
        _emit(item, indent + 2, out)
    elif isinstance(item, dict):
        out.append(f"{head} {{}}")
    elif isinstance(item, list):
        out.append(f"{head} []")
    elif isinstance(item, str) and "\n" in item:
        out.append(f"{head} |")
        out.extend(" " * (indent + 2) + line if line else "" for line in item.rstrip("\n").split("\n"))
    else:
        out.append(f"{head} {_scalar(item)}")


def to_yaml(obj: Obj) -> str:
    """Block-style YAML for one document (keys in insertion order, like kubectl/helm output)."""
    out: list[str] = []
    _emit(obj, 0, out)
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- vocabulary

TEAMS = ["payments", "search", "identity", "platform", "data", "web", "mobile-api", "billing", "ml", "ops"]
APPS = ["api", "worker", "frontend", "gateway", "scheduler", "indexer", "auth", "cache", "ledger", "notifier",
        "exporter", "ingest", "reports", "catalog", "checkout", "profile", "audit", "router", "sync", "backup"]
ENVS = ["dev", "staging", "prod", "qa"]
PUBLIC_IMAGES = [("nginx", ["1.25.3", "1.27-alpine", "stable"]), ("redis", ["7.2.4", "7-alpine"]),
                 ("postgres", ["16.2", "15-alpine"]), ("busybox", ["1.36"]), ("python", ["3.12-slim"]),
                 ("node", ["20-alpine", "18.19.1"]), ("envoyproxy/envoy", ["v1.29.1"]),
                 ("prom/node-exporter", ["v1.7.0"]), ("grafana/grafana", ["10.3.1"]),
                 ("bitnami/kubectl", ["1.29"]), ("memcached", ["1.6.23"]), ("mongo", ["7.0"])]
REGISTRIES = ["registry.example.com", "ghcr.io/example-org", "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
              "europe-docker.pkg.dev/example/apps", "docker.io/examplecorp"]
RISKY_CAPS = ["NET_ADMIN", "SYS_ADMIN", "SYS_PTRACE", "NET_RAW", "SYS_MODULE", "DAC_READ_SEARCH"]
BENIGN_CAPS = ["NET_BIND_SERVICE", "CHOWN", "SETUID", "SETGID"]
HOST_PATHS = ["/var/run/docker.sock", "/var/log", "/", "/etc", "/proc", "/var/lib/kubelet", "/sys/fs/cgroup"]
ENV_VALUES = {"LOG_LEVEL": ["info", "debug", "warn"], "PORT": ["8080", "3000"], "REGION": ["eu-west-1", "us-east-1"],
              "FEATURE_FLAGS": ["new-ui,fast-path", ""], "CACHE_TTL": ["30s", "5m"], "WORKERS": ["2", "4", "8"],
              "TZ": ["UTC", "Europe/Berlin"], "OTEL_EXPORTER_ENDPOINT": ["http://otel-collector.observability:4317"],
              "DB_HOST": ["postgres.data.svc.cluster.local", "db"], "DB_PORT": ["5432"],
              "QUEUE_URL": ["amqp://rabbitmq.data:5672/app"], "HTTP_TIMEOUT": ["10s", "30s"],
              "MAX_CONNECTIONS": ["50", "200"], "ENVIRONMENT": ["dev", "staging", "prod"]}
ENV_NAMES = list(ENV_VALUES)
SECRET_ENV = ["DB_PASSWORD", "API_TOKEN", "AWS_SECRET_ACCESS_KEY", "JWT_SECRET", "SMTP_PASSWORD"]


class Gen:
    """Builds the objects of one file; every random choice goes through ``self.r`` (seeded per file)."""

    def __init__(self, seed: int, index: int, attempt: int = 0) -> None:
        self.r = random.Random(f"mamori-bench:{seed}:{index}:{attempt}")
        self.index = index
        self.team = self.r.choice(TEAMS)
        self.app = self.r.choice(APPS)
        self.env = self.r.choice(ENVS)
        self.name = f"{self.team}-{self.app}" if self.r.random() < 0.7 else f"{self.app}-{index % 97}"
        # A "hardened" file mostly follows good practice; the others are typical, partly insecure charts.
        self.hardened = self.r.random() < 0.45
        self.namespace: str | None = self.r.choices(
            [f"{self.team}-{self.env}", self.team, "default", None], weights=[55, 20, 10, 15])[0]

    def chance(self, hardened_p: float, other_p: float) -> bool:
        return self.r.random() < (hardened_p if self.hardened else other_p)

    # ------------------------------------------------------------ metadata

    def labels(self, component: str | None = None) -> Obj:
        labels: Obj = {"app.kubernetes.io/name": self.app, "app.kubernetes.io/instance": self.name}
        if self.r.random() < 0.8:
            labels["app.kubernetes.io/part-of"] = self.team
            labels["app.kubernetes.io/managed-by"] = self.r.choice(["Helm", "kustomize", "argocd"])
        if component:
            labels["app.kubernetes.io/component"] = component
        if self.r.random() < 0.5:
            labels["helm.sh/chart"] = f"{self.app}-{self.version()}"
            labels["app.kubernetes.io/version"] = self.version()
        if self.r.random() < 0.4:
            labels["team"] = self.team
            labels["env"] = self.env
        return labels

    def version(self) -> str:
        return f"{self.r.randint(0, 9)}.{self.r.randint(0, 30)}.{self.r.randint(0, 9)}"

    def metadata(self, name: str, component: str | None = None, annotations: Obj | None = None) -> Obj:
        meta: Obj = {"name": name}
        if self.namespace:
            meta["namespace"] = self.namespace
        meta["labels"] = self.labels(component)
        if annotations:
            meta["annotations"] = annotations
        return meta

    def selector(self) -> Obj:
        return {"app.kubernetes.io/name": self.app, "app.kubernetes.io/instance": self.name}

    # ------------------------------------------------------------ containers

    def image(self, main: bool) -> str:
        if main and self.r.random() < 0.7:
            repo = f"{self.r.choice(REGISTRIES)}/{self.team}/{self.app}"
            tags = [f"v{self.r.randint(1, 5)}.{self.r.randint(0, 40)}.{self.r.randint(0, 12)}",
                    f"{self.r.randint(2022, 2025)}.{self.r.randint(1, 12):02d}.{self.r.randint(1, 28):02d}"]
        else:
            repo, tags = self.r.choice(PUBLIC_IMAGES)
        style = self.r.choices(["tag", "latest", "none", "digest", "tag+digest"],
                               weights=[68, 9, 5, 12, 6] if not self.hardened else [60, 2, 1, 25, 12])[0]
        digest = "sha256:" + "".join(self.r.choice("0123456789abcdef") for _ in range(64))
        if style == "latest":
            return f"{repo}:latest"
        if style == "none":
            return repo
        if style == "digest":
            return f"{repo}@{digest}"
        if style == "tag+digest":
            return f"{repo}:{self.r.choice(tags)}@{digest}"
        return f"{repo}:{self.r.choice(tags)}"

    def env_list(self, n: int) -> list[Obj]:
        env: list[Obj] = []
        for key in self.r.sample(ENV_NAMES, n):
            env.append({"name": key, "value": self.r.choice(ENV_VALUES[key])})
        if self.r.random() < 0.5:
            env.append({"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}})
        if self.r.random() < 0.55:
            key = self.r.choice(SECRET_ENV)
            if self.chance(0.03, 0.25):  # a literal secret in the manifest (fake, generated)
                fake = "".join(self.r.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(24))
                env.append({"name": key, "value": fake})
            else:
                env.append({"name": key, "valueFrom": {"secretKeyRef": {"name": f"{self.name}-secrets",
                                                                        "key": key.lower()}}})
        return env

    def probe(self, port: int, kind: str) -> Obj:
        style = self.r.choice(["http", "http", "tcp", "exec"])
        probe: Obj
        if style == "http":
            probe = {"httpGet": {"path": "/healthz" if kind == "liveness" else "/ready", "port": port}}
        elif style == "tcp":
            probe = {"tcpSocket": {"port": port}}
        else:
            probe = {"exec": {"command": ["/bin/sh", "-c", "test -f /tmp/healthy"]}}
        probe["initialDelaySeconds"] = self.r.choice([5, 10, 15, 30])
        probe["periodSeconds"] = self.r.choice([5, 10, 20])
        if self.r.random() < 0.5:
            probe["timeoutSeconds"] = self.r.choice([1, 2, 5])
            probe["failureThreshold"] = self.r.choice([3, 5, 6])
        return probe

    def resources(self) -> Obj | None:
        style = self.r.choices(["full", "requests", "limits", "none", "cpu-only"],
                               weights=[85, 8, 3, 3, 1] if self.hardened else [40, 20, 8, 27, 5])[0]
        cpu_req = self.r.choice(["50m", "100m", "250m", "500m", "1"])
        mem_req = self.r.choice(["64Mi", "128Mi", "256Mi", "512Mi", "1Gi"])
        if style == "none":
            return None
        if style == "requests":
            return {"requests": {"cpu": cpu_req, "memory": mem_req}}
        if style == "limits":
            return {"limits": {"cpu": "1", "memory": "1Gi"}}
        if style == "cpu-only":
            return {"requests": {"cpu": cpu_req}, "limits": {"cpu": "2"}}
        return {"requests": {"cpu": cpu_req, "memory": mem_req},
                "limits": {"cpu": self.r.choice(["500m", "1", "2"]), "memory": self.r.choice(["256Mi", "1Gi", "2Gi"])}}

    def security_context(self) -> Obj | None:
        if self.chance(0.03, 0.3):
            return None
        sc: Obj = {}
        if self.chance(0.0, 0.06):
            sc["privileged"] = True
        elif self.r.random() < 0.2:
            sc["privileged"] = False
        if self.chance(0.95, 0.45):
            sc["allowPrivilegeEscalation"] = False
        elif self.r.random() < 0.3:
            sc["allowPrivilegeEscalation"] = True
        if self.chance(0.9, 0.35):
            sc["readOnlyRootFilesystem"] = True
        if self.chance(0.85, 0.35):
            sc["runAsNonRoot"] = True
            sc["runAsUser"] = self.r.choice([1000, 10001, 65532, 101])
        elif self.chance(0.0, 0.15):
            sc["runAsUser"] = 0
        caps: Obj = {}
        if self.chance(0.95, 0.4):
            caps["drop"] = ["ALL"]
        if self.chance(0.1, 0.25):
            caps["add"] = self.r.sample(BENIGN_CAPS if self.hardened else BENIGN_CAPS + RISKY_CAPS,
                                        self.r.randint(1, 2))
        if caps:
            sc["capabilities"] = caps
        if self.chance(0.7, 0.15):
            sc["seccompProfile"] = {"type": "RuntimeDefault"}
        elif self.chance(0.0, 0.04):
            sc["seccompProfile"] = {"type": "Unconfined"}
        return sc or None

    def container(self, name: str, main: bool, volumes: list[str], with_probes: bool = True) -> Obj:
        port = self.r.choice([8080, 8000, 3000, 9090, 5000, 80, 443, 6379])
        c: Obj = {"name": name, "image": self.image(main)}
        pull = self.r.choices(["IfNotPresent", "Always", None], weights=[50, 25, 25])[0]
        if pull:
            c["imagePullPolicy"] = pull
        if self.r.random() < 0.35:
            c["args"] = self.r.choice([["--config=/etc/app/config.yaml"], ["serve", "--port", str(port)],
                                       ["--log-level=info", "--metrics"]])
        if self.r.random() < 0.15:
            c["command"] = ["/bin/sh", "-c"]
            c["args"] = [f"exec /app/{self.app} --port {port}"]
        c["ports"] = [{"name": "http", "containerPort": port, "protocol": "TCP"}]
        if self.r.random() < 0.3:
            c["ports"].append({"name": "metrics", "containerPort": 9102, "protocol": "TCP"})
        if self.r.random() < 0.04:
            c["ports"][0]["hostPort"] = port
        env = self.env_list(self.r.randint(0, 5 if main else 2))
        if env:
            c["env"] = env
        if self.r.random() < 0.25:
            c["envFrom"] = [{"configMapRef": {"name": f"{self.name}-config"}}]
        res = self.resources()
        if res:
            c["resources"] = res
        if with_probes and self.chance(0.9, 0.55):
            c["livenessProbe"] = self.probe(port, "liveness")
        if with_probes and self.chance(0.9, 0.55):
            c["readinessProbe"] = self.probe(port, "readiness")
        if volumes:
            mounts = {"config": "/etc/app", "tmp": "/tmp", "host": "/host", "secrets": "/var/run/secrets/app"}
            c["volumeMounts"] = [{"name": v, "mountPath": mounts[v], **({"readOnly": True} if self.r.random() < 0.5
                                                                         else {})} for v in volumes]
        sc = self.security_context()
        if sc:
            c["securityContext"] = sc
        return c

    def pod_spec(self, restart: str | None = None, n_containers: int | None = None) -> Obj:
        n = n_containers or self.r.choices([1, 2, 3], weights=[60, 30, 10])[0]
        spec: Obj = {}
        if self.r.random() < 0.6:
            spec["serviceAccountName"] = self.name
        if self.chance(0.8, 0.2):
            spec["automountServiceAccountToken"] = False
        if self.chance(0.0, 0.04):
            spec["hostNetwork"] = True
        if self.chance(0.0, 0.03):
            spec["hostPID"] = True
        if self.chance(0.0, 0.02):
            spec["hostIPC"] = True
        if self.chance(0.85, 0.3):
            psc: Obj = {"runAsNonRoot": True, "runAsUser": 10001, "fsGroup": 10001}
            if self.r.random() < 0.7:
                psc["seccompProfile"] = {"type": "RuntimeDefault"}
            spec["securityContext"] = psc
        if restart:
            spec["restartPolicy"] = restart
        volumes: list[Obj] = []
        vol_names: list[str] = []
        if self.r.random() < 0.5:
            volumes.append({"name": "config", "configMap": {"name": f"{self.name}-config"}})
            vol_names.append("config")
        if self.r.random() < 0.35:
            volumes.append({"name": "tmp", "emptyDir": {}})
            vol_names.append("tmp")
        if self.chance(0.01, 0.09):
            path = self.r.choice(HOST_PATHS)
            volumes.append({"name": "host", "hostPath": {"path": path,
                                                         "type": "Directory" if path != "/var/run/docker.sock"
                                                         else "Socket"}})
            vol_names.append("host")
        if self.r.random() < 0.15:
            volumes.append({"name": "secrets", "secret": {"secretName": f"{self.name}-secrets", "defaultMode": 0o440}})
            vol_names.append("secrets")
        if self.r.random() < 0.2:
            spec["initContainers"] = [self.container("init-migrate", False, vol_names[:1], with_probes=False)]
        containers = [self.container(self.app, True, vol_names)]
        sidecars = ["istio-proxy", "log-shipper", "metrics-exporter", "config-reloader", "cloud-sql-proxy"]
        for side in self.r.sample(sidecars, n - 1):
            containers.append(self.container(side, False, vol_names[:1]))
        spec["containers"] = containers
        if volumes:
            spec["volumes"] = volumes
        if self.r.random() < 0.3:
            spec["nodeSelector"] = {"kubernetes.io/os": "linux"}
        if self.r.random() < 0.2:
            spec["tolerations"] = [{"key": "dedicated", "operator": "Equal", "value": self.team,
                                    "effect": "NoSchedule"}]
        if self.r.random() < 0.2:
            spec["imagePullSecrets"] = [{"name": "regcred"}]
        if self.r.random() < 0.25:
            spec["terminationGracePeriodSeconds"] = self.r.choice([10, 30, 60])
        return spec

    def template(self, restart: str | None = None) -> Obj:
        meta: Obj = {"labels": {**self.selector(), **({"version": "v1"} if self.r.random() < 0.3 else {})}}
        if self.r.random() < 0.4:
            meta["annotations"] = {"prometheus.io/scrape": "true", "prometheus.io/port": "9102"}
        if self.r.random() < 0.15:
            meta["annotations"] = {**meta.get("annotations", {}),
                                   "container.apparmor.security.beta.kubernetes.io/" + self.app: "runtime/default"}
        return {"metadata": meta, "spec": self.pod_spec(restart)}

    # ------------------------------------------------------------ kinds

    def deployment(self) -> Obj:
        spec: Obj = {"replicas": self.r.choice([1, 2, 3, 3, 5]),
                     "selector": {"matchLabels": self.selector()}}
        if self.r.random() < 0.4:
            spec["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
        if self.r.random() < 0.3:
            spec["revisionHistoryLimit"] = 5
        spec["template"] = self.template()
        return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": self.metadata(self.name, "server"),
                "spec": spec}

    def statefulset(self) -> Obj:
        spec: Obj = {"serviceName": f"{self.name}-headless", "replicas": self.r.choice([1, 3]),
                     "selector": {"matchLabels": self.selector()}, "template": self.template()}
        spec["volumeClaimTemplates"] = [{"metadata": {"name": "data"}, "spec": {
            "accessModes": ["ReadWriteOnce"], "storageClassName": self.r.choice(["standard", "gp3", "premium-rwo"]),
            "resources": {"requests": {"storage": self.r.choice(["1Gi", "10Gi", "50Gi"])}}}}]
        return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": self.metadata(self.name, "database"),
                "spec": spec}

    def daemonset(self) -> Obj:
        spec: Obj = {"selector": {"matchLabels": self.selector()}, "template": self.template()}
        if self.r.random() < 0.5:
            spec["updateStrategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}
        return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": self.metadata(self.name, "agent"),
                "spec": spec}

    def job_spec(self) -> Obj:
        spec: Obj = {"backoffLimit": self.r.choice([0, 1, 3, 6])}
        if self.r.random() < 0.5:
            spec["activeDeadlineSeconds"] = self.r.choice([600, 3600])
        if self.r.random() < 0.4:
            spec["ttlSecondsAfterFinished"] = 86400
        spec["template"] = self.template(restart=self.r.choice(["Never", "OnFailure"]))
        return spec

    def job(self) -> Obj:
        return {"apiVersion": "batch/v1", "kind": "Job", "metadata": self.metadata(f"{self.name}-migrate", "job"),
                "spec": self.job_spec()}

    def cronjob(self) -> Obj:
        spec: Obj = {"schedule": self.r.choice(["0 2 * * *", "*/15 * * * *", "30 4 * * 0", "@hourly"]),
                     "concurrencyPolicy": self.r.choice(["Forbid", "Replace", "Allow"]),
                     "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1,
                     "jobTemplate": {"spec": self.job_spec()}}
        return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": self.metadata(f"{self.name}-cron", "cron"),
                "spec": spec}

    def pod(self) -> Obj:
        t = self.template(restart=self.r.choice(["Always", "Never", None]))
        meta = self.metadata(f"{self.name}-debug" if self.r.random() < 0.3 else self.name)
        meta["labels"].update(t["metadata"]["labels"])
        return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": t["spec"]}

    def service(self) -> Obj:
        typ = self.r.choices(["ClusterIP", "NodePort", "LoadBalancer", "Headless"], weights=[65, 12, 13, 10])[0]
        ann: Obj = {}
        if typ == "LoadBalancer" and self.r.random() < 0.6:
            ann["service.beta.kubernetes.io/aws-load-balancer-type"] = "nlb"
            ann["service.beta.kubernetes.io/aws-load-balancer-internal"] = self.r.choice(["true", "false"])
        spec: Obj = {"type": "ClusterIP" if typ == "Headless" else typ}
        if typ == "Headless":
            spec["clusterIP"] = "None"
        spec["selector"] = self.selector()
        port = self.r.choice([80, 443, 8080])
        spec["ports"] = [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}]
        if typ == "NodePort":
            spec["ports"][0]["nodePort"] = self.r.randint(30000, 32767)
        if self.r.random() < 0.3:
            spec["ports"].append({"name": "metrics", "port": 9102, "targetPort": "metrics", "protocol": "TCP"})
        if typ == "LoadBalancer" and self.r.random() < 0.4:
            spec["loadBalancerSourceRanges"] = ["10.0.0.0/8", "192.168.0.0/16"]
        suffix = "-headless" if typ == "Headless" else ""
        return {"apiVersion": "v1", "kind": "Service", "metadata": self.metadata(self.name + suffix, None, ann or None),
                "spec": spec}

    def ingress(self) -> Obj:
        host = f"{self.app}.{self.env}.example.com"
        ann: Obj = {"kubernetes.io/ingress.class": "nginx"} if self.r.random() < 0.3 else {}
        if self.r.random() < 0.5:
            ann["cert-manager.io/cluster-issuer"] = "letsencrypt"
        if self.r.random() < 0.2:
            ann["nginx.ingress.kubernetes.io/ssl-redirect"] = "false"
        if self.r.random() < 0.1:
            ann["nginx.ingress.kubernetes.io/server-snippet"] = "location /admin { allow all; }"
        spec: Obj = {}
        if self.r.random() < 0.7:
            spec["ingressClassName"] = "nginx"
        if self.chance(0.9, 0.5):
            spec["tls"] = [{"hosts": [host], "secretName": f"{self.name}-tls"}]
        spec["rules"] = [{"host": host, "http": {"paths": [
            {"path": p, "pathType": "Prefix", "backend": {"service": {"name": self.name, "port": {"name": "http"}}}}
            for p in self.r.sample(["/", "/api", "/v1", "/static", "/admin"], self.r.randint(1, 3))]}}]
        return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                "metadata": self.metadata(self.name, None, ann or None), "spec": spec}

    def configmap(self, lines: int | None = None) -> Obj:
        data: Obj = {}
        for key in self.r.sample(ENV_NAMES, self.r.randint(2, 6)):
            data[key] = self.r.choice(ENV_VALUES[key])
        n = lines if lines is not None else self.r.randint(8, 60)
        body = ["server:", f"  port: {self.r.choice([8080, 8000])}", "  read_timeout: 30s", "logging:",
                "  level: info", "  format: json", "features:"]
        body += [f"  flag_{i}: {self.r.choice(['true', 'false'])}" for i in range(max(0, n - len(body)))]
        data["config.yaml"] = "\n".join(body) + "\n"
        if self.r.random() < 0.1:
            data["DATABASE_URL"] = f"postgres://app:{self.r.randint(10**7, 10**8)}pw@db.{self.env}:5432/app"
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": self.metadata(f"{self.name}-config"),
                "data": data}

    def rbac(self) -> list[Obj]:
        cluster = self.r.random() < 0.3
        kind = "ClusterRole" if cluster else "Role"
        rules: list[Obj] = [{"apiGroups": [""], "resources": ["configmaps", "services"],
                             "verbs": ["get", "list", "watch"]}]
        if self.chance(0.0, 0.15):
            rules.append({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]})
        if self.chance(0.05, 0.25):
            rules.append({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]})
        if self.chance(0.0, 0.1):
            rules.append({"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]})
        if self.r.random() < 0.4:
            rules.append({"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "patch"]})
        role_meta = self.metadata(f"{self.name}-reader")
        if cluster:
            role_meta.pop("namespace", None)
        role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": role_meta, "rules": rules}
        binding_meta = self.metadata(f"{self.name}-reader")
        subjects: list[Obj] = [{"kind": "ServiceAccount", "name": self.name, "namespace": self.namespace or "default"}]
        if self.chance(0.0, 0.05):
            subjects.append({"kind": "Group", "name": "system:authenticated", "apiGroup": "rbac.authorization.k8s.io"})
        binding = {"apiVersion": "rbac.authorization.k8s.io/v1",
                   "kind": "ClusterRoleBinding" if cluster else "RoleBinding", "metadata": binding_meta,
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": f"{self.name}-reader"},
                   "subjects": subjects}
        if cluster:
            binding_meta.pop("namespace", None)
        sa: Obj = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": self.metadata(self.name)}
        if self.chance(0.8, 0.2):
            sa["automountServiceAccountToken"] = False
        return [sa, role, binding]

    def networkpolicy(self) -> Obj:
        style = self.r.choice(["default-deny", "allow-from", "allow-from", "allow-all"])
        spec: Obj
        if style == "default-deny":
            spec = {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
        elif style == "allow-all":
            spec = {"podSelector": {}, "ingress": [{}], "policyTypes": ["Ingress"]}
        else:
            spec = {"podSelector": {"matchLabels": self.selector()}, "policyTypes": ["Ingress", "Egress"],
                    "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name":
                                                                                 "ingress-nginx"}}},
                                          {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "gateway"}}}],
                                 "ports": [{"protocol": "TCP", "port": 8080}]}],
                    "egress": [{"to": [{"namespaceSelector": {}}],
                                "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
                               {"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.0.99.0/24"]}}]}]}
        name = {"default-deny": "default-deny", "allow-all": "allow-all"}.get(style, f"{self.name}-ingress")
        return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": self.metadata(name),
                "spec": spec}

    def hpa(self) -> Obj:
        return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": self.metadata(self.name),
                "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": self.name},
                         "minReplicas": 2, "maxReplicas": self.r.choice([5, 10, 20]),
                         "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                             "type": "Utilization", "averageUtilization": 70}}}]}}


# ---------------------------------------------------------------- files

def _bundle(g: Gen) -> list[Obj]:
    docs: list[Obj] = []
    if g.r.random() < 0.5:
        docs.append(g.configmap(g.r.randint(4, 15)))
    docs.append(g.r.choice([g.deployment, g.deployment, g.statefulset])())
    docs.append(g.service())
    if g.r.random() < 0.4:
        docs.append(g.ingress())
    if g.r.random() < 0.3:
        docs.append(g.hpa())
    return docs


FileMaker = Callable[[Gen], list[Obj]]
TEMPLATES: list[tuple[str, int, FileMaker]] = [
    ("deployment", 26, lambda g: [g.deployment()]),
    ("statefulset", 6, lambda g: [g.statefulset()]),
    ("daemonset", 5, lambda g: [g.daemonset()]),
    ("job", 4, lambda g: [g.job()]),
    ("cronjob", 5, lambda g: [g.cronjob()]),
    ("pod", 5, lambda g: [g.pod()]),
    ("bundle", 18, _bundle),
    ("service", 6, lambda g: [g.service(), g.service()] if g.r.random() < 0.5 else [g.service()]),
    ("ingress", 4, lambda g: [g.ingress()]),
    ("configmap", 6, lambda g: [g.configmap()]),
    ("rbac", 6, lambda g: g.rbac()),
    ("networkpolicy", 4, lambda g: [g.networkpolicy(), g.networkpolicy()]),
    ("list", 1, lambda g: [{"apiVersion": "v1", "kind": "List", "items": [
        g.r.choice([g.deployment, g.daemonset, g.cronjob])(), g.service()]}]),
    ("list-mixed", 1, lambda g: [{"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""},
                                  "items": [*g.rbac(), g.networkpolicy()]}]),
]
MIN_LINES, MAX_LINES = 30, 150


def _kinds(docs: list[Obj]) -> list[str]:
    out: list[str] = []
    for d in docs:
        out.append(str(d.get("kind")))
        if d.get("kind") == "List":
            out.extend(_kinds(d.get("items", [])))
    return out


def _build(seed: int, index: int, attempt: int) -> tuple[Gen, str, list[Obj]]:
    g = Gen(seed, index, attempt)
    tname = g.r.choices([t[0] for t in TEMPLATES], weights=[t[1] for t in TEMPLATES])[0]
    docs = next(t[2] for t in TEMPLATES if t[0] == tname)(g)
    lines = sum(to_yaml(d).count("\n") + 1 for d in docs)
    if lines < MIN_LINES:  # small objects ship with their config in real charts
        docs.append(g.configmap(max(4, MIN_LINES - lines)))
    return g, tname, docs


def render(seed: int, index: int) -> tuple[str, str, list[str]]:
    """Return (relative path, text, kinds) of file ``index``; depends only on (seed, index).

    A draw whose size falls outside MIN_LINES..MAX_LINES is drawn again (deterministically), so sizes stay
    chart-like without clipping documents."""
    for attempt in range(20):
        g, tname, docs = _build(seed, index, attempt)
        if MIN_LINES <= sum(to_yaml(d).count("\n") + 1 for d in docs) <= MAX_LINES:
            break
    parts = [to_yaml(d) for d in docs]
    header = ""
    if g.r.random() < 0.35:
        header = f"---\n# Source: {g.team}/templates/{tname}.yaml\n"
    elif g.r.random() < 0.2:
        header = f"# {g.name}: managed by {g.team}; do not edit by hand\n"
    text = header + "---\n".join(parts)
    ext = ".yml" if g.r.random() < 0.15 else ".yaml"
    rel = f"{g.team}-{index // FILES_PER_DIR:03d}/{index:05d}-{g.name}-{tname}{ext}"
    return rel, text, _kinds(docs)


def generate(out_dir: Path, n: int, seed: int = 1) -> Counter[str]:
    """Write ``n`` manifests under ``out_dir`` (emptied first); returns the count of documents per kind."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    kinds: Counter[str] = Counter()
    for i in range(n):
        rel, text, file_kinds = render(seed, i)
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        kinds.update(file_kinds)
    return kinds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--n", type=int, default=10_000, help="number of files (default 10000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--stats", action="store_true", help="print kinds and line-count statistics")
    args = ap.parse_args(argv)
    if args.n < 1:
        ap.error("--n must be >= 1")
    kinds = generate(args.out_dir, args.n, args.seed)
    print(f"wrote {args.n} files to {args.out_dir}", file=sys.stderr)
    if args.stats:
        sizes = sorted(p.read_text().count("\n") for p in args.out_dir.rglob("*.y*ml"))
        print(f"lines: min {sizes[0]} median {sizes[len(sizes) // 2]} max {sizes[-1]}; "
              f"objects per kind (List items counted too): {dict(kinds.most_common())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
