# stats_page_forge.py KIND: publishes a crafted stats page as its own, for zm stats and
# zm top to read (StatsReaderTests.swift).
#
# It creates /dev/shm/zonemalloc.<its pid> with the layout of docs/DESIGN.md ("The stats
# page") and a valid magic, version and pid, maps it (so /proc/<pid>/maps shows it, as
# zm checks), prints "ready pid=<pid>" and sleeps until it is killed. KIND:
#   max        every counter, and the time stamp, at 2^64-1
#   nonul      the names run to the end of the page without a NUL
#   truncated  the file is cut to 1000 bytes after the header
#   escapes    a name and the process name (comm) hold terminal escape sequences
#   count      the counter count at 2^64-1
#   busy       the sequence counter stays odd, as if a writer never finished
#   valid      none of these: a well-formed page
import mmap
import os
import struct
import sys
import time

kind = sys.argv[1]
pid = os.getpid()
names = [b"version", b"allocated", b"active", b"mapped", b"lazy_cached", b"slab_cached",
         b"malloc_count", b"free_count", b"remote_frees"]
byte_counts = {b"allocated", b"active", b"mapped", b"lazy_cached", b"slab_cached"}
count = len(names)
values = [i * 1000 + 7 for i in range(count)]
stamp = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
sequence = 2
if kind == "max":
    values = [2**64 - 1] * count
    stamp = 2**64 - 1
elif kind == "escapes":
    names[1] = b"allocated\x1b]0;pwned\x07\x1b[2J"
    with open("/proc/self/comm", "w") as comm:
        comm.write("\x1b[31mred")
elif kind == "count":
    count = 2**64 - 1
elif kind == "busy":
    sequence = 3

page = bytearray(4096)
struct.pack_into("<6Q", page, 0, 0x3153544154534D5A, 1, pid, sequence, stamp, count)
for i, value in enumerate(values):
    struct.pack_into("<Q", page, 64 + 8 * i, value)
    page[576 + i] = 1 if names[i] in byte_counts else 0
area = b"\0".join(names) + b"\0"
page[640:640 + len(area)] = area
if kind == "nonul":
    page[640:] = b"A" * (4096 - 640)
size = 1000 if kind == "truncated" else 4096

path = f"/dev/shm/zonemalloc.{pid}"
fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
os.write(fd, bytes(page[:size]))
mapping = mmap.mmap(fd, size)
os.close(fd)
print(f"ready pid={pid}", flush=True)
try:
    time.sleep(120)
finally:
    os.unlink(path)
