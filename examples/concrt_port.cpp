// CONCRT-1: code written against ConcRT's Alloc/Free compiles unchanged.
#include <concalloc/concrt.h>

#include <cstdio>
#include <cstring>

int main() {
  char* text = static_cast<char*>(concurrency::Alloc(32));
  std::strcpy(text, "ported from ConcRT");
  std::printf("%s\n", text);
  concurrency::Free(text);
  Concurrency::Free(nullptr);  // Free(NULL) returns at once
  return 0;
}
