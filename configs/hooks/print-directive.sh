#!/bin/sh
# A flatcast terminal hook (README, "Hooks"): prints each new directive on
# the office's printer as `flatcast-subscriber show` renders it.
#   [[hooks]]
#   on = "directive"
#   command = ["/usr/local/lib/flatcast/hooks/print-directive.sh", "/etc/flatcast/subscriber/520102016001.toml"]
# Needs CUPS (`lp`). The directive's JSON on standard input is not used.
set -eu
config="$1"
[ "${FLATCAST_WITHDRAWN:-0}" = 1 ] && exit 0
flatcast-subscriber show "$FLATCAST_DIRECTIVE_ID" --config "$config" |
  lp -t "$FLATCAST_DIRECTIVE_ID v$FLATCAST_VERSION"
