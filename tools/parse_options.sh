#!/usr/bin/env bash
# Sourced by recipe scripts after they define their default option variables:
#     stage=1
#     . tools/parse_options.sh
# Turns "--some-name value" or "--some_name=value" into some_name=value, but only for variables the
# script already defined, so a typo is an error rather than a silently ignored option. An option
# whose default is an integer takes only integers. Anything that is not an option (say
# "stop_stage 3", missing its "--") is an error too: nothing is silently left unparsed.
# "--help" prints the script's $help_message (if set), then every option with its current value.

_po_print_help() {
  [ -n "${help_message:-}" ] && printf '%s\n' "$help_message"
  # the options are the variables the sourcing script assigns before it sources this file
  local script=${BASH_SOURCE[2]:-$0} name
  # recipes cd into their own directory first: a relative path is then one from $OLDPWD
  [ -f "$script" ] || script=${OLDPWD:-.}/$script
  [ -f "$script" ] || return 0
  echo "options (current values):"
  # shellcheck disable=SC2013  # one identifier per line
  for name in $(sed -n -e '/parse_options\.sh/q' \
                  -e 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p' "$script" | awk '!seen[$0]++'); do
    [ "$name" != help_message ] && [ -n "${!name+set}" ] || continue
    if [[ ${!name} =~ ^[A-Za-z0-9_./:=+-]+$ ]]; then
      printf '  --%s %s\n' "$name" "${!name}"
    else
      printf "  --%s '%s'\n" "$name" "${!name}"
    fi
  done
  return 0
}

while [ $# -gt 0 ]; do
  case "$1" in
    --help|-h)
      _po_print_help
      exit 0
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
      echo "$0: unexpected argument '$1': options are --name value (see --help)" >&2
      exit 1
      ;;
  esac
  _po_name=${_po_name#--}
  _po_name=${_po_name//-/_}
  if ! [[ $_po_name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || [ -z "${!_po_name+set}" ]; then
    echo "$0: unknown option --${_po_name} (see --help)" >&2
    exit 1
  fi
  if [[ ${!_po_name} =~ ^-?[0-9]+$ ]] && ! [[ $_po_value =~ ^-?[0-9]+$ ]]; then
    echo "$0: option --${_po_name} takes an integer, got '$_po_value'" >&2
    exit 1
  fi
  printf -v "$_po_name" '%s' "$_po_value"
done
unset _po_name _po_value
true
