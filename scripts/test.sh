#!/usr/bin/env bash
# Runs every test of the workspace. Installs the system packages the tests need when they are
# missing (PostgreSQL server binaries for the store tests, espeak-ng for the assistant's audio
# round trip, Debian's chromium for the operator page's browser test), so it works on a fresh
# machine.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
if [ -z "${DATABASE_URL:-}" ] && ! ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1; then
  need+=(postgresql)
fi
if ! command -v espeak-ng >/dev/null 2>&1; then
  need+=(espeak-ng)
fi
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  elif [ "${need[*]}" = espeak-ng ]; then
    # Only the audio round trip needs it, and those tests skip with a notice without it.
    echo "note: espeak-ng is not installed; the audio round-trip tests will skip" >&2
  else
    echo "missing system packages: ${need[*]} (install them, or set DATABASE_URL)" >&2
    exit 1
  fi
fi

# The browser test skips itself (with a notice) when chromium is absent, so a non-root run
# without it still passes.
if [ -z "${CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing: chromium"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
  else
    echo "chromium is not installed (not root): the browser test will be skipped" >&2
  fi
fi

bash scripts/setup/llm-server.sh >/dev/null # llama-cpp-python's server + SmolLM2 for the real-LLM tests (they skip without)
bash scripts/setup/mailservers.sh  # Dovecot + Postfix for the IMAP/SMTP mailbox tests
cargo test --workspace --all-features
