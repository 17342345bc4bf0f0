// DEPOT-LISTED: the lists of a chain's block addresses (INV-LISTED): made,
// dropped, written by a walk, cleared for a leak checker (SAN-LEAK) and
// prefetched from. The spills that write a spare's list as they walk are in
// cache_transfer.cpp; the depot keeps a batch's list with it (depot.cpp).
#include <cstring>

#include "depot/depot.h"
#include "heap/backend.h"
#include "modes/checked.h"
#include "modes/sanitizer_hooks.h"
#include "platform/platform.h"

namespace concalloc::detail {

BlockList* NewList(DepotClient& client) noexcept {
  BlockList* list = client.next_list;
  client.next_list = nullptr;
  if (list == nullptr) list = static_cast<BlockList*>(DefaultBackend().alloc(sizeof(BlockList)));
  if (list != nullptr) list->count = 0;
  return list;
}

void DropList(DepotClient& client, BlockList* list) noexcept {
  if (list == nullptr) return;
  ForgetListed(list, 0, list->count);  // SAN-LEAK
  list->count = 0;
  if (client.next_list == nullptr)
    client.next_list = list;
  else
    DefaultBackend().free(list);
}

void ReleaseLists(DepotClient& client) noexcept {
  if (client.next_list != nullptr) DefaultBackend().free(client.next_list);
  client.next_list = nullptr;
}

BlockList* ListChain(DepotClient& client, Batch batch, std::size_t cls) noexcept {
  if (batch.count < ListedMin(cls) || batch.count > kListedMax) return nullptr;
  BlockList* list = NewList(client);
  if (list == nullptr) return nullptr;
  Block* b = batch.head;
  for (std::uint32_t k = 0; k < batch.count; ++k) {
    list->block[batch.count - 1 - k] = b;
    if (k + 1 < batch.count) b = NextCached(b, cls);  // CHK-LIST, HARD-LINK
  }
  list->count = batch.count;
  return list;
}

// SAN-LEAK: entries that name blocks leaving the cache for the user are
// cleared where a leak checker scans the process's memory, since the list
// stays reachable (a spare's, the client's next, a shard's free lists) and
// would keep a block its user dropped from being reported. (Seen: a block
// taken in a listed batch and dropped was never reported.)
void ForgetListed(BlockList* list, std::uint32_t from, std::uint32_t to) noexcept {
  if (san::LeakCheckerMayLook() && kMutant != kMutantListedKept && to > from)
    std::memset(static_cast<void*>(list->block + from), 0, (to - from) * sizeof(Block*));
}

// DEPOT-LISTED: the first two cache lines of each listed block (its header,
// the link a pop reads, and the caller's first bytes), for writing, all
// issued before the chain is followed. Returns how many blocks.
std::uint32_t PrefetchListed(const BlockList* list, std::uint32_t from, std::uint32_t to,
                             std::size_t cls) noexcept {
  if constexpr (kMutant == kMutantListedUnused) return 0;  // MUT-1
  if (to <= from) return 0;
  const std::size_t reach = kClassSize[cls] < 128 ? kClassSize[cls] : 128;
  static_assert(sizeof(Block*) == sizeof(void*));
  platform::PrefetchForWrite(reinterpret_cast<const void* const*>(list->block + from), to - from,
                             -static_cast<std::ptrdiff_t>(kBlockHeader), reach);
  return to - from;
}

}  // namespace concalloc::detail
