"""Entry point of the NiFi trigger pod: run one domain's process group until drained.

Authenticates to the NiFi API with the client certificate NiFiKop issued for
the "airflow" NifiUser (mounted at /etc/nifi-client). The process group named
after the domain is started, watched until nothing is queued and no thread is
active, then stopped again, so each pipeline run ingests one batch.
"""

import json
import os
import ssl
import sys
import time
import urllib.request

API = os.environ["NIFI_API_URL"].rstrip("/")
GROUP = os.environ["PROCESS_GROUP_NAME"]
TIMEOUT = int(os.environ.get("TIMEOUT_SECONDS", "3600"))
SETTLE = int(os.environ.get("SETTLE_SECONDS", "60"))

CONTEXT = ssl.create_default_context(cafile="/etc/nifi-client/ca.crt")
CONTEXT.load_cert_chain("/etc/nifi-client/tls.crt", "/etc/nifi-client/tls.key")


def call(method: str, path: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{API}{path}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, context=CONTEXT, timeout=60) as response:
        return json.load(response)


def schedule(group_id: str, state: str) -> None:
    call("PUT", f"/flow/process-groups/{group_id}", {"id": group_id, "state": state})
    print(f"process group {GROUP} ({group_id}): {state}")


def main() -> int:
    groups = call("GET", "/process-groups/root/process-groups")["processGroups"]
    matches = [g["id"] for g in groups if g["component"]["name"] == GROUP]
    if len(matches) != 1:
        print(f"expected one process group named {GROUP!r} under the root, found {len(matches)}", file=sys.stderr)
        return 1
    group_id = matches[0]
    schedule(group_id, "RUNNING")
    started = time.monotonic()
    quiet_since = None
    try:
        while time.monotonic() - started < TIMEOUT:
            time.sleep(15)
            snapshot = call("GET", f"/flow/process-groups/{group_id}/status")["processGroupStatus"]["aggregateSnapshot"]
            queued, threads = snapshot["flowFilesQueued"], snapshot["activeThreadCount"]
            print(f"queued={queued} active_threads={threads} out={snapshot.get('output', '')}")
            if queued == 0 and threads == 0:
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= SETTLE and time.monotonic() - started >= SETTLE:
                    return 0
            else:
                quiet_since = None
        print(f"{GROUP} still busy after {TIMEOUT}s", file=sys.stderr)
        return 1
    finally:
        schedule(group_id, "STOPPED")


if __name__ == "__main__":
    sys.exit(main())
