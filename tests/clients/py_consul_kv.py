"""The real py-consul client against a Tribune agent: kv put/get/delete/recurse, blocking get.

Run by tests/py_consul.rs as: python3 py_consul_kv.py <port>. Exit 0 only if every check holds.
"""
import sys
import threading
import time

import consul

c = consul.Consul(host="127.0.0.1", port=int(sys.argv[1]))

assert c.kv.put("py/a", "1") is True
assert c.kv.put("py/b", b"2", flags=7) is True
index, item = c.kv.get("py/a")
assert item["Value"] == b"1", item
assert int(index) >= 1
index, item = c.kv.get("py/missing")
assert item is None
index, items = c.kv.get("py/", recurse=True)
assert [i["Key"] for i in items] == ["py/a", "py/b"], items
assert items[1]["Flags"] == 7
index, keys = c.kv.get("py/", keys=True)
assert keys == ["py/a", "py/b"], keys
# CAS against a stale index fails, against the current one succeeds.
_, item = c.kv.get("py/a")
assert c.kv.put("py/a", "x", cas=item["ModifyIndex"] + 100) is False
assert c.kv.put("py/a", "x", cas=item["ModifyIndex"]) is True

# Blocking get: wakes on a write made by another thread.
index, item = c.kv.get("py/a")
def writer():
    time.sleep(0.3)
    consul.Consul(host="127.0.0.1", port=int(sys.argv[1])).kv.put("py/a", "woken")
threading.Thread(target=writer).start()
start = time.time()
new_index, item = c.kv.get("py/a", index=index, wait="20s")
assert item["Value"] == b"woken", item
assert int(new_index) > int(index)
assert time.time() - start < 10

assert c.kv.delete("py/a") is True
assert c.kv.get("py/a")[1] is None
assert c.kv.delete("py/", recurse=True) is True
assert c.kv.get("py/", recurse=True)[1] is None

# Transactions through py-consul's txn API.
import base64
ops = [{"KV": {"Verb": "set", "Key": "py/t", "Value": base64.b64encode(b"v").decode()}}]
result = c.txn.put(ops)
assert result["Errors"] is None and result["Results"][0]["KV"]["Key"] == "py/t", result

leader = c.status.leader()
# The test agent's server RPC port is its own (not 8300); the shape is Consul's "ip:port".
host, _, port = leader.rpartition(":")
assert host == "127.0.0.1" and port.isdigit(), leader
assert c.status.peers() == [leader], c.status.peers()
me = c.agent.self()
assert me["Config"]["NodeName"] == "test-node", me["Config"]
print("py-consul: all checks passed")
