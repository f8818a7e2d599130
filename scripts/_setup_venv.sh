# shellcheck shell=bash
# Shared setup for scripts/test.sh and scripts/demo.sh (and `make install`):
# creates .venv with a Python >= 3.11 and installs the project with its dev extras.
#
# Sourced: defines setup_venv and the VENV/VENV_PYTHON variables; the caller has already
# cd'd to the repository root and set `set -euo pipefail`.
# Run directly (`bash scripts/_setup_venv.sh`): does the setup and exits.
#
# The install is skipped while pyproject.toml is unchanged since the last successful one:
# .venv/.pyproject.sha256 holds the sha256 of the pyproject.toml that was installed.
# Messages go to stderr so a caller's own output (the demo's) stays clean.

VENV=".venv"
VENV_PYTHON="$VENV/bin/python"
VENV_STAMP="$VENV/.pyproject.sha256"

# pip must never wait for an answer (CI runs with no stdin).
export PIP_NO_INPUT=1
export PIP_DISABLE_PIP_VERSION_CHECK=1

_setup_log() { printf '%s\n' "$*" >&2; }

_setup_die() {
    printf '\nERROR: %s\n' "$*" >&2
    exit 1
}

# True when the interpreter $1 exists and is Python >= 3.11.
_python_ok() {
    command -v "$1" >/dev/null 2>&1 &&
        "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' >/dev/null 2>&1
}

# Prints the first Python >= 3.11 found: $PYTHON if set, then python3, python3.13 ... 3.11.
_find_python() {
    local candidate
    for candidate in ${PYTHON:+"$PYTHON"} python3 python3.13 python3.12 python3.11; do
        if _python_ok "$candidate"; then
            printf '%s\n' "$candidate"
            return 0
        fi
    done
    return 1
}

_sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    else
        "$VENV_PYTHON" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$1"
    fi
}

setup_venv() {
    if [[ -e "$VENV" ]] && ! _python_ok "$VENV_PYTHON"; then
        _setup_die "$VENV exists but $VENV_PYTHON is missing or older than Python 3.11; remove $VENV and run again."
    fi

    if [[ ! -e "$VENV" ]]; then
        local python
        python="$(_find_python)" ||
            _setup_die "no Python >= 3.11 found (tried \$PYTHON, python3, python3.13, python3.12, python3.11)."
        _setup_log "Creating $VENV with $python ($("$python" --version 2>&1))"
        "$python" -m venv "$VENV"
    fi

    local want have
    want="$(_sha256_of pyproject.toml)"
    have="$(cat "$VENV_STAMP" 2>/dev/null || true)"
    if [[ "$want" == "$have" && -x "$VENV/bin/orchestrator" ]]; then
        _setup_log "$VENV is up to date with pyproject.toml"
        return 0
    fi

    _setup_log "Installing the project into $VENV: pip install -e '.[dev]'"
    rm -f "$VENV_STAMP"
    "$VENV_PYTHON" -m pip install --quiet -e '.[dev]' >&2
    printf '%s\n' "$want" >"$VENV_STAMP"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    set -euo pipefail
    cd "$(dirname "${BASH_SOURCE[0]}")/.."
    setup_venv
fi
