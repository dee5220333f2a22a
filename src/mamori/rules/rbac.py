"""CSA-3.1.8.7 (and 3.1.7 forensics): access to containers is narrow, named and audited."""

from __future__ import annotations

from collections.abc import Iterator

from mamori.model import Severity, Workload
from mamori.model import resources as r
from mamori.rules.index import namespace_of
from mamori.rules.registry import Context, Hit, Scope, hit, rule

C = "CSA-3.1.8.7"
READ = frozenset({"get", "list", "watch", "*"})


def _grants(rule_: r.PolicyRule, resources: set[str], verbs: set[str], groups: tuple[str, ...] = ("", "*")) -> bool:
    """The rule names one of ``resources`` explicitly with one of ``verbs`` (or ``*`` verbs).

    A ``*`` resource is MAM-RBAC-001's finding; reporting it again here would double-count.
    """
    if not any(g in groups for g in rule_.api_groups):
        return False
    if not (set(rule_.resources) & resources):
        return False
    return bool(set(rule_.verbs) & (verbs | {"*"}))


@rule(id="MAM-RBAC-001", title="Wildcard in RBAC rule", severity=Severity.HIGH, controls=[C], scope=Scope.RESOURCE,
      types=[r.Role],
      remediation="List the exact apiGroups, resources and verbs the subject needs instead of `*`.",
      refs=["checkov:CKV_K8S_49", "kube-linter:wildcard-in-rules"])
def wildcard(ctx: Context, role: r.Role) -> Iterator[Hit]:
    """A wildcard grants every current and future resource or verb, including ones added by CRDs later."""
    for pr in role.rules:
        where = [n for n, vals in (("verbs", pr.verbs), ("resources", pr.resources), ("apiGroups", pr.api_groups))
                 if "*" in vals]
        if where:
            yield hit(pr.loc, f"{role.meta.ident.kind} {role.meta.ident.name!r} uses `*` in {', '.join(where)}")


EXEC_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection", "impersonate"})


@rule(id="MAM-RBAC-002", title="Right to exec into pods", severity=Severity.HIGH, controls=[C, "CSA-3.1.7.3"],
      scope=Scope.RESOURCE, types=[r.Role],
      remediation="Remove `pods/exec`; give break-glass access through an audited procedure.",
      refs=["trivy:KSV-0053", "kubescape:C-0002"])
def exec_pods(ctx: Context, role: r.Role) -> Iterator[Hit]:
    """Exec into a pod bypasses the image's integrity and the application's own access control."""
    for pr in role.rules:
        if _grants(pr, {"pods/exec"}, set(EXEC_VERBS)):
            yield hit(pr.loc, f"{role.meta.ident.kind} {role.meta.ident.name!r} allows exec into pods")


@rule(id="MAM-RBAC-013", title="Right to attach to pods", severity=Severity.MEDIUM, controls=[C, "CSA-3.1.7.3"],
      scope=Scope.RESOURCE, types=[r.Role],
      remediation="Remove `pods/attach`; attaching to a container's console is as powerful as exec.")
def attach_pods(ctx: Context, role: r.Role) -> Iterator[Hit]:
    """Attach gives the container's stdin and stdout: an interactive way in, outside the application's audit."""
    for pr in role.rules:
        if _grants(pr, {"pods/attach"}, {"create", "get"}):
            yield hit(pr.loc, f"{role.meta.ident.kind} {role.meta.ident.name!r} allows attaching to pods")


MANAGE = frozenset({"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "impersonate"})


@rule(id="MAM-RBAC-003", title="Cluster-wide access to Secrets", severity=Severity.HIGH,
      controls=[C, "CSA-3.1.10.3"], scope=Scope.RESOURCE, types=[r.Role],
      remediation="Do not grant cluster-wide rights on secrets; mount the one secret a workload needs instead.",
      refs=["trivy:KSV-0041", "kubescape:C-0015"])
def cluster_secrets(ctx: Context, role: r.Role) -> Iterator[Hit]:
    """Secrets of every namespace include service-account tokens bound to cluster-admin."""
    if not role.cluster:
        return
    for pr in role.rules:
        if _grants(pr, {"secrets"}, set(MANAGE)):
            yield hit(pr.loc, f"ClusterRole {role.meta.ident.name!r} grants {', '.join(pr.verbs)} on secrets in "
                              f"every namespace")


@rule(id="MAM-RBAC-012", title="Right to read Secrets in a namespace", severity=Severity.MEDIUM,
      controls=[C, "CSA-3.1.10.3"], scope=Scope.RESOURCE, types=[r.Role],
      remediation="Do not grant get/list/watch on secrets; mount the one secret a workload needs instead.",
      refs=["kubescape:C-0015"])
def read_secrets(ctx: Context, role: r.Role) -> Iterator[Hit]:
    """Listing secrets hands over every credential of the namespace."""
    if role.cluster:
        return
    for pr in role.rules:
        if _grants(pr, {"secrets"}, set(READ)):
            yield hit(pr.loc, f"Role {role.meta.ident.name!r} can read the namespace's secrets")


@rule(id="MAM-RBAC-004", title="Binding to cluster-admin", severity=Severity.HIGH, controls=[C],
      scope=Scope.RESOURCE, types=[r.RoleBinding],
      remediation="Bind a role with only the rights the subject needs; keep cluster-admin for break-glass use.",
      refs=["kube-linter:cluster-admin-role-binding", "polaris:clusterrolebindingClusterAdmin",
            "kubescape:C-0035"])
def cluster_admin(ctx: Context, b: r.RoleBinding) -> Iterator[Hit]:
    """cluster-admin can do anything to anything, including rewriting its own audit trail."""
    if b.role_kind == "ClusterRole" and b.role_name.value == "cluster-admin":
        who = ", ".join(f"{s.kind} {s.name}" for s in b.subjects) or "no subject"
        yield hit(b.role_name, f"{b.meta.ident.kind} {b.meta.ident.name!r} grants cluster-admin to {who}")


@rule(id="MAM-RBAC-005", title="Privilege-escalation verbs in RBAC", severity=Severity.HIGH, controls=[C],
      scope=Scope.RESOURCE, types=[r.Role],
      remediation="Remove `impersonate`, `escalate` and `bind`; they let a subject grant itself any right.",
      refs=[])
def escalation_verbs(ctx: Context, role: r.Role) -> Iterator[Hit]:
    """impersonate/escalate/bind let a subject become anyone or grant itself any role."""
    for pr in role.rules:
        bad = sorted(set(pr.verbs) & {"impersonate", "escalate", "bind"})
        if bad:
            yield hit(pr.loc, f"{role.meta.ident.kind} {role.meta.ident.name!r} grants {', '.join(bad)}")


@rule(id="MAM-RBAC-006", title="Right to delete pod logs", severity=Severity.MEDIUM,
      controls=[C, "CSA-3.1.7.3", "CSA-3.1.3.2"], scope=Scope.RESOURCE, types=[r.Role],
      remediation="Do not grant delete on pods/log; evidence must outlive an intrusion.",
      refs=["trivy:KSV-0042", "kubescape:C-0031"])
def delete_evidence(ctx: Context, role: r.Role) -> Iterator[Hit]:
    """Deleting logs is how an intruder removes the evidence forensics needs."""
    for pr in role.rules:
        if _grants(pr, {"pods/log"}, {"delete", "deletecollection"}):
            yield hit(pr.loc, f"{role.meta.ident.kind} {role.meta.ident.name!r} can delete pod logs")


@rule(id="MAM-RBAC-007", title="Anonymous or unauthenticated subject bound", severity=Severity.CRITICAL,
      controls=[C, "CSA-3.1.4.2"], scope=Scope.RESOURCE, types=[r.RoleBinding],
      remediation="Remove `system:anonymous`, `system:unauthenticated` (and broad `system:authenticated`) "
                  "subjects.")
def anonymous_binding(ctx: Context, b: r.RoleBinding) -> Iterator[Hit]:
    """Rights given to anonymous users are rights given to the internet."""
    for s in b.subjects:
        if s.name in ("system:anonymous", "system:unauthenticated"):
            yield hit(b.meta.loc, f"{b.meta.ident.kind} {b.meta.ident.name!r} grants {b.role_name.value!r} to {s.name}")


@rule(id="MAM-RBAC-008", title="Default service account used", severity=Severity.LOW, controls=[C],
      scope=Scope.WORKLOAD,
      remediation="Create a dedicated ServiceAccount per workload and set `serviceAccountName`.",
      refs=["kube-linter:default-service-account"])
def default_sa(ctx: Context, w: Workload) -> Iterator[Hit]:
    """Sharing the default account merges the rights of every workload in the namespace."""
    sa = w.service_account
    if sa is not None and sa.value in (None, "", "default"):
        yield hit(sa, f"{w.ident.kind} {w.ident.name!r} runs as the default service account")


@rule(id="MAM-RBAC-009", title="Service account token mounted", severity=Severity.MEDIUM,
      controls=[C, "CSA-3.1.10.1"], scope=Scope.WORKLOAD,
      remediation="Set `automountServiceAccountToken: false` unless the workload calls the Kubernetes API.",
      refs=["checkov:CKV_K8S_38", "polaris:automountServiceAccountToken", "kubescape:C-0034"])
def token_automount(ctx: Context, w: Workload) -> Iterator[Hit]:
    """A mounted API token lets anyone who gets into the container talk to the API server."""
    at = w.automount_token
    if at is None or at.value is False:
        return
    if at.value is None:
        name = w.service_account.value if w.service_account is not None and w.service_account.value else "default"
        sa = ctx.index.service_accounts.get((namespace_of(w.ident.namespace), name))
        if sa is not None and sa.automount.value is False:
            return
    yield hit(at, f"{w.ident.kind} {w.ident.name!r} mounts a service account token")


@rule(id="MAM-RBAC-010", title="Default service account automounts its token", severity=Severity.MEDIUM,
      controls=[C, "CSA-3.1.10.1"], scope=Scope.RESOURCE, types=[r.ServiceAccount],
      remediation="Set `automountServiceAccountToken: false` on the `default` ServiceAccount of every namespace.",
      refs=["checkov:CKV_K8S_41", "kubescape:C-0034"])
def default_sa_automount(ctx: Context, sa: r.ServiceAccount) -> Iterator[Hit]:
    """Every pod that names no account gets the default one's token unless it is switched off there."""
    if sa.meta.ident.name == "default" and sa.automount.value is not False:
        yield hit(sa.automount, "the default ServiceAccount does not disable token automounting")


@rule(id="MAM-RBAC-011", title="Role bound to a default service account", severity=Severity.MEDIUM, controls=[C],
      scope=Scope.RESOURCE, types=[r.RoleBinding],
      remediation="Bind roles to a dedicated ServiceAccount, never to `default`.",
      refs=["checkov:CKV_K8S_42"])
def default_sa_binding(ctx: Context, b: r.RoleBinding) -> Iterator[Hit]:
    """Rights bound to `default` are given to every pod in the namespace that names no account."""
    for s in b.subjects:
        if s.kind == "ServiceAccount" and s.name == "default":
            yield hit(b.meta.loc, f"{b.meta.ident.kind} {b.meta.ident.name!r} grants {b.role_name.value!r} to the "
                                  f"default service account")
