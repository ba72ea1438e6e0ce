#!/usr/bin/env bash
# The test suite: every crate's tests, including co-simulation under Icarus and the Verilator and
# Yosys checks of the emitted Verilog. Installs the tools first when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# --no-fail-fast: one failing test binary does not hide the others.
cargo test --workspace --no-fail-fast "$@"
