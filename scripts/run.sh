#!/usr/bin/env bash
# The main job on a configuration (default: configs/default.toml): generate the Verilog, simulate
# a training step against the golden model, lint, synthesize and report into out/.
# Extra arguments go to `ntgen run` (e.g. --config configs/small.toml --vcd).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo run --release -q -p ntgen -- run "$@"
