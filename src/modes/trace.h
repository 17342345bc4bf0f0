// TRACE-*: the trace build (-DCONCALLOC_TRACE=ON; never a release build).
// Every step of the protocol that the Promela model has (spec/steps.pml)
// appends one event, and spec/trace-check replays the events through the
// model's own steps (SPEC.md section 17). In every other build the macros
// below expand to nothing: the library's machine code is that of a build
// without them.
//
// Order (TRACE-ORDER): an event's sequence number is taken from one
// counter, by an atomic fetch-and-add, so the numbers agree with
// happens-before: a block handed from one thread to another is freed at a
// later number than it was allocated. Where a step is seen by other threads
// through shared state, the number is taken so that the real order follows:
//   - a depot step takes it under its shard's lock (the lock orders the
//     shard's steps), and, where the step changes the depot's bytes, also
//     under the trace's own order lock, which makes that change and the
//     number one atomic step (TraceOrdered): the model replays the depot's
//     bytes in the order the real reservations happened;
//   - a step that gives blocks to the backend takes its number before the
//     first free (TRACE_SEQ, then TRACE_AT), and a step that takes a block
//     from the backend after the allocation returns: an address the backend
//     hands out again appears in the trace after it was given back.
// Events go to a file mapped shared (CONCALLOC_TRACE_FILE; nothing is
// recorded without it), each in the slot of its number, so the trace of a
// process that crashes keeps every event written before the crash.
#ifndef CONCALLOC_SRC_TRACE_H
#define CONCALLOC_SRC_TRACE_H

#include <cstdint>

#include "platform/build_config.h"

namespace concalloc::detail::trace {

// TRACE-EVENTS: the event kinds, one per step of spec/steps.pml; each is a
// clause of SPEC.md section 17 (TRACE-<NAME>).
enum Kind : std::uint8_t {
  kHole = 0,     // a slot never written (a number taken, no event: a crash)
  kCache = 1,    // TRACE-CACHE:  cache t's lists get their limits (depth, depot on)
  kPop = 2,      // TRACE-POP:    the top of list (t, c) to the user
  kPush = 3,     // TRACE-PUSH:   a live block onto list (t, c)
  kFill = 4,     // TRACE-FILL:   a block from the backend onto list (t, c)
  kNew = 5,      // TRACE-NEW:    a block from the backend to the user
  kBack = 6,     // TRACE-BACK:   a live block to the backend
  kFlush = 7,    // TRACE-FLUSH:  list (t, c)'s n blocks to the backend
  kSpill = 8,    // TRACE-SPILL:  the top n blocks of the full list (t, c) to t's hand
  kDrain = 9,    // TRACE-DRAIN:  all n blocks of list (t, c) to t's hand
  kPut = 10,     // TRACE-PUT:    t's hand as the newest batch of shard (c, s)
  kEvict = 11,   // TRACE-EVICT:  the oldest batch of shard (c, s) to the backend
  kRefuse = 12,  // TRACE-REFUSE: t's hand (n blocks) to the backend
  kTake = 13,    // TRACE-TAKE:   the newest batch of shard (c, s) to t's hand
  kRefill = 14,  // TRACE-REFILL: the first n blocks of t's hand onto the empty list (t, c)
  kTrim = 15,    // TRACE-TRIM:   the oldest batch of shard (c, s) to the backend
  kExit = 16,    // TRACE-EXIT:   cache t is torn down
  kStash = 17,   // TRACE-STASH:  the first n blocks of t's hand onto t's spare of class c
  kUnstash = 18, // TRACE-UNSTASH: the first n blocks of t's spare of class c to t's empty hand
  kCredit = 19,  // TRACE-CREDIT:  shard (c, s)'s credit is now n bytes, and the section
                 //                moved its part of the reservation by X (signed)
  kSpan = 20,    // TRACE-SPAN:   every block of the span of class c at address B (n
                 //                slots) is back: it is kept empty or goes back
};

// A thread with no cache (the static path).
constexpr std::uint16_t kNoCache = 0xffff;

#if CONCALLOC_TRACE
// The next sequence number (TRACE-ORDER).
std::uint64_t TakeSeq() noexcept;
// Writes the event numbered seq.
void EmitAt(std::uint64_t seq, Kind kind, std::uint32_t thread, std::uint64_t cls,
            std::uint32_t shard, std::uint64_t count, const void* block,
            std::uint64_t extra = 0) noexcept;
inline void Emit(Kind kind, std::uint32_t thread, std::uint64_t cls, std::uint32_t shard,
                 std::uint64_t count, const void* block, std::uint64_t extra = 0) noexcept {
  EmitAt(TakeSeq(), kind, thread, cls, shard, count, block, extra);
}
// Before the process stops (Die): waits, up to a second, for the events
// whose numbers are taken to be written, so that a thread descheduled
// between its number and its event leaves no hole in the trace.
void Settle() noexcept;
// A new cache's trace index.
std::uint16_t NewThreadIndex() noexcept;
// TRACE-ORDER: held while a depot step changes the depot's bytes and takes
// its numbers.
class TraceOrdered {
 public:
  TraceOrdered() noexcept;
  ~TraceOrdered();
  TraceOrdered(const TraceOrdered&) = delete;
  TraceOrdered& operator=(const TraceOrdered&) = delete;
};
#define CONCALLOC_TRACE_EVENT(...) ::concalloc::detail::trace::Emit(__VA_ARGS__)
#define CONCALLOC_TRACE_SEQ(var) const std::uint64_t var = ::concalloc::detail::trace::TakeSeq()
#define CONCALLOC_TRACE_AT(var, ...) ::concalloc::detail::trace::EmitAt(var, __VA_ARGS__)
#define CONCALLOC_TRACE_ORDERED() ::concalloc::detail::trace::TraceOrdered trace_ordered_
#define CONCALLOC_TRACE_ONLY(...) __VA_ARGS__
#else
#define CONCALLOC_TRACE_EVENT(...) ((void)0)
#define CONCALLOC_TRACE_SEQ(var) ((void)0)
#define CONCALLOC_TRACE_AT(var, ...) ((void)0)
#define CONCALLOC_TRACE_ORDERED() ((void)0)
#define CONCALLOC_TRACE_ONLY(...)
#endif

}  // namespace concalloc::detail::trace

#endif
