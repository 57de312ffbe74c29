#!/usr/bin/env bash
# web/run_tests.sh: the web UI's whole check, for tools/test.sh and CI.
#   npm ci (from package-lock.json) -> typecheck + build (web/dist) -> Vitest -> Playwright e2e
#   in headless chromium against a real `easel serve`.
# Env: EASEL_BIN (default <repo>/build/easel), CHROMIUM_PATH (default /usr/bin/chromium),
#      WEB_SKIP_E2E=1 to run everything but the browser tests (they then count as skipped),
#      WEB_SKIP_CI=1 to reuse node_modules as they are, WEB_SCREENSHOTS=DIR to write the
#      screenshots there instead of web/screenshots/ (committed).
# Prints one summary line last; exits non-zero when any step fails.
set -uo pipefail
cd "$(dirname "$0")"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 CI=1 NO_COLOR=1 FORCE_COLOR=0
export EASEL_BIN="${EASEL_BIN:-$(cd .. && pwd)/build/easel}"
LOG_DIR="${WEB_LOG_DIR:-$(mktemp -d /tmp/easel-web-tests.XXXXXX)}"
mkdir -p "$LOG_DIR"
status=0
summary=()

step() {  # step NAME COMMAND...: runs it, logs to $LOG_DIR/NAME.log, records ok/FAIL
  local name=$1
  shift
  echo "== web: $name"
  if "$@" >"$LOG_DIR/$name.log" 2>&1; then
    return 0
  fi
  echo "-- web: $name failed; the end of $LOG_DIR/$name.log:"
  tail -n 60 "$LOG_DIR/$name.log"
  status=1
  return 1
}

if [[ "${WEB_SKIP_CI:-}" == 1 && -d node_modules ]]; then
  summary+=("deps reused")
elif step npm-ci npm ci --no-audit --no-fund; then
  summary+=("npm ci ok")
else
  summary+=("npm ci FAIL")
  echo "web: ${summary[*]} -> FAIL"
  exit 1
fi

if step build npm run build; then summary+=("build ok"); else summary+=("build FAIL"); fi

if step vitest npx vitest run; then
  summary+=("vitest $(grep -Eo 'Tests +[0-9]+ passed' "$LOG_DIR/vitest.log" | grep -Eo '[0-9]+') passed")
else
  summary+=("vitest FAIL ($(grep -Eo 'Tests +.*' "$LOG_DIR/vitest.log" | head -1))")
fi

if [[ "${WEB_SKIP_E2E:-}" == 1 ]]; then
  summary+=("e2e skipped (WEB_SKIP_E2E=1)")
elif [[ ! -x "$EASEL_BIN" ]]; then
  echo "web: EASEL_BIN=$EASEL_BIN is not an executable: build easel, or set EASEL_BIN"
  summary+=("e2e FAIL (no easel binary)")
  status=1
elif [[ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]]; then
  echo "web: no chromium at ${CHROMIUM_PATH:-/usr/bin/chromium}: apt-get install chromium, or set CHROMIUM_PATH"
  summary+=("e2e FAIL (no chromium)")
  status=1
elif EASEL_E2E_LOG="$LOG_DIR/easel-serve.log" step e2e npx playwright test; then
  summary+=("e2e $(grep -Eo '[0-9]+ passed' "$LOG_DIR/e2e.log" | tail -1)")
else
  summary+=("e2e FAIL ($(grep -Eo '[0-9]+ (passed|failed)' "$LOG_DIR/e2e.log" | tr '\n' ' '))")
fi

result=PASS
[[ $status -ne 0 ]] && result=FAIL
echo "web: ${summary[*]} -> $result (logs in $LOG_DIR)"
exit $status
