#include <concalloc/concalloc.h>
#include <concalloc/concrt.h>

#include <cstdio>
#include <vector>

int main() {
  std::vector<int, concalloc::Allocator<int>> v(1000, 7);
  void* p = concurrency::Alloc(100);
  concurrency::Free(p);
  std::printf("consumer: %d cached block(s)\n",
              static_cast<int>(concalloc::GetThreadStats().cached_blocks));
  return v[999] == 7 ? 0 : 1;
}
