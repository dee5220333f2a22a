"""``mamori admission``: install the Kubernetes admission webhook (manifests and certificates)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click

from mamori.enforce.certs import DEFAULT_CA_DAYS, DEFAULT_DAYS, MAX_CA_DAYS, MAX_DAYS, Issued

MAX_POLICY = 512 * 1024  # a ConfigMap holds at most 1 MiB, policies are a few KiB


def _fail(message: str) -> NoReturn:
    click.echo(f"mamori: {message}", err=True)
    sys.exit(2)


def _ca(ca_cert: str | None, ca_key: str | None) -> Issued | None:
    """The CA from ``--ca-cert``/``--ca-key``, or None to generate one."""
    from mamori.enforce.certs import load_ca, read_pem

    if bool(ca_cert) != bool(ca_key):
        raise click.UsageError("--ca-cert and --ca-key go together")
    if not ca_cert or not ca_key:
        return None
    issued = Issued(read_pem(ca_cert, "CA certificate"), read_pem(ca_key, "CA key"))
    load_ca(issued.cert_pem, issued.key_pem)
    return issued


@click.group()
def admission() -> None:
    """Kubernetes admission webhook: manifests to install it, certificates to serve it."""


@admission.command()
@click.option("--image", required=True, metavar="REF",
              help="mamori container image, pinned by digest (REGISTRY/mamori@sha256:...).")
@click.option("-n", "--namespace", default="mamori", show_default=True, help="Namespace to install into.")
@click.option("--policy", "policy_file", type=click.Path(dir_okay=False),
              help="Policy file to put in the ConfigMap (default: the built-in defaults, written out).")
@click.option("--failure-policy", type=click.Choice(["Fail", "Ignore"], case_sensitive=False), default="Fail",
              show_default=True, help="What the API server does when mamori cannot answer: refuse or admit.")
@click.option("--timeout", type=click.IntRange(1, 30), default=5, show_default=True,
              help="Webhook timeoutSeconds (1..30).")
@click.option("--replicas", type=click.IntRange(2, 50), default=2, show_default=True)
@click.option("--days", type=click.IntRange(1, MAX_DAYS), default=DEFAULT_DAYS, show_default=True,
              help="Lifetime of the serving certificate.")
@click.option("--ca-cert", type=click.Path(dir_okay=False), help="Sign with this CA instead of a new one.")
@click.option("--ca-key", type=click.Path(dir_okay=False), help="Key of --ca-cert (unencrypted PEM).")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write to FILE (mode 0600: it holds the serving key) instead of stdout.")
def manifests(image: str, namespace: str, policy_file: str | None, failure_policy: str, timeout: int, replicas: int,
              days: int, ca_cert: str | None, ca_key: str | None, output: str | None) -> None:
    """Print the YAML that runs mamori as a validating and mutating webhook.

    Namespace, ServiceAccount, policy ConfigMap, TLS Secret, Deployment, Service,
    PodDisruptionBudget, NetworkPolicy and the two webhook configurations. The output
    contains the serving certificate's private key: pipe it to `kubectl apply -f -`
    or write it with --output.
    """
    from mamori.enforce.certs import CertError, service_names, serving_bundle, write_private
    from mamori.enforce.manifests import SERVICE, ManifestError, Options, default_policy, render
    from mamori.policy.config import ConfigError, load_policy

    try:
        ca = _ca(ca_cert, ca_key)
        if policy_file:
            policy = load_policy(policy_file)
            with open(policy_file, encoding="utf-8") as fh:
                text = fh.read(MAX_POLICY + 1)
            if len(text) > MAX_POLICY:
                _fail(f"{policy_file} is larger than {MAX_POLICY} bytes")
            exempt = policy.enforcement.exempt_namespaces
            labels = policy.enforcement.mutate.default_labels
        else:
            text, exempt, labels = default_policy(namespace), (), {}
        bundle = serving_bundle(service_names(SERVICE, namespace), days=days,
                                ca=ca)
        opts = Options(image=image, certs=bundle, policy_text=text, namespace=namespace,
                       failure_policy=failure_policy.capitalize(), timeout=timeout, replicas=replicas,
                       exempt_namespaces=exempt, labels=dict(labels))
        yaml_text = render(opts)
    except (CertError, ManifestError, ConfigError) as exc:
        _fail(str(exc))
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"cannot read {policy_file}: {getattr(exc, 'strerror', None) or exc}")
    if "@sha256:" not in image:
        click.echo(f"mamori: warning: {image} is not pinned by digest; a re-pushed tag would change what runs "
                   "the admission control", err=True)
    if output:
        try:
            write_private(Path(output), yaml_text.encode())
        except OSError as exc:
            _fail(f"cannot write {output}: {exc.strerror or exc}")
        click.echo(f"mamori: manifests written to {output}", err=True)
    else:
        click.echo(yaml_text, nl=False)


@admission.command()
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Directory for ca.crt, tls.crt and tls.key (0600).")
@click.option("--dns", multiple=True, metavar="NAME",
              help="DNS name in the certificate (repeatable; default: the mamori Service's names).")
@click.option("--ip", multiple=True, metavar="ADDR", help="IP address in the certificate (repeatable).")
@click.option("-n", "--namespace", default="mamori", show_default=True,
              help="Namespace of the Service, for the default names.")
@click.option("--days", type=click.IntRange(1, MAX_DAYS), default=DEFAULT_DAYS, show_default=True)
@click.option("--ca-cert", type=click.Path(dir_okay=False), help="Sign with this CA instead of a new one.")
@click.option("--ca-key", type=click.Path(dir_okay=False), help="Key of --ca-cert (unencrypted PEM).")
def cert(out_dir: str, dns: tuple[str, ...], ip: tuple[str, ...], namespace: str, days: int, ca_cert: str | None,
         ca_key: str | None) -> None:
    """Write a serving certificate, its key and the CA that signed it.

    For `mamori serve` outside a cluster and for tests, e.g.
    `mamori admission cert --out tls --dns localhost --ip 127.0.0.1`.
    """
    from mamori.enforce.certs import CertError, service_names, serving_bundle, write_bundle
    from mamori.enforce.manifests import SERVICE

    try:
        ca = _ca(ca_cert, ca_key)
        names = list(dns) if dns or ip else service_names(SERVICE, namespace)
        bundle = serving_bundle(names, ip, days, ca=ca)
        paths = write_bundle(Path(out_dir), bundle)
    except CertError as exc:
        _fail(str(exc))
    click.echo(f"mamori: wrote {', '.join(str(p) for p in paths)} ({', '.join([*names, *ip])}; {days} days)",
               err=True)


@admission.command(name="ca")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Directory for ca.crt and ca.key (0600).")
@click.option("--days", type=click.IntRange(1, MAX_CA_DAYS), default=DEFAULT_CA_DAYS, show_default=True)
def ca_cmd(out_dir: str, days: int) -> None:
    """Create a CA to keep, so that serving certificates can be renewed without a new caBundle."""
    from mamori.enforce.certs import CertError, new_ca, write_private

    try:
        ca = new_ca(days=days)
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "ca.crt").write_bytes(ca.cert_pem)
        write_private(out / "ca.key", ca.key_pem)
    except (CertError, OSError) as exc:
        _fail(str(getattr(exc, "strerror", None) or exc))
    click.echo(f"mamori: wrote {out / 'ca.crt'} and {out / 'ca.key'} ({days} days); keep ca.key offline", err=True)
