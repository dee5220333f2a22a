"""Settings that rules read: allowlists and names that an organisation chooses."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_REQUIRED_LABELS = ("tenant", "data-classification")
DEFAULT_ALLOWED_CAPABILITIES: tuple[str, ...] = ()
DEFAULT_MONITORING_PATTERNS = (
    "falco", "datadog", "dd-agent", "fluentd", "fluent-bit", "fluentbit", "filebeat",
    "metricbeat", "auditbeat", "packetbeat", "heartbeat", "node-exporter", "node_exporter",
    "cadvisor", "prometheus", "grafana-agent", "alloy", "promtail", "vector", "logstash",
    "splunk", "sumologic", "newrelic", "new-relic", "dynatrace", "oneagent", "sysdig",
    "tetragon", "otel-collector", "opentelemetry-collector", "telegraf", "collectd",
    "elastic-agent", "loki", "signalfx", "instana", "wazuh", "osquery", "tracee", "zabbix",
)


@dataclass(frozen=True, slots=True)
class Settings:
    """Organisation choices consulted by rules; defaults are the CSA-safe ones.

    ``allowed_registries`` empty means no registry allowlist is configured, so the
    registry rule stays quiet rather than guessing an organisation's registries.
    """

    required_labels: tuple[str, ...] = DEFAULT_REQUIRED_LABELS
    allowed_capabilities: tuple[str, ...] = DEFAULT_ALLOWED_CAPABILITIES
    allowed_registries: tuple[str, ...] = ()
    allowed_host_paths: tuple[str, ...] = ()
    monitoring_patterns: tuple[str, ...] = DEFAULT_MONITORING_PATTERNS
    central_log_drivers: tuple[str, ...] = (
        "syslog", "journald", "gelf", "fluentd", "awslogs", "splunk", "gcplogs", "logentries", "etwlogs", "loki",
    )
    min_replicas: int = 2
    classification_label: str = "data-classification"
    sensitive_classifications: tuple[str, ...] = ("confidential", "restricted", "secret", "sensitive", "pii")
