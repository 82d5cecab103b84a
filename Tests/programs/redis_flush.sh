#!/bin/sh
# redis_flush.sh DIR PRELOAD sync|async: redis-server preloaded with PRELOAD (run with its
# socket in DIR, no TCP, no persistence) gets 1,000,000 keys of 100 bytes (DEBUG
# POPULATE), then FLUSHALL (ASYNC: another thread of redis frees the keys) while its
# main thread, the only one that allocated them, waits for clients. Prints
#   redis ok filled_kb=N after_kb=N at_3000_kb=N threads=N
# (used_memory_rss when full, 0.3 s after the flush and 3 s after it; the thread count
# at the end).
set -eu
dir=$1 preload=$2 mode=$3
sock="$dir/redis.sock"
LD_PRELOAD=$preload redis-server --port 0 --unixsocket "$sock" --save "" --appendonly no \
  --enable-debug-command yes --dir "$dir" > "$dir/redis.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
cli() { redis-cli -s "$sock" "$@"; }
for _ in $(seq 100); do cli ping > /dev/null 2>&1 && break; sleep 0.1; done
rss() { cli info memory | tr -d '\r' | sed -n 's/^used_memory_rss://p'; }
cli debug populate 1000000 key 100 > /dev/null
filled=$(rss)
if [ "$mode" = async ]; then cli flushall async > /dev/null; else cli flushall > /dev/null; fi
sleep 0.3
after=$(rss)
sleep 2.7
later=$(rss)
threads=$(ls "/proc/$pid/task" | wc -l)
cli shutdown nosave > /dev/null 2>&1 || true
wait $pid 2>/dev/null || true
trap - EXIT
echo "redis ok filled_kb=$((filled / 1024)) after_kb=$((after / 1024)) at_3000_kb=$((later / 1024)) threads=$threads"
