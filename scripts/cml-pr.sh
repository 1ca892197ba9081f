#!/usr/bin/env bash
# The pull-request report job up to the `cml comment` call: .github/workflows/cml.yml runs
# this script, `make cml-report BASE=origin/main` runs it locally, and tests/ci runs it end
# to end, so the CI path and the tested path are the same code.
#
#   scripts/cml-pr.sh --base REV [--demo] [--out report.md] [--images-dir report]
#                     [--text-out FILE] [--reproduce-base auto|always|never]
#
# Default (remote) path: configure the DVC remote from the environment (see ci-lib.sh),
#   `dvc pull` -- an empty or partial remote (first run, results never pushed) is a warning
#   and `dvc repro` recomputes what is missing; a remote that cannot be read (credentials,
#   endpoint, bucket, network) is an error --, then `dvc repro`, then `stackseg report`.
# --demo: no remote at all (PRs from forks get no secrets): demo data if data/raw is empty,
#   `dvc repro`, report with a note. Nothing is pulled or pushed.
# --text-out FILE: also write a text-only report (tables, no images) for job summaries.
# --reproduce-base: auto (default) retrains the base on this runner, in a temporary git
#   worktree, when its results are not comparable with the PR's: not trained in portable
#   mode (train.reproducibility) and not on the PR's machine type, as the two model cards
#   say (python -m stackseg.report.base_repro). Costs one more `dvc repro` of the base.
#   always / never: regardless of the cards.
# The report's headline verdicts read the base commit's noise estimate (`stackseg noise`)
#   from the DVC remote's stackseg-noise/ prefix; this job never computes one (N trainings):
#   none cached, or the demo path (no remote), gives "no noise estimate" verdicts.
#
# Who commits what (docs/ci.md): the developer who ran `dvc repro` commits
# dvc.lock and runs `dvc push`; CI never commits (a base retrained here is a local commit in
# a temporary worktree, never pushed). It only comments, and (remote path, in cml.yml after
# the comment) pushes what its own `dvc repro` produced.
set -euo pipefail
PROG=cml-pr
# shellcheck source=scripts/ci-lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/ci-lib.sh"

# --help: the comment block at the top of this file
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; }

base="" mode=remote out=report.md images=report text_out="" reproduce=auto
while [ $# -gt 0 ]; do
	case "$1" in
	--base) base="${2:?--base needs a revision}"; shift 2 ;;
	--demo) mode=demo; shift ;;
	--out) out="${2:?--out needs a file}"; shift 2 ;;
	--images-dir) images="${2:?--images-dir needs a directory}"; shift 2 ;;
	--text-out) text_out="${2:?--text-out needs a file}"; shift 2 ;;
	--reproduce-base) reproduce="${2:?--reproduce-base needs auto, always or never}"; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) die "unknown argument '$1' (see --help)" ;;
	esac
done
[ -n "$base" ] || die "--base REV is required (the branch the PR merges into, e.g. origin/main)"
case "$reproduce" in auto | always | never) ;; *) die "--reproduce-base '$reproduce': use auto, always or never" ;; esac
# before any long step: a shallow clone (actions/checkout's default) lacks the base branch
git rev-parse --verify --quiet "$base^{commit}" >/dev/null ||
	die "base revision '$base' not found: fetch it (actions/checkout needs fetch-depth: 0) or check the name"

notes=()
pull_log="" worktree=""
cleanup() {
	if [ -n "$pull_log" ]; then rm -f "$pull_log"; fi
	if [ -n "$worktree" ]; then
		git worktree remove --force "$worktree" || warn "could not remove the worktree $worktree"
		rm -rf "$(dirname "$worktree")"
	fi
}
trap cleanup EXIT

# Retrain REV on this runner in the git worktree DIR (its own code: PYTHONPATH=its
# src/), commit its results there (a detached commit no branch holds) and print that
# commit. The worktree uses this checkout's DVC cache, so the report reads both sides from
# one cache; its raw data is this checkout's when REV tracks the same (data/raw.dvc
# unchanged), else pulled (remote path) or regenerated (demo path).
reproduce_in_worktree() { # REV DIR
	local rev="$1" worktree="$2" cache
	git worktree add --quiet --detach "$worktree" "$rev" >&2
	cache="$(dvc cache dir)"
	if [ -f .dvc/config.local ]; then cp .dvc/config.local "$worktree/.dvc/config.local"; fi
	(
		cd "$worktree"
		dvc cache dir --local "$cache"
		if [ -d src/stackseg ]; then export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"; fi
		if [ "$(git -C "$OLDPWD" rev-parse "HEAD:./$raw.dvc" 2>/dev/null)" = "$(git rev-parse "HEAD:./$raw.dvc" 2>/dev/null)" ]; then
			mkdir -p "$raw" && cp -a "$OLDPWD/$raw/." "$raw/"
		elif [ "$mode" = remote ]; then
			dvc pull "$raw.dvc"
		else
			stackseg synth
		fi
		dvc repro
	) >&2
	if git -C "$worktree" diff --quiet HEAD; then
		git -C "$worktree" rev-parse HEAD # retrained to the very same results
	else
		git -C "$worktree" -c user.name=cml-pr -c user.email=cml-pr@localhost \
			commit --quiet --no-verify -a -m "base $rev retrained on this runner" >&2
		git -C "$worktree" rev-parse HEAD
	fi
}

if [ "$mode" = remote ]; then
	configure_remote
	pull_log="$(mktemp)"
	say "dvc pull --allow-missing (objects absent from the remote are recomputed by dvc repro)"
	# --allow-missing tolerates objects the remote does not have; failing to reach or read
	# the remote still makes dvc exit non-zero ("failed to connect to s3 ...").
	if ! dvc pull --allow-missing 2>&1 | tee "$pull_log" >&2; then
		die "dvc pull could not read remote '$REMOTE': check credentials, endpoint, bucket and network (error above)"
	fi
	if grep -q "do not exist neither locally nor on remote" "$pull_log"; then
		warn "remote '$REMOTE' lacks files that dvc.lock or .dvc files reference (first run, or results never pushed): dvc repro recomputes them"
	fi
else
	notes+=("Ran without the DVC remote (PR from a fork, or remote secrets not set): demo data if the repository's raw data was not available; nothing was pulled or pushed.")
fi

raw="$(raw_dir)"
if ! has_stacks "$raw"; then
	say "$raw holds no stacks: writing the demo dataset (stackseg synth)"
	stackseg synth
	if [ -f "$raw.dvc" ] && ! dvc_file_matches "$raw.dvc"; then
		if [ "$mode" = remote ]; then
			die "$raw is not in remote '$REMOTE' and $raw.dvc is not the demo dataset: run 'dvc push $raw.dvc' where the data is"
		fi
		notes+=("$raw.dvc tracks other data than the demo dataset: these results are on the demo data, not comparable with the base.")
	fi
fi

say "dvc repro"
dvc repro

if ! git ls-files --error-unmatch dvc.lock >/dev/null 2>&1; then
	notes+=("dvc.lock is not committed: run \`dvc repro\`, commit dvc.lock and \`dvc push\` (docs/ci.md).")
elif ! git diff --quiet HEAD -- dvc.lock; then
	notes+=("\`dvc repro\` changed dvc.lock: the committed dvc.lock is out of date. Run \`dvc repro\` locally, commit dvc.lock and \`dvc push\`.")
	warn "dvc repro changed dvc.lock: the PR's committed dvc.lock is out of date"
fi

# The base's results as a comparison needs them (docs/ci.md, "Base and PR on one machine")
compare="$base" noise_args=()
decision=""
case "$reproduce" in
always) decision="reproduce: asked for (--reproduce-base always)" ;;
auto) decision="$(python -m stackseg.report.base_repro "$base")" ;;
esac
case "$decision" in
reproduce:*)
	why="${decision#reproduce: }"
	say "retraining the base on this runner ($why): dvc repro in a temporary worktree"
	worktree="$(mktemp -d)/base" # set here, not in the $(...) subshell: cleanup removes it
	compare="$(reproduce_in_worktree "$base" "$worktree")"
	noise_args=(--noise-base "$base")
	notes+=("Base \`$base\` was retrained on this runner before comparing ($why): the comparison is of the change, not of two machines.")
	;;
note:*)
	warn "${decision#note: }"
	notes+=("${decision#note: }.")
	;;
esac

note_args=()
for note in ${notes[@]+"${notes[@]}"}; do note_args+=(--note "$note"); done
text_args=()
if [ -n "$text_out" ]; then text_args=(--text-out "$text_out"); fi
stackseg report --base "$compare" --out "$out" --images-dir "$images" \
	${noise_args[@]+"${noise_args[@]}"} ${note_args[@]+"${note_args[@]}"} ${text_args[@]+"${text_args[@]}"}
say "wrote $out; next in CI: cml comment update --target=pr --publish $out, then dvc push"
