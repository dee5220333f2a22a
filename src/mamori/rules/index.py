"""Look-ups across the whole scan, computed once, for rules that relate objects."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from mamori.model import ScanSet, SourceKind, Workload
from mamori.model import resources as r

DEFAULT_NS = "default"


def namespace_of(ns: str | None) -> str:
    return ns or DEFAULT_NS


@dataclass
class ScanIndex:
    """Namespaces, policies and references found in one scan."""

    k8s_workloads: list[Workload] = field(default_factory=list)
    namespaces: set[str] = field(default_factory=set)  # every namespace that appears
    netpol_namespaces: set[str] = field(default_factory=set)
    netpols: dict[str, list[r.NetworkPolicy]] = field(default_factory=lambda: defaultdict(list))
    limitrange_namespaces: set[str] = field(default_factory=set)
    quota_namespaces: set[str] = field(default_factory=set)
    service_accounts: dict[tuple[str, str], r.ServiceAccount] = field(default_factory=dict)
    hpa_targets: dict[tuple[str, str, str], r.HorizontalPodAutoscaler] = field(default_factory=dict)
    pdbs: dict[str, list[r.PodDisruptionBudget]] = field(default_factory=lambda: defaultdict(list))
    has_k8s: bool = False

    @classmethod
    def build(cls, scan: ScanSet) -> ScanIndex:
        ix = cls()
        for w in scan.workloads:
            if w.ident.source is SourceKind.KUBERNETES:
                ix.has_k8s = True
                ix.k8s_workloads.append(w)
                ix.namespaces.add(namespace_of(w.ident.namespace))
        for res in scan.resources:
            ix.has_k8s = True
            ns = namespace_of(res.meta.ident.namespace)
            if isinstance(res, r.Namespace):
                ix.namespaces.add(res.meta.ident.name)
            elif isinstance(res, r.NetworkPolicy):
                ix.netpol_namespaces.add(ns)
                ix.netpols[ns].append(res)
            elif isinstance(res, r.LimitRange):
                ix.limitrange_namespaces.add(ns)
            elif isinstance(res, r.ResourceQuota):
                ix.quota_namespaces.add(ns)
            elif isinstance(res, r.ServiceAccount):
                ix.service_accounts[(ns, res.meta.ident.name)] = res
            elif isinstance(res, r.HorizontalPodAutoscaler) and res.target_kind and res.target_name:
                ix.hpa_targets[(ns, res.target_kind, res.target_name)] = res
            elif isinstance(res, r.PodDisruptionBudget):
                ix.pdbs[ns].append(res)
        return ix

    def hpa_for(self, w: Workload) -> r.HorizontalPodAutoscaler | None:
        return self.hpa_targets.get((namespace_of(w.ident.namespace), w.ident.kind, w.ident.name))

    def pdb_for(self, w: Workload) -> r.PodDisruptionBudget | None:
        labels = w.template_labels
        for pdb in self.pdbs.get(namespace_of(w.ident.namespace), []):
            if pdb.selector and all(labels.get(k) == v for k, v in pdb.selector.items()):
                return pdb
        return None
