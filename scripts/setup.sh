#!/usr/bin/env bash
# Installs the EDA tools NeuroTrainer drives, from the distribution's packages, when missing:
# Yosys, Icarus Verilog, Verilator and OpenSTA. Safe to run again: it installs nothing present.
set -euo pipefail

need=()
command -v yosys >/dev/null 2>&1 || need+=(yosys)
command -v iverilog >/dev/null 2>&1 || need+=(iverilog)
command -v verilator >/dev/null 2>&1 || need+=(verilator)
command -v sta >/dev/null 2>&1 || need+=(opensta)

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found. Install a Rust toolchain first (https://rustup.rs), then run this again." >&2
  exit 1
fi

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi

echo "setup: installing ${need[*]} from the distribution's packages"
if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO="sudo -n"
else
  cat >&2 <<MSG
setup: these packages are missing: ${need[*]}
setup: installing them needs root. Run as root, or with password-less sudo, or install them yourself:
    sudo apt-get update && sudo apt-get install -y ${need[*]}
MSG
  exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup: no apt-get here (not Debian/Ubuntu). Install these with your package manager: ${need[*]}" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
if ! $SUDO apt-get install -y -qq "${need[@]}" >/dev/null; then
  echo "setup: apt-get could not install: ${need[*]}." >&2
  echo "setup: OpenSTA is packaged as 'opensta' in Debian 12 and later; elsewhere build it from source." >&2
  exit 1
fi
for tool in yosys iverilog verilator sta; do
  command -v "$tool" >/dev/null 2>&1 || { echo "setup: $tool still missing after installation" >&2; exit 1; }
done
echo "setup: done"
