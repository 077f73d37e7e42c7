"""Prints the https/http List-Unsubscribe URL of the last email local SES (moto) kept, as a mail
client would find it: `python3 scripts/unsubscribe_link.py ENDPOINT_URL [FROM]`. Exits 1 when there
is none."""

import email
import email.policy
import json
import re
import sys
import urllib.request

endpoint = sys.argv[1].rstrip("/")
sender = sys.argv[2] if len(sys.argv) > 2 else None
with urllib.request.urlopen(f"{endpoint}/moto-api/data.json") as r:
    kept = json.load(r).get("ses", {}).get("RawMessage", [])
for m in reversed(kept):
    if sender and m.get("source") != sender:
        continue
    msg = email.message_from_string(m.get("raw_data", ""), policy=email.policy.default)
    header = str(msg.get("List-Unsubscribe", ""))
    urls = [u for u in re.findall(r"<([^>]+)>", header) if u.startswith(("https://", "http://"))]
    if urls:
        print(urls[0])
        sys.exit(0)
print("no kept email carries a List-Unsubscribe URL", file=sys.stderr)
sys.exit(1)
