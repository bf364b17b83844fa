#!/usr/bin/env bash
# The GPU check, in one command on a machine with an NVIDIA GPU, in about 5 minutes:
#   1. a fresh virtual environment with this project and torch from the default index (on Linux x86_64
#      that is a CUDA build; a CPU-only build here would make step 2 refuse to start);
#   2. each task (MRI->CT, impute, inpaint, forecast) once on CUDA and once on the CPU on the same real
#      inputs (Colin27 for MRI->CT, a real brain case for the others, 181x217x181 at 1 mm), through the
#      library, plus the command line itself with --device cuda;
#   3. wall time and peak GPU memory per task, and whether CUDA (bf16/fp16 autocast) and CPU (float32)
#      agree: per output volume, mean |difference| <= 2% of the range and 99th percentile <= 10%
#      (benchmarks/gpu_check.py states and applies them); growth masks identical.
# Exit status 0 when every task agrees, 1 otherwise, 2 when no GPU is usable, 124 past the time limit.
#
# Usage: benchmarks/gpu_check.sh [--cpu-only] [--venv DIR] [--no-install] [--size N|XxYxZ] [--tasks T ...] [--json PATH]
#   --cpu-only    the CPU half alone (no GPU needed): each task once on the CPU, its time
#   --venv DIR    the virtual environment to make or use (default .venv-gpu)
#   --no-install  use DIR as it is (e.g. --venv .venv --no-install on a machine already set up)
# Needs the real data (../shared/data or $DIFFUSIONSYNTH_DATA) and Debian's mricron-data (Colin27).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv-gpu
install=1
devices="cpu cuda"
extra=()
limit_s=${GPU_CHECK_LIMIT_S:-300}
while [ $# -gt 0 ]; do
    case $1 in
        --cpu-only) devices="cpu" ;;
        --venv) venv=$2; shift ;;
        --no-install) install=0 ;;
        --size) extra+=(--size "$2"); shift ;;
        --json) extra+=(--json "$2"); shift ;;
        --tasks) shift; tasks=(); while [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; do tasks+=("$1"); shift; done; extra+=(--tasks "${tasks[@]}"); continue ;;
        *) echo "error: unknown option $1 (see the header of $0)" >&2; exit 2 ;;
    esac
    shift
done

started=$(date +%s)
if [ ! -f /usr/share/mricron/templates/ch2.nii.gz ]; then
    sudo=$([ "$(id -u)" -eq 0 ] || echo sudo)
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq mricron-data
fi
if [ "$install" -eq 1 ]; then
    python3 -m venv "$venv"
    . "$venv/bin/activate"
    python -m pip install --quiet --upgrade pip
    if [ "$devices" = "cpu" ]; then
        python -m pip install --quiet torch==2.13.0  # resolves to a local CPU build, as the README's install
    else
        python -m pip install --quiet torch  # the default index: a CUDA build on Linux x86_64
    fi
    python -m pip install --quiet -e .
else
    . "$venv/bin/activate"
fi
echo "installed in $(( $(date +%s) - started )) s; torch $(python -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda, "GPU:", torch.cuda.is_available())')"
[ "$devices" = "cpu" ] || nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

remaining=$(( limit_s - ($(date +%s) - started) ))
[ "$remaining" -gt 30 ] || remaining=30
# shellcheck disable=SC2086  # $devices is a list of words
status=0
timeout "$remaining" python benchmarks/gpu_check.py --devices $devices ${extra[@]+"${extra[@]}"} || status=$?
echo "gpu_check: $(( $(date +%s) - started )) s in all, exit $status"
exit $status
