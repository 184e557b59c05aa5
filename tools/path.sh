# shellcheck shell=bash
# Sourced by a recipe's stage script: make the toolkit importable from the recipe directory.
# Each recipe links path.sh -> tools/path.sh; its wedefense link leads to the repository root.
WEDEFENSE_ROOT=$(cd -P "$(dirname "${BASH_SOURCE[0]}")/wedefense/.." && pwd)
export WEDEFENSE_ROOT
export PYTHONPATH="$WEDEFENSE_ROOT${PYTHONPATH:+:$PYTHONPATH}"
# Use the environment `make` prepared, unless the user already activated one of their own.
if [ -z "${VIRTUAL_ENV:-}" ] && [ -x "$WEDEFENSE_ROOT/.venv/bin/python" ]; then
  export PATH="$WEDEFENSE_ROOT/.venv/bin:$PATH"
fi
export PYTHONUNBUFFERED=1
