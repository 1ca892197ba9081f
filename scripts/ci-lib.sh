# Shell functions shared by scripts/cml-pr.sh and scripts/check-remote.sh (sourced, not run).
# They use the `dvc`, `python` and `stackseg` first on PATH: the project's .venv under
# `make`, and in CI (the workflows put .venv/bin on PATH after `make install`).

PROG="${PROG:-ci}"

say() { printf '%s: %s\n' "$PROG" "$*" >&2; }

# On GitHub Actions, warnings and errors also become annotations on the run's page.
warn() {
	if [ "${GITHUB_ACTIONS:-}" = true ]; then printf '::warning title=%s::%s\n' "$PROG" "$*"; fi
	printf '%s: warning: %s\n' "$PROG" "$*" >&2
}

die() {
	if [ "${GITHUB_ACTIONS:-}" = true ]; then printf '::error title=%s::%s\n' "$PROG" "$*"; fi
	printf '%s: error: %s\n' "$PROG" "$*" >&2
	exit 1
}

# Point DVC at the remote the environment names, in .dvc/config.local (git-ignored):
#   STACKSEG_REMOTE_URL           optional: use this remote (e.g. s3://bucket/stackseg)
#                                 instead of the default one in .dvc/config
#   STACKSEG_REMOTE_ENDPOINT_URL  optional: S3-compatible endpoint (MinIO, ...); unset for AWS
# Credentials stay in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, or any other
# source boto3 reads); nothing secret is written to disk. Sets REMOTE to the remote's name.
configure_remote() {
	if [ -n "${STACKSEG_REMOTE_URL:-}" ]; then
		dvc remote add --local --force ci "$STACKSEG_REMOTE_URL" >/dev/null
		dvc remote default --local ci >/dev/null
	fi
	if ! REMOTE="$(dvc remote default 2>/dev/null)" || [ -z "$REMOTE" ]; then
		die "no default DVC remote: set STACKSEG_REMOTE_URL or run 'dvc remote add -d NAME URL'"
	fi
	if [ -n "${STACKSEG_REMOTE_ENDPOINT_URL:-}" ]; then
		dvc remote modify --local "$REMOTE" endpointurl "$STACKSEG_REMOTE_ENDPOINT_URL"
	fi
	say "DVC remote: '$REMOTE'"
}

# The raw-data directory from params.yaml (paths.raw), e.g. data/raw.
raw_dir() {
	python -c 'from stackseg.config import load_config; print(load_config().paths.raw)'
}

# Same rule as `make data`: a raw directory "holds stacks" when images/ is not empty.
has_stacks() {
	[ -n "$(ls -A "$1/images" 2>/dev/null)" ]
}

# Save the data a .dvc file tracks into the DVC cache (so `dvc push` can send it), then
# tell whether it is the data the commit references: true when the .dvc file is unchanged.
# (`dvc status` cannot tell: data absent from the cache shows as "not in cache" either way.)
dvc_file_matches() {
	dvc commit --force --quiet "$1" && git diff --quiet -- "$1"
}
