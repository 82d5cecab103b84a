// threaded_workload.cpp: an ordinary threaded C++ program for the preload tests. It is
// compiled by g++ running under LD_PRELOAD and then run under LD_PRELOAD too.
//
// Eight std::threads each build a std::map<std::string, int>, std::vectors and strings,
// and pass std::unique_ptr-owned vectors to the next thread through a mutex-guarded
// queue, so memory is freed on a thread other than the one that allocated it. The
// result is independent of scheduling: prints "cpp ok 8 <sum>".
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr int kThreads = 8;
constexpr int kItems = 20000;

struct Handoff {
  std::mutex lock;
  std::vector<std::unique_ptr<std::vector<long>>> items;
};

long work(int id, Handoff &next) {
  std::map<std::string, int> words;
  for (int i = 0; i < kItems; i++) words["w" + std::to_string((i * 7 + id) % 5000)] += 1;
  long sum = static_cast<long>(words.size());
  for (const auto &entry : words) sum += entry.second * static_cast<long>(entry.first.size());
  for (int i = 0; i < 200; i++) {
    auto v = std::make_unique<std::vector<long>>(static_cast<size_t>(i + 1), id + i);
    std::lock_guard<std::mutex> guard(next.lock);
    next.items.push_back(std::move(v));
  }
  std::string text;
  for (int i = 0; i < 2000; i++) text += std::to_string(i);
  return sum + static_cast<long>(text.size());
}

}  // namespace

int main() {
  std::vector<Handoff> boxes(kThreads);
  std::vector<long> partial(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++)
    threads.emplace_back([&, t] { partial[t] = work(t, boxes[(t + 1) % kThreads]); });
  for (auto &th : threads) th.join();
  long total = 0;
  for (long p : partial) total += p;
  std::vector<std::thread> drainers;
  std::vector<long> drained(kThreads);
  for (int t = 0; t < kThreads; t++)
    drainers.emplace_back([&, t] {
      for (auto &v : boxes[t].items)
        for (long x : *v) drained[t] += x;
      boxes[t].items.clear();
    });
  for (auto &th : drainers) th.join();
  for (long d : drained) total += d;
  std::printf("cpp ok %d %ld\n", kThreads, total);
  return 0;
}
