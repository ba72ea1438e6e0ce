#!/usr/bin/env bash
# The main job on a configuration (default: configs/default.toml): generate the Verilog, simulate
# a training step against the golden model, lint, synthesize; train every example network and the
# benchmark networks for one step on the whole module (its Verilog under Verilator, every tensor
# checked); then report area, timing, power and each network's GOPS and GOPS/W.
# Arguments go to `ntgen run`, `ntgen train` and `ntgen ppa` (e.g. --config configs/small.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release -q -p ntgen
target/release/ntgen run --out out "$@"

# The first training run of a configuration builds its Verilator simulation (minutes; cached).
summaries=()
for net in examples/*.toml; do
    name=$(basename "$net" .toml)
    # A convolution's weight-gradient reduction (batch x output pixels) must fit the lane buffers.
    case $name in
        cnn*) batch=4 ;;
        *) batch=16 ;;
    esac
    echo "== training $name (batch $batch, one step)"
    target/release/ntgen train --net "$net" --batch "$batch" --steps 1 --out "out/train/$name" "$@"
    summaries+=(--network-summary "out/train/$name/summary.json")
done
# The benchmark networks (layers that fill the default module's lanes), where they fit.
for net in examples/bench/*.toml; do
    name=bench_$(basename "$net" .toml)
    if ! target/release/ntgen compile --net "$net" --batch 16 "$@" >/dev/null 2>&1; then
        echo "== skipping $name: it does not fit this configuration (ntgen compile --net $net says why)"
        continue
    fi
    echo "== training $name (batch 16, one step)"
    target/release/ntgen train --net "$net" --batch 16 --steps 1 --out "out/train/$name" "$@"
    summaries+=(--network-summary "out/train/$name/summary.json")
done
target/release/ntgen ppa --out out/ppa "${summaries[@]}" "$@"
