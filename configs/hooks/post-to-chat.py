#!/usr/bin/python3
"""A flatcast terminal hook (README, "Hooks"): posts each new directive, or
the overdue report, to a chat room's incoming webhook on the office's
network (Mattermost, Rocket.Chat and Zulip's Slack-compatible webhooks take
{"text": ...}).

  [[hooks]]
  on = "directive"
  command = ["/usr/local/lib/flatcast/hooks/post-to-chat.py", "http://chat.office.lan/hooks/abc123"]
  [[hooks]]
  on = "overdue"
  command = ["/usr/local/lib/flatcast/hooks/post-to-chat.py", "http://chat.office.lan/hooks/abc123"]

The event's JSON is on standard input; a failure exits non-zero and the
terminal daemon logs it (the acknowledgement never waits for a hook).
"""
import json
import os
import sys
import urllib.request

STATUS = {"ACTUAL": "", "EXERCISE": "【演练】", "TEST": "【测试】"}


def directive_text(event):
    d = event["directive"]
    lines = [f"{STATUS.get(d.get('status', ''), '')}{d['title']}（{d['id']} 第{d['version']}版）"]
    if event.get("withdrawn"):
        lines[0] = "【已撤回】" + lines[0]
    lines.append(f"发布：{d['issuer_unit']} {d['issuer_department']}")
    for item in d.get("actions", []):
        lines.append(f"- {item.get('what', '')}")
    return "\n".join(lines)


def overdue_text(report):
    own = report.get("own", [])
    below = report.get("children", [])
    lines = [f"逾期：本单位 {len(own)} 项，下级单位 {len(below)} 项"]
    for item in own + below:
        who = "、".join(item.get("unit_names") or item.get("units") or ["本单位"])
        lines.append(f"- {item['title']}（{item['directive_id']}）{item['level']} "
                     f"截止 {item['deadline']}：{who}")
    return "\n".join(lines)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: post-to-chat.py WEBHOOK_URL")
    event = json.load(sys.stdin)
    if os.environ.get("FLATCAST_EVENT") == "overdue":
        text = overdue_text(event)
    else:
        text = directive_text(event)
    request = urllib.request.Request(
        sys.argv[1], data=json.dumps({"text": text}).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        print(f"posted: HTTP {response.status}")


if __name__ == "__main__":
    main()
