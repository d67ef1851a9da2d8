// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// An allocator for the index's large arrays that asks Linux for transparent
// huge pages. An index lookup is a few thousand random reads spread over
// hundreds of MiB; with 4 KiB pages nearly every one also misses the TLB.
// Where the kernel grants huge pages only on request (the "madvise" setting,
// Debian's default) this halves a lookup's memory stalls. Thread-safe.

#ifndef SAFEGUARD_INDEX_HUGE_PAGE_ALLOCATOR_H_
#define SAFEGUARD_INDEX_HUGE_PAGE_ALLOCATOR_H_

#include <cstddef>
#include <cstdlib>
#include <new>
#include <utility>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace safeguard::index {

template <class T>
struct HugePageAllocator {
  using value_type = T;

  HugePageAllocator() = default;
  template <class U>
  HugePageAllocator(const HugePageAllocator<U>&) {}  // NOLINT: allocators convert implicitly

  /// Returns storage for n objects; blocks of 4 MiB or more are 2 MiB-aligned
  /// and advised as huge pages. Throws std::bad_alloc on failure.
  T* allocate(size_t n) {
    constexpr size_t kHuge = size_t{2} << 20;
    const size_t bytes = n * sizeof(T);
    if (bytes >= 2 * kHuge) {
      const size_t rounded = (bytes + kHuge - 1) / kHuge * kHuge;
      void* p = std::aligned_alloc(kHuge, rounded);
      if (p == nullptr) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
      madvise(p, rounded, MADV_HUGEPAGE);  // advisory: failure only costs speed
#endif
      return static_cast<T*>(p);
    }
    void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64 + 64);
    if (p == nullptr) throw std::bad_alloc();
    return static_cast<T*>(p);
  }

  /// Default-initialises: resize() of a trivial type leaves the memory as
  /// allocated instead of zeroing it (Load overwrites it at once).
  template <class U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  /// Constructs with arguments, as std::allocator does.
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }

  /// Frees storage from allocate().
  void deallocate(T* p, size_t) { std::free(p); }

  friend bool operator==(const HugePageAllocator&, const HugePageAllocator&) { return true; }
};

/// A vector whose storage may live on huge pages.
template <class T>
using HugeVector = std::vector<T, HugePageAllocator<T>>;

}  // namespace safeguard::index

#endif  // SAFEGUARD_INDEX_HUGE_PAGE_ALLOCATOR_H_
