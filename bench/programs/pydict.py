# Whole-program workload (issue #36): the shape a user's Python service
# has, with PYTHONMALLOC=malloc (bench/programs-run sets it): a dict of N
# records, each a tuple of a str, a list and a dict; every other record
# deleted (holes all over the heap); then N/3 bytes objects of 50 to 250
# bytes fill them. Prints: seconds, peak RSS (KiB), RSS after the heap is
# freed (KiB).
import gc
import resource
import sys
import time


def rss_kib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * (resource.getpagesize() // 1024)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 600000
    start = time.perf_counter()
    d = {}
    for i in range(n):
        d[i] = ("k%d" % i, [i, i + 1], {"a": i})
    for i in range(0, n, 2):
        del d[i]
    b = [bytes(50 + i % 200) for i in range(n // 3)]
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    del d, b
    gc.collect()
    print("%.3f %d %d" % (elapsed, peak, rss_kib()))


main()
