#!/usr/bin/env bash
# The main job on a configuration (default: configs/default.toml): generate the Verilog, simulate
# a training step against the golden model, lint, synthesize, then report area, timing and power.
# Arguments go to both `ntgen run` and `ntgen ppa` (e.g. --config configs/small.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release -q -p ntgen
target/release/ntgen run --out out "$@"
target/release/ntgen ppa --out out/ppa "$@"
