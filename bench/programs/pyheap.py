# Whole-program workload (issue #25): a Python heap of small objects through
# malloc. Run with PYTHONMALLOC=malloc so that every object is a malloc block
# (bench/programs-run does). Builds a few hundred MB of small containers,
# strings, ints and floats, walks it, tears it down, three rounds; then
# frees everything. Prints: seconds, peak RSS (KiB), RSS after the heap is
# freed (KiB).
import gc
import resource
import sys
import time


def rss_kib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * (resource.getpagesize() // 1024)


def build(n, salt):
    heap = []
    for i in range(n):
        k = i + salt
        rec = {"id": k, "name": "item-%d" % k, "tags": [k & 7, k & 15, "t%d" % (k % 97)]}
        if k % 3 == 0:
            rec["pair"] = (k * 0.5, str(k))
        if k % 5 == 0:
            rec["blob"] = "x" * (k % 200)
        heap.append(rec)
    return heap


def walk(heap):
    total = 0
    for rec in heap:
        total += rec["id"] + len(rec["name"]) + len(rec["tags"])
    return total


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 150000
    start = time.perf_counter()
    keep = []
    for r in range(3):
        heap = build(n, r * n)
        walk(heap)
        # Half of each round stays alive into the next: the live set grows
        # and the freed half leaves holes that the next round fills.
        keep.append(heap[::2])
        del heap
        gc.collect()
    walk([rec for h in keep for rec in h])
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    del keep
    gc.collect()
    print("%.3f %d %d" % (elapsed, peak, rss_kib()))


main()
