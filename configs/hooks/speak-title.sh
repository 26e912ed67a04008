#!/bin/sh
# A flatcast terminal hook (README, "Hooks"): reads each new directive's
# title aloud in Mandarin, drills and tests announced as such.
#   [[hooks]]
#   on = "directive"
#   command = ["/usr/local/lib/flatcast/hooks/speak-title.sh"]
#   timeout_s = 60
# Needs espeak-ng (Debian package espeak-ng) and a sound device.
set -eu
case "$FLATCAST_STATUS" in
  ACTUAL) kind="新指令" ;;
  EXERCISE) kind="演练指令" ;;
  *) kind="测试消息" ;;
esac
[ "${FLATCAST_WITHDRAWN:-0}" = 1 ] && kind="已撤回的指令"
[ "$FLATCAST_VERSION" != 1 ] && kind="$kind（第${FLATCAST_VERSION}版）"
exec espeak-ng -v cmn "$kind：$FLATCAST_TITLE"
