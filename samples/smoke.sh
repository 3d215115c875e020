#!/usr/bin/env bash
# Runs every sample (each samples/<Name>/<Name>.csproj) once in its quick mode, `--smoke`, in Release, each under a
# time limit, and fails if any of them exits non-zero or times out.
#   samples/smoke.sh              build and run every sample
#   samples/smoke.sh --no-build   run what an earlier `dotnet build -c Release` built
# Prints "ok <name>" or "FAIL <name>" per sample and ends with "samples: N passed, N failed".
# Each sample's output goes to artifacts/samples/<name>.log; a failing sample's log tail is printed too.
set -euo pipefail

cd "$(dirname "$0")/.."
limit="${SAMPLE_TIMEOUT_SECONDS:-120}"
build_flag=()
for arg in "$@"; do
  case "$arg" in
    --no-build) build_flag=(--no-build) ;;
    *) echo "usage: samples/smoke.sh [--no-build]" >&2; exit 2 ;;
  esac
done

logs="artifacts/samples"
mkdir -p "$logs"

passed=0
failed=0
shopt -s nullglob
for project in samples/*/*.csproj; do
  name="$(basename "$(dirname "$project")")"
  log="$logs/$name.log"
  if timeout --kill-after=10 "$limit" \
       dotnet run --project "$project" -c Release "${build_flag[@]}" -- --smoke </dev/null >"$log" 2>&1; then
    echo "ok $name"
    passed=$((passed + 1))
  else
    rc=$?
    echo "FAIL $name"
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
      echo "  (timed out after ${limit} s)"
    else
      echo "  (exit code $rc)"
    fi
    tail -n 20 "$log" | sed 's/^/  | /'
    failed=$((failed + 1))
  fi
done

echo "samples: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
