"""CSA-3.1.2.1: tenancy and data sensitivity are written on the workload, in one vocabulary."""

from __future__ import annotations

from collections.abc import Iterator

from mamori.model import Severity, SourceKind, Workload
from mamori.model import resources as r
from mamori.rules.registry import Context, Hit, Scope, hit, rule

C = "CSA-3.1.2.1"


@rule(id="MAM-TEN-001", title="Tenancy or data-classification label missing", severity=Severity.LOW, controls=[C],
      scope=Scope.WORKLOAD, sources=[SourceKind.KUBERNETES, SourceKind.COMPOSE, SourceKind.DOCKER],
      remediation="Label every workload with the organisation's tenancy and data-classification labels "
                  "(names set by `required-labels` in the policy).")
def required_labels(ctx: Context, w: Workload) -> Iterator[Hit]:
    """Placement on suitably isolated hosts and audit both start from these labels."""
    have = set(w.labels) | set(w.template_labels)
    missing = [name for name in ctx.settings.required_labels if name not in have]
    if missing:
        yield hit(w.labels_loc or w.loc, f"{w.ident.kind} {w.ident.name!r} lacks label(s) {', '.join(missing)}")


@rule(id="MAM-TEN-002", title="Workload in the default namespace", severity=Severity.LOW, controls=[C],
      scope=Scope.WORKLOAD, sources=[SourceKind.KUBERNETES],
      remediation="Give each tenant/application its own namespace and set `metadata.namespace`.",
      refs=["trivy:KSV-0110", "checkov:CKV_K8S_21", "kubescape:C-0061", "kube-linter:use-namespace"])
def default_namespace(ctx: Context, w: Workload) -> Iterator[Hit]:
    """The default namespace mixes tenants and carries no isolation policy of its own."""
    ns = w.namespace
    if ns is not None and ns.value in (None, "", "default"):
        how = "is in the default namespace" if ns.explicit else "sets no namespace (default)"
        yield hit(ns, f"{w.ident.kind} {w.ident.name!r} {how}")


NAMESPACED = (r.Service, r.Secret, r.ServiceAccount, r.Role, r.RoleBinding, r.ConfigMap, r.Ingress)


@rule(id="MAM-TEN-003", title="Object in the default namespace", severity=Severity.LOW, controls=[C],
      scope=Scope.RESOURCE, types=NAMESPACED,
      remediation="Put the object in the namespace of the tenant/application it belongs to.",
      refs=["checkov:CKV_K8S_21", "kube-linter:use-namespace"])
def default_namespace_object(ctx: Context, res: r.Resource) -> Iterator[Hit]:
    """Services, secrets and roles in the default namespace are shared by everyone who can reach it."""
    meta = res.meta
    if isinstance(res, r.Role | r.RoleBinding) and res.cluster:
        return
    if (meta.ident.kind, meta.ident.name) in (("ServiceAccount", "default"), ("Service", "kubernetes")):
        return
    if meta.ident.namespace in (None, "", "default"):
        yield hit(meta.loc, f"{meta.ident.kind} {meta.ident.name!r} is in the default namespace")


@rule(id="MAM-TEN-004", title="Sensitive workload without placement constraints", severity=Severity.MEDIUM,
      controls=[C, "CSA-3.1.8.5", "CSA-3.1.3.3"], scope=Scope.WORKLOAD, sources=[SourceKind.KUBERNETES],
      remediation="Pin workloads whose data-classification is sensitive to suitably secured nodes (nodeSelector or "
                  "node affinity to a dedicated, tainted node pool) or to a sandboxed runtimeClassName.")
def sensitive_placement(ctx: Context, w: Workload) -> Iterator[Hit]:
    """The point of classification labels is placement: sensitive data must not share a node with anyone's pods."""
    label = ctx.settings.classification_label
    value = (w.template_labels.get(label) or w.labels.get(label) or "").lower()
    if value not in ctx.settings.sensitive_classifications:
        return
    pinned = w.extra.get("node_selector")
    sandbox = w.extra.get("runtime_class")
    if (pinned is None or not pinned.value) and (sandbox is None or not sandbox.value):
        yield hit(w.labels_loc or w.loc, f"{w.ident.kind} {w.ident.name!r} is labelled {label}={value} but may be "
                                         f"scheduled on any node")
