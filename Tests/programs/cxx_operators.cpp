// cxx_operators.cpp: the C++ operators new and delete that libzonemalloc.so exports,
// called explicitly and through new-expressions, preloaded or linked.
//
// Each block must be zonemalloc's (zm_owns, found with dlsym so the program also runs
// preloaded without linking the library), and gone after its delete. Checked: plain,
// array, nothrow, aligned for every power of two from 1 to 1 MiB, sized delete given
// the requested size (not the usable one), the impossible size (nullptr from nothrow,
// std::bad_alloc otherwise, also for the aligned forms), and the new_handler: under a
// memory cap a failed new runs it, and the retry succeeds once it has freed memory.
// Every operator must resolve into libzonemalloc (dladdr), not libstdc++.
// Prints "cxx operators ok <blocks>", or FAIL lines on stderr and exits 1.
#include <dlfcn.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <cstring>
#include <new>

// Deleted blocks are looked up by address on purpose.
#pragma GCC diagnostic ignored "-Wuse-after-free"

namespace {

int failures = 0;
long blocks = 0;

#define CHECK(cond, ...)                                                   \
  do {                                                                     \
    if (!(cond)) {                                                         \
      failures++;                                                          \
      std::fprintf(stderr, "FAIL line %d: %s: ", __LINE__, #cond);         \
      std::fprintf(stderr, __VA_ARGS__);                                   \
      std::fputc('\n', stderr);                                            \
    }                                                                      \
  } while (0)

template <typename F> F symbol(const char *name) {
  void *s = dlsym(RTLD_DEFAULT, name);
  if (s == nullptr) {
    std::fprintf(stderr, "FAIL: %s not found: is libzonemalloc.so loaded?\n", name);
    std::exit(1);
  }
  return reinterpret_cast<F>(s);
}

const auto owns = symbol<int (*)(const void *)>("zm_owns");
const auto set_limit = symbol<int (*)(size_t)>("zm_set_limit");

// Volatile, so that the compiler can neither fold nor reject the impossible size.
volatile size_t impossible = SIZE_MAX / 2;

// Where a new-expression puts its block, so that the compiler cannot elide it.
void *volatile sink;

// Checks that p is a live zonemalloc block with the alignment.
void live(void *p, size_t alignment = 16) {
  CHECK(p != nullptr && owns(p), "%p is not a live zonemalloc block", p);
  CHECK(reinterpret_cast<uintptr_t>(p) % alignment == 0, "%p not aligned to %zu", p, alignment);
  blocks++;
}

// Checks p, deletes it with `release`, and checks (by address) that it is gone.
template <typename D> void roundtrip(void *p, size_t alignment, D release) {
  live(p, alignment);
  uintptr_t address = reinterpret_cast<uintptr_t>(p);
  release(p);
  CHECK(!owns(reinterpret_cast<void *>(address)), "%#lx still live after delete", (unsigned long)address);
}

const size_t sizes[] = {0, 1, 24, 100, 4096, 20000, 300000, 3u << 20};

const char *const operators[] = {
  "_Znwm", "_Znam", "_ZnwmRKSt9nothrow_t", "_ZnamRKSt9nothrow_t", "_ZnwmSt11align_val_t",
  "_ZnamSt11align_val_t", "_ZnwmSt11align_val_tRKSt9nothrow_t", "_ZnamSt11align_val_tRKSt9nothrow_t",
  "_ZdlPv", "_ZdaPv", "_ZdlPvm", "_ZdaPvm", "_ZdlPvRKSt9nothrow_t", "_ZdaPvRKSt9nothrow_t",
  "_ZdlPvSt11align_val_t", "_ZdaPvSt11align_val_t", "_ZdlPvmSt11align_val_t", "_ZdaPvmSt11align_val_t",
  "_ZdlPvSt11align_val_tRKSt9nothrow_t", "_ZdaPvSt11align_val_tRKSt9nothrow_t",
};

void operators_come_from_zonemalloc() {
  for (const char *name : operators) {
    Dl_info info{};
    void *address = dlsym(RTLD_DEFAULT, name);
    CHECK(address && dladdr(address, &info) && std::strstr(info.dli_fname, "libzonemalloc"),
          "%s resolves to %s", name, address ? info.dli_fname : "nothing");
  }
}

void plain_and_array() {
  for (size_t size : sizes) {
    roundtrip(::operator new(size), 16, [](void *p) { ::operator delete(p); });
    roundtrip(::operator new[](size), 16, [](void *p) { ::operator delete[](p); });
  }
  int *i = new int(7);
  live(i);
  delete i;
  long *a = new long[1000];
  live(a);
  delete[] a;
}

void sized_delete_with_the_requested_size() {
  for (size_t size : sizes) {
    size_t asked = size + 3;  // never a class size: the usable size is larger
    roundtrip(::operator new(asked), 16, [=](void *p) { ::operator delete(p, asked); });
    roundtrip(::operator new[](asked), 16, [=](void *p) { ::operator delete[](p, asked); });
  }
}

void nothrow_forms() {
  for (size_t size : sizes) {
    roundtrip(::operator new(size, std::nothrow), 16, [](void *p) { ::operator delete(p, std::nothrow); });
    roundtrip(::operator new[](size, std::nothrow), 16, [](void *p) { ::operator delete[](p, std::nothrow); });
  }
  sink = new (std::nothrow) char[impossible];
  CHECK(sink == nullptr, "new (nothrow) char[SIZE_MAX/2] = %p", sink);
  CHECK(::operator new(impossible, std::nothrow) == nullptr, "operator new(SIZE_MAX/2, nothrow)");
}

void aligned_forms() {
  for (size_t alignment = 1; alignment <= (1u << 20); alignment *= 2) {
    std::align_val_t a{alignment};
    for (size_t size : {size_t(1), size_t(100), alignment, 3 * alignment + 5}) {
      roundtrip(::operator new(size, a), alignment, [=](void *p) { ::operator delete(p, a); });
      roundtrip(::operator new[](size, a), alignment, [=](void *p) { ::operator delete[](p, size, a); });
      roundtrip(::operator new(size, a, std::nothrow), alignment, [=](void *p) { ::operator delete(p, size, a); });
      roundtrip(::operator new[](size, a, std::nothrow), alignment,
                [=](void *p) { ::operator delete[](p, a, std::nothrow); });
      roundtrip(::operator new(size, a), alignment, [=](void *p) { ::operator delete(p, a, std::nothrow); });
    }
  }
  struct alignas(256) Wide { char bytes[300]; };
  Wide *w = new Wide[5];
  live(w, 256);
  delete[] w;
  CHECK(::operator new(impossible, std::align_val_t{64}, std::nothrow) == nullptr, "aligned nothrow");
}

template <typename F> bool throws_bad_alloc(F allocate) {
  try {
    allocate();
  } catch (const std::bad_alloc &) {
    return true;
  }
  return false;
}

void impossible_sizes_throw() {
  CHECK(throws_bad_alloc([] { sink = ::operator new(impossible); }), "operator new(SIZE_MAX/2)");
  CHECK(throws_bad_alloc([] { sink = new char[impossible]; }), "new char[SIZE_MAX/2]");
  CHECK(throws_bad_alloc([] { sink = ::operator new[](impossible, std::align_val_t{4096}); }), "aligned new[]");
}

// Under a 64 MiB cap with 48 MiB held in reserve, a 32 MiB new fails; the handler frees
// the reserve and uninstalls itself, and libstdc++'s retry then succeeds.
char *reserve = nullptr;
int handler_calls = 0;

void release_reserve() {
  handler_calls++;
  std::free(reserve);
  reserve = nullptr;
  std::set_new_handler(nullptr);
}

void new_handler_runs() {
  CHECK(set_limit(64u << 20) == 0, "zm_set_limit(64 MiB)");
  reserve = static_cast<char *>(std::malloc(48u << 20));
  live(reserve);
  std::set_new_handler(release_reserve);
  char *big = nullptr;
  bool threw = throws_bad_alloc([&] { big = new char[32u << 20]; });
  CHECK(!threw && handler_calls == 1 && big != nullptr, "threw %d, handler ran %d times", threw, handler_calls);
  live(big);
  delete[] big;
  handler_calls = 0;
  reserve = static_cast<char *>(std::malloc(48u << 20));
  std::set_new_handler([] { handler_calls++; std::set_new_handler(nullptr); });
  CHECK(throws_bad_alloc([] { sink = ::operator new(32u << 20); }) && handler_calls == 1,
        "no memory to free: handler ran %d times, then bad_alloc expected", handler_calls);
  std::free(reserve);
  CHECK(set_limit(0) == 0, "zm_set_limit(0)");
}

}  // namespace

int main() {
  operators_come_from_zonemalloc();
  plain_and_array();
  sized_delete_with_the_requested_size();
  nothrow_forms();
  aligned_forms();
  impossible_sizes_throw();
  new_handler_runs();
  if (failures) return 1;
  std::printf("cxx operators ok %ld\n", blocks);
  return 0;
}
