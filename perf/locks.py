#!/usr/bin/env python3
"""Lock figures against a running cluster (perf/locks.sh starts one):

  rate      THREADS x (acquire, release) round trips on keys of their own, each write durable
            on the servers; prints round trips/s and p50/p99 of one round trip.
  failover  a session on HOLDER's node holds a key; the caller then kills the holder agent
            (SIGKILL, by the pid given) and another session polls ?acquire every 50 ms;
            prints seconds from the kill to the new holder's acquire.
"""
import http.client, json, os, signal, sys, threading, time


def conn(addr):
    host, port = addr.rsplit(":", 1)
    return http.client.HTTPConnection(host, int(port), timeout=30)


def call(c, method, path, body=b""):
    c.request(method, path, body=body)
    r = c.getresponse()
    return r.status, r.read()


def session(c, body):
    status, out = call(c, "PUT", "/v1/session/create", json.dumps(body).encode())
    assert status == 200, out
    return json.loads(out)["ID"]


def rate(addr, threads, seconds):
    lat, stop = [], time.time() + seconds
    lock = threading.Lock()

    def worker(i):
        c = conn(addr)
        sid = session(c, {"Name": f"bench{i}", "LockDelay": "0s"})
        mine = []
        while time.time() < stop:
            t0 = time.perf_counter()
            s1, b1 = call(c, "PUT", f"/v1/kv/bench/{i}?acquire={sid}", b"x")
            s2, b2 = call(c, "PUT", f"/v1/kv/bench/{i}?release={sid}", b"x")
            assert (s1, b1.strip(), s2, b2.strip()) == (200, b"true", 200, b"true"), (b1, b2)
            mine.append(time.perf_counter() - t0)
        with lock:
            lat.extend(mine)

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    lat.sort()
    q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000
    print(f"rate: {threads} threads, {len(lat) / seconds:.0f} acquire+release round trips/s "
          f"({2 * len(lat) / seconds:.0f} durable writes/s), p50 {q(0.5):.2f} ms, p99 {q(0.99):.2f} ms")


def failover(holder_addr, holder_pid, other_addr, lock_delay):
    h, o = conn(holder_addr), conn(other_addr)
    mine = session(h, {"Name": "primary", "LockDelay": lock_delay})
    theirs = session(o, {"Name": "standby", "LockDelay": lock_delay})
    assert call(h, "PUT", f"/v1/kv/failover?acquire={mine}", b"h")[1].strip() == b"true"
    killed = time.time()
    os.kill(holder_pid, signal.SIGKILL)
    released = None
    while time.time() - killed < 120:
        status, out = call(o, "GET", "/v1/kv/failover")
        if released is None and status == 200 and "Session" not in json.loads(out)[0]:
            released = time.time() - killed
        if call(o, "PUT", f"/v1/kv/failover?acquire={theirs}", b"o")[1].strip() == b"true":
            print(f"failover: lock released {released:.1f} s after the holder's SIGKILL, "
                  f"taken by the standby {time.time() - killed:.1f} s after it "
                  f"(LockDelay {lock_delay})")
            return
        time.sleep(0.05)
    sys.exit("failover: the standby never got the lock")


if __name__ == "__main__":
    if sys.argv[1] == "rate":
        rate(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    else:
        failover(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
