# TRACE-CHECK of a real program (proptests/CMakeLists.txt): python3, with
# every object through malloc (PYTHONMALLOC=malloc) and libconcalloc-malloc's
# trace build preloaded. Two producer threads hand lists, dicts and tuples
# to two consumer threads, which free them: blocks freed by a thread that
# did not allocate them, in most of the 96 size classes. Then it runs a
# child process.
import queue
import subprocess
import sys
import threading

q = queue.Queue(maxsize=64)


def producer(n):
    for i in range(n):
        q.put([str(i) * (i % 7 + 1), {i: i}, (i, i + 1)])
    q.put(None)


def consumer():
    while True:
        item = q.get()
        if item is None:
            break
        del item


threads = [threading.Thread(target=producer, args=(300,)) for _ in range(2)]
threads += [threading.Thread(target=consumer) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()

# A process it starts inherits CONCALLOC_TRACE_FILE and allocates too; it
# must record nothing (TRACE-SCOPE: one process per trace), not write its
# events over the first process's.
subprocess.run([sys.executable, "-c", "print(len([str(i) for i in range(3000)]))"],
               check=True, stdout=subprocess.DEVNULL)
