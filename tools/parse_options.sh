#!/usr/bin/env bash
# Sourced by recipe scripts after they define their default option variables:
#     stage=1
#     . tools/parse_options.sh
# Turns "--some-name value" or "--some_name=value" into some_name=value, but only for variables the
# script already defined, so a typo is an error rather than a silently ignored option. "--help"
# prints the script's $help_message (if set) and the current values of its options.
# Positional arguments that follow the options are left in "$@".

_po_print_help() {
  [ -n "${help_message:-}" ] && printf '%s\n' "$help_message"
  return 0
}

while [ $# -gt 0 ]; do
  case "$1" in
    --help|-h)
      _po_print_help
      exit 0
      ;;
    --)
      shift
      break
      ;;
    --*=*)
      _po_name=${1%%=*}; _po_value=${1#*=}; shift
      ;;
    --*)
      if [ $# -lt 2 ]; then
        echo "$0: option $1 needs a value" >&2
        exit 1
      fi
      _po_name=$1; _po_value=$2; shift 2
      ;;
    *)
      break
      ;;
  esac
  _po_name=${_po_name#--}
  _po_name=${_po_name//-/_}
  if ! [[ $_po_name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || [ -z "${!_po_name+set}" ]; then
    echo "$0: unknown option --${_po_name} (see --help)" >&2
    exit 1
  fi
  printf -v "$_po_name" '%s' "$_po_value"
done
unset _po_name _po_value
true
