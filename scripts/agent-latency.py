#!/usr/bin/env python3
"""Write → agent latency (BENCHMARKS.md, issue #6). Python standard library only.

    agent-latency.py KEYWARD_BINARY [N]

Starts `keyward serve` (embedded SQLite, throwaway data) and one `keyward agent` following the
environment `production` into a temporary directory. Then N times, alternately, generates an EC
P-256 JWK or deletes the last one, and measures from the moment the request starts until the
agent's `OUT/lat/jwks.json` shows the change (the file is polled every millisecond: the figures
carry up to ~1 ms of polling error), and the request's own latency (its answer waits for the
agent's acknowledgement, so it is normally the longer one). Then stops the agent and times N
more such writes with no agent connected, for reference. Prints p50/p90/p99/max of each.
"""

import http.client
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

TOKEN = "kw_agent-latency-token-0123456789abcdef"


def percentile(values, p):
    # Nearest rank.
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


class Api:
    def __init__(self, host, port, token):
        self.host, self.port, self.token = host, port, token
        self.conn = http.client.HTTPConnection(host, port, timeout=30)

    def call(self, method, path, body=None):
        headers = {"Authorization": f"Bearer {self.token}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        self.conn.request(method, path, body=data, headers=headers)
        resp = self.conn.getresponse()
        text = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{method} {path}: {resp.status} {text[:300]!r}")
        return json.loads(text)


def main():
    binary = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    work = tempfile.mkdtemp(prefix="kw-agent-latency-")
    procs = []
    try:
        env = dict(os.environ, KEYWARD_BOOTSTRAP_TOKEN=TOKEN, KEYWARD_LOG="info")
        for var in ("KEYWARD_DATABASE_URL", "KEYWARD_MASTER_KEY", "KEYWARD_MASTER_KEY_FILE"):
            env.pop(var, None)
        log = open(os.path.join(work, "serve.log"), "w+")
        server = subprocess.Popen(
            [binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", os.path.join(work, "data")],
            env=env, stdout=subprocess.DEVNULL, stderr=log)
        procs.append(server)
        addr = None
        for _ in range(600):
            log.seek(0)
            m = re.search(r"listening on http://([0-9.]+):(\d+)", log.read())
            if m:
                addr = (m.group(1), int(m.group(2)))
                break
            time.sleep(0.1)
        if addr is None:
            log.seek(0)
            sys.exit("keyward did not start:\n" + log.read())
        api = Api(*addr, TOKEN)
        api.call("POST", "/apiops/environments/", {"name": "production", "type": "PRODUCTION"})
        api.call("POST", "/apiops/projects/", {"name": "lat"})
        agent_token = api.call("POST", "/apiops/users/admin/tokens/",
                               {"name": "agent", "environmentName": "production"})
        agent_token = agent_token["resultList"][0]["token"]
        out = os.path.join(work, "out")
        agent_log = open(os.path.join(work, "agent.log"), "w+")
        agent = subprocess.Popen(
            [binary, "agent", "--server", f"http://{addr[0]}:{addr[1]}", "--token", agent_token,
             "--environment", "production", "--out", out, "--name", "lat-1"],
            env=env, stdout=agent_log, stderr=subprocess.STDOUT)
        procs.append(agent)
        # A first JWK, so that the project's jwks.json exists, then wait for the agent to write it.
        api.call("POST", "/apiops/projects/lat/jwks/generate",
                 {"name": "base", "kid": "base", "type": "EC", "ec": {"curveType": "P256"}})
        jwks = os.path.join(out, "lat", "jwks.json")
        deadline = time.monotonic() + 30
        while not (os.path.exists(jwks) and '"base"' in open(jwks).read()):
            if time.monotonic() > deadline or agent.poll() is not None:
                agent_log.seek(0)
                sys.exit("the agent did not write jwks.json:\n" + agent_log.read())
            time.sleep(0.01)

        seen, answered, failed = [], [], 0
        for i in range(n):
            # Even steps add JWK k{i}; odd steps delete k{i-1}.
            if i % 2 == 0:
                kid = f"k{i}"
                method, path = "POST", "/apiops/projects/lat/jwks/generate"
                body = {"name": kid, "kid": kid, "type": "EC", "ec": {"curveType": "P256"}}
                wanted = True
            else:
                kid = f"k{i - 1}"
                method, path, body, wanted = "DELETE", f"/apiops/projects/lat/jwks/{kid}", None, False
            needle = f'"kid":"{kid}"'
            result = {}

            def write():
                try:
                    result["body"] = api.call(method, path, body)
                except Exception as e:  # reported below
                    result["error"] = e
                result["end"] = time.perf_counter()

            t = threading.Thread(target=write)
            start = time.perf_counter()
            t.start()
            change = None
            while change is None:
                try:
                    with open(jwks) as f:
                        present = needle in f.read()
                except FileNotFoundError:
                    present = False
                if present == wanted:
                    change = time.perf_counter()
                    break
                if time.perf_counter() - start > 30:
                    sys.exit(f"step {i}: the agent's file did not change within 30 s")
                time.sleep(0.001)
            t.join()
            if "error" in result:
                raise result["error"]
            if not result["body"].get("deploymentResult", {}).get("success", False):
                failed += 1
            seen.append((change - start) * 1000)
            answered.append((result["end"] - start) * 1000)

        # The same writes with no agent connected: what the write costs by itself.
        agent.terminate()
        agent.wait(10)
        time.sleep(4)  # past the time an agent counts as connected after its last answer
        alone, agents_seen = [], 0
        for i in range(n, 2 * n):
            start = time.perf_counter()
            if i % 2 == 0:
                kid = f"k{i}"
                body = api.call("POST", "/apiops/projects/lat/jwks/generate",
                                {"name": kid, "kid": kid, "type": "EC", "ec": {"curveType": "P256"}})
            else:
                body = api.call("DELETE", f"/apiops/projects/lat/jwks/k{i - 1}")
            alone.append((time.perf_counter() - start) * 1000)
            agents_seen += sum(e.get("agents", 0)
                               for e in body["deploymentResult"]["environmentResults"])
        if agents_seen:
            sys.exit(f"an agent was still waited for after it stopped ({agents_seen} times)")

        print(f"== {n} writes (alternately generate an EC P-256 JWK / delete it), one agent, "
              f"embedded SQLite; {os.cpu_count()} cores shared by client, server and agent")
        print(f"{'':40} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8}   (ms)")
        for label, values in (("request start → agent's file changed", seen),
                              ("request start → write answered", answered),
                              ("the same writes with no agent", alone)):
            print(f"{label:40} " + " ".join(
                f"{v:8.1f}" for v in (percentile(values, 50), percentile(values, 90),
                                      percentile(values, 99), max(values))))
        print(f"deploymentResult.success false in {failed} of {n} answers")
        print("target: p99 of the first line < 500 ms: "
              + ("met" if percentile(seen, 99) < 500 else "NOT met"))
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
