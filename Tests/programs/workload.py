# workload.py: a Python workload for the preload tests. Every printed line is a value
# that does not depend on the allocator or on scheduling, so the test compares the
# whole output with constants:
#   preload ... True when malloc in this process is zonemalloc's zm_malloc (so the
#               script is meant to run under LD_PRELOAD)
#   dicts  ... a 200000-entry dict of strings, rebuilt and filtered
#   strings ... joins, splits, formatting
#   threads ... 8 threading.Threads each building lists, dicts and strings
#   fork   ... a multiprocessing Pool using the fork start method
import ctypes
import multiprocessing
import threading


def preload():
    process = ctypes.CDLL(None)
    address = lambda name: ctypes.cast(getattr(process, name), ctypes.c_void_p).value
    return f"preload {address('malloc') == address('zm_malloc')}"


def dicts():
    table = {f"key{i}": str(i) * (i % 7 + 1) for i in range(200000)}
    total = sum(len(v) for v in table.values())
    kept = {k: v for k, v in table.items() if len(v) > 3}
    return f"dicts {len(table)} {total} {len(kept)}"


def strings():
    words = [format(i * 2654435761 % 1000003, "x") for i in range(100000)]
    joined = ",".join(words)
    back = joined.split(",")
    return f"strings {len(joined)} {len(back)} {back[12345]}"


def thread_work(index, results):
    items = [list(range(index, index + 500)) for _ in range(200)]
    lookup = {i: str(i) for i in range(index * 1000, index * 1000 + 5000)}
    text = "".join(lookup.values())
    results[index] = sum(sum(x) for x in items) + len(text)


def threads():
    results = [0] * 8
    workers = [threading.Thread(target=thread_work, args=(i, results)) for i in range(8)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return f"threads {sum(results)}"


def square_sum(n):
    data = [i * i for i in range(n)]
    return sum(data)


def forked():
    context = multiprocessing.get_context("fork")
    with context.Pool(4) as pool:
        total = sum(pool.map(square_sum, range(2000)))
    return f"fork {total}"


if __name__ == "__main__":
    for step in (preload, dicts, strings, threads, forked):
        print(step(), flush=True)
