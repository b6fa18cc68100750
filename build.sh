#!/usr/bin/env bash
# HpcRpa set-up, build, demo and tests on a fresh Debian 12 machine. Idempotent.
#   ./build.sh            set up (packages) and build everything
#   ./build.sh demo       set up, build, run the main demo (hpcrpa demo)
#   ./build.sh test       set up, build, run every test project; last line: "N passed, N failed"
#   ./build.sh hpcrpa ARGS  run the CLI (Release build)
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
CONFIG=${CONFIG:-Release}
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

need_apt=()
command -v dotnet >/dev/null 2>&1 || { echo "error: the .NET 10 SDK (dotnet) is required and not on PATH" >&2; exit 1; }
command -v patchelf >/dev/null 2>&1 || need_apt+=(patchelf)
command -v g++ >/dev/null 2>&1 || need_apt+=(g++)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "build.sh: installing ${need_apt[*]} (apt)" >&2
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "build.sh: please install: ${need_apt[*]} (e.g. sudo apt-get install ${need_apt[*]})" >&2
  fi
fi

build() {
  dotnet build "$ROOT/HpcRpa.sln" -c "$CONFIG" -nologo -v quiet -clp:ErrorsOnly "$@"
}

cli() {
  dotnet "$ROOT/src/HpcRpa.Cli/bin/$CONFIG/net10.0/hpcrpa.dll" "$@"
}

run_tests() {
  local log; log=$(mktemp)
  local rc=0
  set +e
  dotnet test "$ROOT/HpcRpa.sln" -c "$CONFIG" --no-build -nologo -v quiet \
      --logger "console;verbosity=normal" >"$log" 2>&1
  local test_rc=$?
  set -e
  # Failures (each with the lines that follow it: the message and the top of the stack) and per-project
  # summaries; the passing tests' own lines stay in the log only.
  awk '/^[[:space:]]+Failed [^:]/ { f = 1; n = 0 } f && /^[[:space:]]+Passed |^Test Run|^Total tests/ { f = 0 } f && n++ < 14' "$log"
  grep -E '^Test Run|^\s+(Total tests|Passed|Failed|Skipped):|error|Exception' "$log" | grep -vE '^\s*(Passed|Failed) [^:]' || true
  # Sum the per-project summaries ("     Passed: 126", "     Failed: 0").
  local passed failed skipped projects
  passed=$( (grep -E '^\s+Passed:\s+[0-9]+' "$log" || true) | awk '{s+=$2} END {print s+0}')
  failed=$( (grep -E '^\s+Failed:\s+[0-9]+' "$log" || true) | awk '{s+=$2} END {print s+0}')
  skipped=$( (grep -E '^\s+Skipped:\s+[0-9]+' "$log" || true) | awk '{s+=$2} END {print s+0}')
  projects=$( (grep -E '^Total tests:' "$log" || true) | wc -l)
  if grep -qE 'error (CS|MSB|NU)[0-9]+|Test Run Aborted|The active test run was aborted' "$log"; then rc=1; fi
  [ "$test_rc" -eq 0 ] || rc=1
  [ "$failed" -eq 0 ] || rc=1
  [ "$projects" -gt 0 ] || { echo "no test project reported a result" >&2; rc=1; }
  rm -f "$log"
  echo "test projects with tests: $projects"
  if [ "$skipped" -gt 0 ]; then echo "$passed passed, $failed failed, $skipped skipped"; else echo "$passed passed, $failed failed"; fi
  return $rc
}

cmd=${1:-build}
case "$cmd" in
  build) build ;;
  demo) build; shift; cli demo "$@" ;;
  test) build; run_tests ;;
  hpcrpa) shift; cli "$@" ;;
  *) echo "usage: ./build.sh [build|demo|test|hpcrpa ARGS]" >&2; exit 2 ;;
esac
