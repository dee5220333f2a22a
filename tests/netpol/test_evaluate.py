"""The evaluator against the Kubernetes NetworkPolicy semantics, pitfalls included."""

from __future__ import annotations

from typing import Any

import pytest

from mamori.netpol.evaluate import Pod, Policy, can_connect, evaluate, parse_policy
from mamori.netpol.selector import PolicyError


def pol(ns: str, spec: dict[str, Any], name: str = "p") -> Policy:
    return parse_policy({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                         "metadata": {"name": name, "namespace": ns}, "spec": spec})


A = Pod("a", "team-a", {"app": "a"}, {"team": "a"})
A2 = Pod("a2", "team-a", {"app": "other"}, {"team": "a"})
B = Pod("b", "team-b", {"app": "b"}, {"team": "b"})
B_APP_A = Pod("b-looks-like-a", "team-b", {"app": "a"}, {"team": "b"})
WEB = Pod("web", "team-a", {"app": "web"}, named_ports={"http": (8080, "TCP"), "dns": (53, "UDP")})


def test_no_policy_means_default_allow_in_both_directions() -> None:
    assert can_connect([], A, B, 80)
    assert evaluate([], A, B, 80).reason == "source not isolated for egress; destination not isolated for ingress"


def test_empty_ingress_list_denies_but_one_empty_rule_allows_all() -> None:
    deny = pol("team-b", {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": []})
    allow_all = pol("team-b", {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}]})
    assert not can_connect([deny], A, B, 80)
    assert can_connect([allow_all], A, B, 80)
    assert can_connect([deny, allow_all], A, B, 80)  # policies add up: any rule of any policy


def test_one_peer_with_both_selectors_is_and_two_peers_are_or() -> None:
    one_peer = pol("team-b", {"podSelector": {}, "ingress": [
        {"from": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "a"}}}]}]})
    two_peers = pol("team-b", {"podSelector": {}, "ingress": [
        {"from": [{"namespaceSelector": {}}, {"podSelector": {"matchLabels": {"app": "a"}}}]}]})
    # app=a in another namespace: both forms allow it
    assert can_connect([one_peer], A, B, 80) and can_connect([two_peers], A, B, 80)
    # app=other in another namespace: only the OR form (namespaceSelector: {} alone = every namespace)
    assert not can_connect([one_peer], A2, B, 80)
    assert can_connect([two_peers], A2, B, 80)


def test_pod_selector_alone_means_the_policy_namespace_only() -> None:
    p = pol("team-b", {"podSelector": {}, "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "a"}}}]}]})
    assert not can_connect([p], A, B, 80)  # app=a, but in team-a
    assert can_connect([p], B_APP_A, B, 80)  # app=a in team-b


def test_namespace_selector_uses_namespace_labels_and_the_name_label() -> None:
    by_label = pol("team-b", {"podSelector": {}, "ingress": [
        {"from": [{"namespaceSelector": {"matchLabels": {"team": "a"}}}]}]})
    by_name = pol("team-b", {"podSelector": {}, "ingress": [
        {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "team-a"}}}]}]})
    for p in (by_label, by_name):
        assert can_connect([p], A, B, 80)
        assert not can_connect([p], B_APP_A, B, 80)


def test_policy_types_default_include_ingress_even_for_an_egress_only_spec() -> None:
    egress_only_by_accident = pol("team-a", {"podSelector": {}, "egress": [{}]})
    assert egress_only_by_accident.types == frozenset({"Ingress", "Egress"})
    assert not can_connect([egress_only_by_accident], B, A, 80)  # ingress isolated, no ingress rule
    explicit = pol("team-a", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{}]})
    assert can_connect([explicit], B, A, 80)


def test_egress_and_ingress_must_both_allow() -> None:
    deny_out = pol("team-a", {"podSelector": {"matchLabels": {"app": "a"}}, "policyTypes": ["Egress"]})
    allow_in = pol("team-b", {"podSelector": {}, "ingress": [{}]})
    v = evaluate([deny_out, allow_in], A, B, 80)
    assert not v.allowed and not v.egress_ok and v.ingress_ok
    assert can_connect([deny_out, allow_in], A2, B, 80)  # deny_out does not select app=other


def test_ports_named_ranges_and_protocols() -> None:
    named = pol("team-a", {"podSelector": {}, "ingress": [{"ports": [{"port": "http"}]}]})
    assert can_connect([named], B, WEB, 8080)
    assert not can_connect([named], B, WEB, 8081)
    assert not can_connect([named], B, A, 8080)  # A has no port called http
    ranged = pol("team-a", {"podSelector": {}, "ingress": [{"ports": [{"port": 8000, "endPort": 8100}]}]})
    assert can_connect([ranged], B, WEB, 8100) and not can_connect([ranged], B, WEB, 8101)
    assert not can_connect([ranged], B, WEB, 8080, "UDP")  # protocol defaults to TCP
    udp = pol("team-a", {"podSelector": {}, "ingress": [{"ports": [{"protocol": "UDP", "port": "dns"}]}]})
    assert can_connect([udp], B, WEB, 53, "UDP") and not can_connect([udp], B, WEB, 53, "TCP")


def test_named_port_in_egress_resolves_on_the_destination() -> None:
    p = pol("team-b", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"ports": [{"port": "http"}]}]})
    assert can_connect([p], B, WEB, 8080)
    assert not can_connect([p], B, A, 8080)


def test_ip_block_with_except_and_pods_never_match_ip_blocks_without_an_ip() -> None:
    p = pol("team-a", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [
        {"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}]}]})
    assert can_connect([p], A, Pod("ext", None, ip="10.2.3.4"), 443)
    assert not can_connect([p], A, Pod("ext", None, ip="10.1.3.4"), 443)
    assert not can_connect([p], A, Pod("ext", None, ip="192.0.2.1"), 443)
    assert not can_connect([p], A, B, 443)


def test_match_expressions() -> None:
    p = pol("team-b", {"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {}, "podSelector": {
        "matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["a"]},
                             {"key": "tier", "operator": "DoesNotExist"}]}}]}]})
    assert not can_connect([p], A, B, 80)
    assert can_connect([p], A2, B, 80)
    assert can_connect([p], Pod("nolabel", "x"), B, 80)  # NotIn matches a missing key
    assert not can_connect([p], Pod("t", "x", {"tier": "1"}), B, 80)


@pytest.mark.parametrize("spec, message", [
    ({"podSelector": {"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["x"]}]}}, "operator"),
    ({"podSelector": {"matchExpressions": [{"key": "a", "operator": "In"}]}}, "at least one value"),
    ({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}]}]},
     "cannot be combined"),
    ({"podSelector": {}, "ingress": [{"ports": [{"port": "http", "endPort": 90}]}]}, "endPort"),
    ({"podSelector": {}, "ingress": [{"ports": [{"port": 80, "protocol": "ICMP"}]}]}, "protocol"),
    ({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "not-a-cidr"}}]}]}, "not a CIDR"),
    ({"podSelector": {}, "policyTypes": ["Both"]}, "policyTypes"),
    ({"podSelector": {}, "ingress": "all"}, "must be a list"),
])
def test_invalid_policies_are_refused_with_a_message(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        pol("ns", spec)
