"""Registers N catalog instances of a service (or N agent services with checks) over one
keep-alive connection. Used by the perf scripts: register.py PORT catalog|agent-ttl|agent-http N [TARGET]"""
import http.client
import json
import sys

port, mode, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
target = sys.argv[4] if len(sys.argv) > 4 else ""
conn = http.client.HTTPConnection("127.0.0.1", port)
for i in range(n):
    if mode == "catalog":
        path = "/v1/catalog/register"
        body = {"Node": f"node-{i}", "Address": f"10.{i // 65536}.{i // 256 % 256}.{i % 256}",
                "Service": {"Service": "web", "ID": f"web-{i}", "Port": 8080, "Tags": ["v1"]},
                "Checks": [{"CheckID": "serfHealth", "Name": "Serf Health Status", "Status": "passing"},
                           {"CheckID": f"service:web-{i}", "Name": "web", "ServiceID": f"web-{i}", "Status": "passing"}]}
    elif mode == "agent-ttl":
        path = "/v1/agent/service/register"
        body = {"Name": f"ttl-{i % 100}", "ID": f"ttl-{i}", "Check": {"TTL": "1h", "Status": "passing"}}
    else:
        path = "/v1/agent/service/register"
        body = {"Name": f"http-{i % 100}", "ID": f"http-{i}", "Check": {"HTTP": target, "Interval": "10s"}}
    conn.request("PUT", path, json.dumps(body))
    r = conn.getresponse()
    r.read()
    assert r.status == 200, (r.status, path)
