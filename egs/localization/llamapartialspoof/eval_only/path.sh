# Sourced by run.sh: make the toolkit importable from this recipe directory.
WEDEFENSE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../../.." && pwd)
export WEDEFENSE_ROOT
export PYTHONPATH="$WEDEFENSE_ROOT${PYTHONPATH:+:$PYTHONPATH}"
# Use the environment `make` prepared, unless the user already activated one of their own.
if [ -z "${VIRTUAL_ENV:-}" ] && [ -x "$WEDEFENSE_ROOT/.venv/bin/python" ]; then
  export PATH="$WEDEFENSE_ROOT/.venv/bin:$PATH"
fi
export PYTHONUNBUFFERED=1
