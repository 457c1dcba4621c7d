#!/usr/bin/env bash
# crash-safety.sh: SIGKILL a GitStore writer at random moments and check the repository after every kill.
#
#   Tests/scripts/crash-safety.sh [ROUNDS]        (default 50; run from anywhere)
#
# Each round starts `gitstore-stress` committing in a loop (3 loose files per commit; every fifth round 80 files per
# commit, whose blobs GitStore writes on several threads), kills it with SIGKILL after a random delay, then checks:
#   - `git fsck --strict` exits 0 and reports no error or warning (dangling objects of a killed commit are fine);
#   - the ref resolves to a commit whose whole tree is readable (`git ls-tree -r`, `git cat-file` of every blob);
#   - the history only grows (the new tip contains the previous one).
# A ref lock left by a kill between taking and releasing it is counted and removed, as one does for git; temporary
# object files a kill leaves (never referenced) are counted at the end.
# KEEP=1 keeps the scratch repository for a look afterwards. Exits 1 on the first inconsistency. Needs the debug build (`swift build`); builds gitstore-stress when missing.
set -euo pipefail

ROUNDS="${1:-50}"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BIN="$ROOT/.build/debug/gitstore-stress"
if [[ ! -x "$BIN" ]]; then
  (cd "$ROOT" && swift build --product gitstore-stress >/dev/null)
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/gitstore-crash.XXXXXX")"
REPO="$WORK/repo.git"
REF="refs/heads/main"
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
git init -q --bare -b main "$REPO"
trap '[[ -n "${KEEP:-}" ]] || rm -rf "$WORK"' EXIT

kills=0 locks=0 previous="" failures=0
fail() { echo "FAIL round $round: $*" >&2; failures=$((failures + 1)); exit 1; }

for round in $(seq 1 "$ROUNDS"); do
  # Mostly small stage commits; every fifth round commits 80 files at a time (blobs written
  # on several threads).
  files=3 bytes=2000
  if (( round % 5 == 0 )); then files=80 bytes=20000; fi
  "$BIN" "$REPO" --ref "$REF" --count 0 --files-per-commit "$files" --bytes "$bytes" --label "r$round" \
    >"$WORK/out.$round" 2>&1 &
  pid=$!
  # 50..650 ms: past process start-up, into the commit loop.
  delay_ms=$(( 50 + RANDOM % 600 ))
  sleep "$(printf '0.%03d' "$delay_ms")"
  if kill -KILL "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
  wait "$pid" 2>/dev/null || true

  if [[ -e "$REPO/$REF.lock" ]]; then
    locks=$((locks + 1))
    rm -f "$REPO/$REF.lock"
  fi

  fsck_out="$(git -C "$REPO" fsck --strict --no-dangling --no-progress 2>&1)" || fail "git fsck failed: $fsck_out"
  if [[ -n "$fsck_out" ]]; then fail "git fsck reported: $fsck_out"; fi

  if tip="$(git -C "$REPO" rev-parse --verify -q "$REF")"; then
    [[ "$(git -C "$REPO" cat-file -t "$tip")" == "commit" ]] || fail "$REF is not a commit"
    git -C "$REPO" ls-tree -r "$REF" >"$WORK/tree" || fail "tree of $REF unreadable"
    # Read every blob of the tip's tree.
    awk '{print $3}' "$WORK/tree" | git -C "$REPO" cat-file --batch-check >"$WORK/check" || fail "cat-file failed"
    if grep -q missing "$WORK/check"; then fail "missing blob: $(grep missing "$WORK/check" | head -1)"; fi
    if [[ -n "$previous" ]]; then
      git -C "$REPO" merge-base --is-ancestor "$previous" "$tip" || fail "history lost: $previous not in $tip"
    fi
    previous="$tip"
  fi
  commits="$(git -C "$REPO" rev-list --count "$REF" 2>/dev/null || echo 0)"
  printf 'round %3d: killed after %3d ms, %4d commits, %5d files in tree\n' \
    "$round" "$delay_ms" "$commits" "$(wc -l <"$WORK/tree" 2>/dev/null || echo 0)"
done

# libgit2 writes each loose object as `<final name>_git2_XXXXXX` first, then links it into place.
temps="$(find "$REPO/objects" -type f \( -name 'tmp*' -o -name '*_git2_*' \) | wc -l)"
echo "crash-safety: $ROUNDS rounds, $kills kills, $locks stale ref locks removed, fsck clean every round," \
  "$(git -C "$REPO" rev-list --count "$REF") commits reachable, $temps temporary files left by kills"
