# Whole-program workload (issue #36): two Python threads that each turn
# records into JSON and back and keep a rolling window of them, with
# PYTHONMALLOC=malloc: blocks made on one thread are often freed on the
# other (the window is shared). Prints: seconds, peak RSS (KiB), RSS after
# the window is freed (KiB).
import gc
import json
import resource
import sys
import threading
import time
from collections import deque


def rss_kib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * (resource.getpagesize() // 1024)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 60000
    window = deque(maxlen=20000)
    lock = threading.Lock()

    def work(seed):
        for i in range(n):
            k = seed * n + i
            rec = {"id": k, "name": "user-%d" % k, "tags": ["t%d" % (k % 31), k & 255],
                   "score": k * 0.25}
            back = json.loads(json.dumps(rec))
            with lock:
                window.append(back)

    start = time.perf_counter()
    threads = [threading.Thread(target=work, args=(s,)) for s in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    window.clear()
    gc.collect()
    print("%.3f %d %d" % (elapsed, peak, rss_kib()))


main()
