// Symbol visibility of the public API. The library is built with hidden
// visibility so that its internal calls never go through the PLT (FAST-1).
#ifndef CONCALLOC_EXPORT_H
#define CONCALLOC_EXPORT_H
#define CONCALLOC_API __attribute__((visibility("default")))
#endif
