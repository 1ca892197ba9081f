#!/usr/bin/env bash
# Does the DVC remote hold every file the committed dvc.lock and .dvc files reference?
# Run on each push to main (.github/workflows/main-remote-check.yml) so that every PR has
# base results to pull and compare with; `make check-remote` runs it locally.
#
# `dvc status --cloud` compares the local cache with the remote without downloading data.
# On a fresh CI runner the cache is empty, so an object the remote holds shows as
# "deleted" (remote only) and one it lacks as "missing"; "new" (local cache only) means
# it was never pushed. A directory whose .dir listing is absent from the remote cannot be
# listed, so DVC only warns about it on stderr: that warning counts as missing too.
# Environment: as scripts/cml-pr.sh (ci-lib.sh: credentials, STACKSEG_REMOTE_*).
set -euo pipefail
PROG=check-remote
# shellcheck source=scripts/ci-lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/ci-lib.sh"

configure_remote
err="$(mktemp)"
trap 'rm -f "$err"' EXIT
if ! status="$(dvc status --cloud --json 2>"$err")"; then
	cat "$err" >&2
	die "cannot query remote '$REMOTE': check credentials, endpoint, bucket and network (error above)"
fi
cat "$err" >&2

absent="$(
	printf '%s' "$status" | python -c '
import json, sys
status = json.loads(sys.stdin.read() or "{}")
for path, state in sorted(status.items()):
    if state in ("missing", "new"):
        print(f"{path} ({state})")
'
)"
if grep -q "do not exist neither locally nor on remote" "$err"; then
	absent="${absent:+$absent$'\n'}a directory listing (.dir object, see the warning above)"
fi
if [ -n "$absent" ]; then
	printf '%s\n' "$absent" | sed 's/^/  /' >&2
	die "remote '$REMOTE' lacks files of the committed results: whoever ran 'dvc repro' must run 'dvc push'"
fi
say "remote '$REMOTE' holds every file that dvc.lock and the .dvc files reference"
