#!/usr/bin/env bash
# The `vllm` engine on a real GPU: replay of the built-in suite and throughput, with and without
# unlearning. NOT run in CI, and not run where Lethe is developed (no GPU there): run it by hand
# on a Linux machine with a CUDA GPU and report its output.
#
# Prerequisites (once, in a fresh virtual environment on the GPU machine, from the repo root):
#   pip install -e '.[vllm,dev]'          # vLLM brings its own CUDA torch; no constraints.txt
#   a model vLLM can serve, on local disk (lethe serve runs offline), e.g.
#   huggingface-cli download Qwen/Qwen2.5-0.5B-Instruct --local-dir /models/Qwen2.5-0.5B-Instruct
#
# Usage:
#   MODEL=/models/Qwen2.5-0.5B-Instruct bash benchmarks/gpu/vllm_check.sh
#
# Settings (environment; defaults in brackets):
#   MODEL         the model directory (or a Hugging Face name already in the local cache) [required]
#   OUT           where logs, the replay report and throughput lines go [./vllm-check-out]
#   PORT_MAIN     the gateway with unlearning [8101]
#   PORT_BARE     the gateway without unlearning (LETHE_UNLEARNING=false) [8102]
#   GPU_UTIL      each server's vLLM gpu_memory_utilization; both servers share one GPU [0.40]
#   SAMPLES       replay: temperature-1 samples per forget probe [4]
#   MAX_TOKENS    replay: completion budget per probe [48]
#   REQUESTS      throughput: requests per endpoint [64]
#   CONCURRENCY   throughput: requests in flight [16]
#   MAX_NUM_SEQS  sequences each server decodes together (LETHE_MAX_BATCH_SIZE, at least 8) [64]
#   READY_TIMEOUT seconds to wait for each server's /readyz [900]
#   ENGINE        [vllm]; `ENGINE=hf` rehearses this script on a CPU with the hf engine (the
#                 embedded SmolLM2 when MODEL is unset): no GPU or vLLM needed, the numbers
#                 then say nothing about vLLM
#
# What it does:
#   1. starts `lethe serve` with LETHE_ENGINE=vllm twice: with unlearning (admin key set) and
#      without (LETHE_UNLEARNING=false), one after the other, each waiting for /readyz;
#   2. `lethe replay builtin` against the first with the second as the baseline (leak rate,
#      retain accuracy, over-refusal side by side in $OUT/replay/report.md), targets kept;
#   3. benchmarks/gpu/throughput.py against both with the same prompts (half of them about the
#      registered targets) and prints tokens/s of each and their ratio;
#   4. stops both servers (also on Ctrl-C or an error).
set -euo pipefail
cd "$(dirname "$0")/../.."

ENGINE=${ENGINE:-vllm}
if [[ $ENGINE == vllm ]]; then
    : "${MODEL:?set MODEL to a model directory (see the comments at the top)}"
fi
MODEL=${MODEL:-}
OUT=${OUT:-./vllm-check-out}
PORT_MAIN=${PORT_MAIN:-8101}
PORT_BARE=${PORT_BARE:-8102}
GPU_UTIL=${GPU_UTIL:-0.40}
SAMPLES=${SAMPLES:-4}
MAX_TOKENS=${MAX_TOKENS:-48}
REQUESTS=${REQUESTS:-64}
CONCURRENCY=${CONCURRENCY:-16}
MAX_NUM_SEQS=${MAX_NUM_SEQS:-64}
READY_TIMEOUT=${READY_TIMEOUT:-900}
ADMIN_KEY=${LETHE_ADMIN_KEY:-vllm-check-admin}
PY=${PYTHON:-python}

if [[ $ENGINE == vllm ]]; then
    command -v nvidia-smi >/dev/null || { echo "no nvidia-smi: this check needs a CUDA GPU" >&2; exit 2; }
    "$PY" -c "import vllm" 2>/dev/null || { echo "vLLM is not installed: pip install -e '.[vllm,dev]'" >&2; exit 2; }
fi
command -v lethe >/dev/null || { echo "the lethe command is not installed: pip install -e ." >&2; exit 2; }

mkdir -p "$OUT"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT INT TERM

start() {  # start NAME PORT UNLEARNING: one gateway on the vllm engine, logs in $OUT/NAME.log
    local name=$1 port=$2 unlearning=$3
    local model_env=()
    [[ -n $MODEL ]] && model_env=(LETHE_MODEL="$MODEL")
    env LETHE_ENGINE="$ENGINE" "${model_env[@]}" LETHE_UNLEARNING="$unlearning" \
    LETHE_ADMIN_KEY="$ADMIN_KEY" LETHE_DATA_DIR="$OUT/$name-data" \
    LETHE_VLLM_GPU_MEMORY_UTILIZATION="$GPU_UTIL" LETHE_MAX_BATCH_SIZE="$MAX_NUM_SEQS" \
        lethe serve --port "$port" >"$OUT/$name.log" 2>&1 &
    PIDS+=("$!")
    local pid=$! waited=0
    until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "the $name server exited; the end of $OUT/$name.log:" >&2
            tail -n 40 "$OUT/$name.log" >&2
            exit 1
        fi
        if (( waited >= READY_TIMEOUT )); then
            echo "the $name server was not ready after ${READY_TIMEOUT}s (see $OUT/$name.log)" >&2
            exit 1
        fi
        sleep 5
        waited=$((waited + 5))
    done
    echo "== $name ready on :$port after ${waited}s"
}

if [[ $ENGINE == vllm ]]; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    "$PY" -c "import vllm, torch; print('vllm', vllm.__version__, 'torch', torch.__version__)"
fi
echo "== engine $ENGINE, model ${MODEL:-embedded default}"

start main "$PORT_MAIN" true   # one at a time: vLLM profiles the GPU's free memory at start
start bare "$PORT_BARE" false

echo "== replay builtin (main: unlearning; baseline: bare)"
lethe replay builtin --base-url "http://127.0.0.1:$PORT_MAIN/v1" --admin-key "$ADMIN_KEY" \
    --baseline-url "http://127.0.0.1:$PORT_BARE/v1" --samples "$SAMPLES" \
    --max-tokens "$MAX_TOKENS" --concurrency "$CONCURRENCY" --keep-targets --fresh \
    --no-progress --out "$OUT/replay"

echo "== throughput (same prompts on both; half about the targets)"
for name in main bare; do
    port=$PORT_MAIN
    [[ $name == bare ]] && port=$PORT_BARE
    "$PY" benchmarks/gpu/throughput.py --base-url "http://127.0.0.1:$port/v1" --label "$name" \
        --requests "$REQUESTS" --concurrency "$CONCURRENCY" --max-tokens 128 \
        --names-from "http://127.0.0.1:$PORT_MAIN" --admin-key "$ADMIN_KEY" \
        | tee "$OUT/throughput-$name.json"
done
"$PY" - "$OUT" <<'PYEOF'
import json, sys
out = sys.argv[1]
main, bare = (json.load(open(f"{out}/throughput-{n}.json")) for n in ("main", "bare"))
ratio = main["tokens_per_s"] / bare["tokens_per_s"]
print(f"tokens/s with unlearning {main['tokens_per_s']}, without {bare['tokens_per_s']}, "
      f"ratio {ratio:.3f}")
PYEOF
echo "== report: $OUT/replay/report.md"
