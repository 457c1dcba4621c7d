#!/usr/bin/env bash
# kill-resume.sh: SIGKILL `flywheel loop` at random moments (mostly in its run stage) and check that
# `flywheel loop --resume` closes the cycle with every task once and the history stays `git fsck --strict` clean.
#
#   Tests/scripts/kill-resume.sh [ROUNDS]        (default 20; run from anywhere; needs the debug build)
#
# Each round: a fresh project that is not the example (a shell agent over 6 tasks, ~0.2-0.8 s each, task t04 crashing),
# `flywheel loop` (loop.yaml: concurrency 2) killed after a random 0.05-2.5 s, then `flywheel loop --resume` (or
# `flywheel loop` when the kill came before the cycle started; nothing when it came after the close). A ref lock the kill left is reported by flywheel with the command that
# clears it; the script clears it the same way and counts it. KEEP=1 keeps the scratch folder. Exits 1 on the first
# inconsistency.
set -euo pipefail

ROUNDS="${1:-20}"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
FW="$ROOT/.build/debug/flywheel"
[[ -x "$FW" ]] || (cd "$ROOT" && swift build --product flywheel >/dev/null)
WORK="$(mktemp -d "${TMPDIR:-/tmp}/flywheel-kill-resume.XXXXXX")"
trap '[[ -n "${KEEP:-}" ]] || rm -rf "$WORK"' EXIT
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null NO_COLOR=1

make_project() {
  local dir="$1"
  mkdir -p "$dir/harness"
  echo "Answer order questions." > "$dir/harness/AGENTS.md"
  cat > "$dir/loop.yaml" <<'YAML'
project: Order desk bot
repository: loop-history
harness: [harness]
tasks: tasks.yaml
agent_cmd: sh agent.sh
run:
  concurrency: 2
  task_timeout: 20
YAML
  { echo "questions:"; for i in 1 2 3 4 5 6; do printf '  - id: t%02d\n    question: "Where is order %d?"\n' "$i" "$i"; done; } > "$dir/tasks.yaml"
  cat > "$dir/agent.sh" <<'SH'
n=${FLYWHEEL_TASK_ID#t}; n=${n#0}
sleep "0.$(( (n * 7) % 4 * 2 + 2 ))"
if [ "$FLYWHEEL_TASK_ID" = t04 ]; then echo "KeyError: 'email'" >&2; exit 3; fi
printf '{"trace_id":"%s","span_id":"%016x","parent_span_id":"","trace_state":"","name":"agent.Sh","kind":"SPAN_KIND_INTERNAL","start_time":"2026-01-01T00:00:00.000000000Z","end_time":"2026-01-01T00:00:01.000000000Z","status":{"code":"STATUS_CODE_OK","message":""},"resource":{"attributes":{"service.name":"sh"}},"scope":{"name":"sh","version":"1"},"attributes":{"inference.project_id":"p","inference.observation_kind":"AGENT","inference.agent_name":"Sh","output.value":"Order %s has shipped."}}\n' "$FLYWHEEL_TRACE_ID" "$n" "$n" > "$FLYWHEEL_TRACE_FILE"
echo "Order $n has shipped."
SH
}

locks=0
for round in $(seq 1 "$ROUNDS"); do
  dir="$WORK/round-$round"
  make_project "$dir"
  delay=$(awk -v s="$RANDOM" 'BEGIN { srand(s); printf "%.2f", 0.05 + rand() * 2.45 }')
  (cd "$dir" && exec "$FW" loop >/dev/null 2>&1) &
  pid=$!
  sleep "$delay"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  cmd=(loop --resume)
  git -C "$dir/loop-history" cat-file -e refs/heads/main:cycles/0001/cycle.json 2>/dev/null || cmd=(loop)
  if git -C "$dir/loop-history" show refs/heads/main:cycles/0001/cycle.json 2>/dev/null | grep -q '"status" : "closed"'; then
    cmd=(log)   # the kill came after the close: nothing to resume
  fi
  set +e
  out="$(cd "$dir" && "$FW" "${cmd[@]}" 2>&1)"; status=$?
  if [[ $status -ne 0 && $status -ne 100 && "$out" == *"rm '"* ]]; then
    # The kill left the ref lock: flywheel names it and the command; do what it says, then resume.
    lock="$(sed -n "s/.*rm '\([^']*\)'.*/\1/p" <<<"$out" | head -1)"
    rm -f "$lock"; locks=$((locks + 1))
    out="$(cd "$dir" && "$FW" "${cmd[@]}" 2>&1)"; status=$?
  fi
  set -e
  if [[ $status -ne 0 && $status -ne 100 ]]; then echo "round $round (killed after ${delay}s): ${cmd[*]} exited $status: $out"; exit 1; fi
  git -C "$dir/loop-history" show refs/heads/main:cycles/0001/cycle.json | grep -q '"status" : "closed"' \
    || { echo "round $round: cycle 1 not closed"; exit 1; }
  tasks="$(git -C "$dir/loop-history" show refs/heads/main:cycles/0001/traces.jsonl | grep -o '"flywheel.task.id":"t[0-9]*"' | sort | uniq -c | awk '{print $1":"$2}' | tr '\n' ' ')"
  expected=""; for i in 1 2 3 4 5 6; do expected+="1:\"flywheel.task.id\":\"t0$i\" "; done
  [[ "$tasks" == "$expected" ]] || { echo "round $round: tasks are not each there once: $tasks"; exit 1; }
  fsck="$(git -C "$dir/loop-history" fsck --strict 2>&1)" || { echo "round $round: git fsck --strict failed: $fsck"; exit 1; }
  if grep -qiE '^(error|warning)' <<<"$fsck"; then echo "round $round: fsck: $fsck"; exit 1; fi
  echo "round $round: killed after ${delay}s, ${cmd[*]} closed the cycle; 6 tasks once; fsck clean"
done
echo "kill-resume: $ROUNDS round(s) passed; $locks stale lock(s) named and cleared"
