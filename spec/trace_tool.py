#!/usr/bin/env python3
"""The trace's two conversions (spec/SPEC.md section 12, TRACE-FORMAT).

  trace_tool.py text BIN OUT       the trace build's file (src/modes/trace.cpp) -> the text trace
  trace_tool.py prepare TRACE DIR  a text trace -> what spec/trace.pml replays:
                                   DIR/events.txt, DIR/spin.defs, DIR/cc.defs, DIR/limits
  trace_tool.py mutate WHAT IN OUT a hand-made bad trace (MUTATIONS); prints the
                                   clause the check must name

The text trace, one event per line (lines starting with '#' are the header):
  SEQ KIND THREAD CLASS SHARD N BLOCK X
SEQ the sequence number (consecutive from 0, TRACE-ORDER); KIND one of
KINDS; THREAD the cache's index, '-' for a thread with no cache; CLASS and
SHARD the class index and depot shard; N a count (CACHE: 1 when the depot is
on; CREDIT: the shard's credit in bytes); BLOCK the block's address (0x0:
none); X the budget in force (PUT), the depth (CACHE), or how far the
section moved the shard's part of the reservation (CREDIT, signed).

prepare renames blocks (address and class), threads (a cache's slot is
reused after its EXIT) and classes to small indices, sizes the model's arrays
from the trace, and rejects a trace whose numbers are not consecutive or whose
lines do not parse (TRACE-FORMAT, TRACE-ORDER), naming the line. A hole (a
number whose step never wrote its event: the process stopped) ends the
events it prepares, and DIR/hole says how the check rejects the trace if
the events before the hole replay without an error (TRACE-ORDER).
"""
import struct
import sys

MAX_BLOCKS = 1000000  # distinct blocks a trace may name (owner and inbackend: 2 bytes each)
KINDS = ["HOLE", "CACHE", "POP", "PUSH", "FILL", "NEW", "BACK", "FLUSH", "SPILL", "DRAIN",
         "PUT", "EVICT", "REFUSE", "TAKE", "REFILL", "TRIM", "EXIT", "STASH", "UNSTASH",
         "CREDIT", "SPAN"]
NO_CACHE = 0xFFFF
NSH = 4  # kDepotShards
HEADER = struct.Struct("<8sIIQQI96I")
SLOT = struct.Struct("<QQIIHBBBBH")
HEADER_BYTES = 4096


def to_text(bin_path, out_path):
    with open(bin_path, "rb") as f:
        head = f.read(HEADER_BYTES)
        fields = HEADER.unpack_from(head)
        magic, classes, record, capacity, overflowed, list_bytes = fields[:6]
        sizes = fields[6:6 + classes]
        if magic != b"CCTRACE1":
            sys.exit(f"trace_tool: {bin_path} is not a concalloc trace")
        out = open(out_path, "w")
        out.write("# concalloc-trace 1\n")
        out.write("# class-sizes " + " ".join(str(s) for s in sizes) + "\n")
        out.write(f"# record-bytes {record}\n# list-bytes {list_bytes}\n")
        if overflowed:
            out.write("# overflowed: more events than CONCALLOC_TRACE_EVENTS\n")
        # Slots up to the last one written; a slot never written before it
        # (a number taken by a step the process did not finish) is a HOLE.
        seq, holes, lines, written = 0, 0, [], 0
        while seq < capacity:
            chunk = f.read(SLOT.size * 65536)
            if not chunk:
                break
            for s in SLOT.iter_unpack(chunk[: len(chunk) // SLOT.size * SLOT.size]):
                num, block, count, extra, thread, kind, cls, shard, flags, _ = s
                if num == 0:
                    holes += 1
                    if holes > 65536:  # the end of the trace
                        break
                    lines.append(f"{seq} HOLE - 0 0 0 0x0 0\n")
                else:
                    out.writelines(lines)
                    written += len(lines) + 1
                    lines, holes = [], 0
                    t = "-" if thread == NO_CACHE else str(thread)
                    n = flags if kind == 1 else count
                    out.write(f"{num - 1} {KINDS[kind]} {t} {cls} {shard} {n} {block:#x} {extra}\n")
                seq += 1
            if holes > 65536:
                break
        out.close()
    print(f"trace_tool: {written} events -> {out_path}")


def reject(line_no, seq, clause, why):
    print(f"trace-check: REJECTED event {seq} (line {line_no}): breaks {clause}: {why}")
    sys.exit(1)


def span_bytes(size):
    """HEAP-SPAN's SpanBytes: a span's bytes for blocks of `size` bytes."""
    return 65536 if size <= 2048 else 131072 if size <= 4096 else 262144


def prepare(trace_path, out_dir):
    sizes, record, list_bytes = None, None, None
    events = []
    expect = 0
    hole = None  # TRACE-ORDER: the first hole; the events before it are replayed first
    with open(trace_path) as f:
        for line_no, line in enumerate(f, 1):
            if line.startswith("#"):
                words = line.split()
                if len(words) > 1 and words[1] == "class-sizes":
                    sizes = [int(w) for w in words[2:]]
                elif len(words) > 2 and words[1] == "record-bytes":
                    record = int(words[2])
                elif len(words) > 2 and words[1] == "list-bytes":
                    list_bytes = int(words[2])
                elif len(words) > 1 and words[1] == "overflowed:":
                    reject(line_no, "-", "TRACE-FORMAT", "the trace overflowed its file")
                continue
            w = line.split()
            if not w:
                continue
            try:
                seq, kind = int(w[0]), w[1]
                t = NO_CACHE if w[2] == "-" else int(w[2])
                c, s, n, b, x = int(w[3]), int(w[4]), int(w[5]), int(w[6], 16), int(w[7])
                k = KINDS.index(kind)
                if k == 19 and x >= 1 << 31:  # CREDIT: a signed 32-bit move
                    x -= 1 << 32
            except (ValueError, IndexError):
                reject(line_no, w[0] if w else "?", "TRACE-FORMAT", f"cannot parse: {line.strip()}")
            if k == 0 and seq == expect:
                hole = (line_no, seq)
                break
            if seq != expect:
                reject(line_no, seq, "TRACE-ORDER",
                       f"sequence numbers must be consecutive: expected {expect}")
            expect += 1
            events.append((seq, k, t, c, s, n, b, x))
    if sizes is None or record is None or list_bytes is None:
        reject(0, "-", "TRACE-FORMAT", "the header (class-sizes, record-bytes, list-bytes) is missing")

    classes, blocks, addrs = {}, {}, []
    slots, free_slots, nslots = {}, [], 0
    queue_batches, max_batches = {}, 1
    ldepth, bmax = 1, 1
    spares, scap = {}, 1  # DEPOT-XFER: blocks in each (thread, class) spare, the most
    members = {}  # TRACE-SPAN: (span address, class) -> the blocks seen in it
    out = []
    for seq, k, t, c, s, n, b, x in events:
        ci = 0
        if k not in (1, 16):  # CACHE and EXIT name no class
            ci = classes.setdefault(c, len(classes))
        ti = -1
        if t != NO_CACHE:
            if t not in slots:
                slots[t] = free_slots.pop(0) if free_slots else nslots
                nslots = max(nslots, slots[t] + 1)
            ti = slots[t]
        q = ci * NSH + s
        if k == 20:  # SPAN: one check per block of the span the trace has seen
            for m in sorted(members.get((b, c), ())) or [-1]:
                out.append([seq, k, ti, ci, q, n, m, x])
            continue
        bi = -1
        if b != 0:
            key = (b, c)
            if key not in blocks:
                blocks[key] = len(addrs)
                addrs.append(b)
                span = b & ~(span_bytes(sizes[c]) - 1)
                members.setdefault((span, c), set()).add(blocks[key])
            bi = blocks[key]
        if k in (10,):
            queue_batches[q] = queue_batches.get(q, 0) + 1
            max_batches = max(max_batches, queue_batches[q])
        elif k in (11, 13, 15):
            queue_batches[q] = max(0, queue_batches.get(q, 0) - 1)
        if k in (7, 8, 9, 10, 11, 12, 13, 14, 15, 17, 18):
            bmax = max(bmax, n)
        if k in (17, 18):  # STASH, UNSTASH
            key = (ti, ci)
            spares[key] = max(0, spares.get(key, 0) + (n if k == 17 else -n))
            scap = max(scap, spares[key])
        if k == 1:
            ldepth = max(ldepth, x)
        out.append([seq, k, ti, ci, q, n, bi, x])
        if k == 16 and t != NO_CACHE:  # the slot is free for the next cache
            free_slots.append(slots.pop(t))
            free_slots.sort()
    nt = nslots + 1  # the last slot: threads with no cache
    nc = max(1, len(classes))
    csize = [16] * nc
    for c, ci in classes.items():
        csize[ci] = sizes[c]
    nb = max(1, len(addrs))
    bmax = max(bmax, ldepth, scap)
    if ldepth > 250 or bmax > 1000 or nt > 250 or nb > MAX_BLOCKS:
        reject(0, "-", "TRACE-FORMAT",
               f"too large for the checker: {nt} threads, {nb} blocks, lists of {ldepth}")
    # Block indices are shorts in the model's state, ints past 32,000 blocks
    # (a real program's trace, through libconcalloc-malloc).
    wide = nb > 32000
    none = 2147483647 if wide else 32767  # NONE: no block
    for e in out:
        if e[2] < 0:
            e[2] = nt - 1
        if e[6] < 0:
            e[6] = none
    with open(f"{out_dir}/events.txt", "w") as f:
        f.write(f"{len(out)} {nb}\n")
        f.write(" ".join(str(v) for v in csize) + "\n")
        f.write("".join(f"{a:x}\n" for a in addrs) or "0\n")
        f.write("".join(" ".join(str(v) for v in e) + "\n" for e in out))
    nq = nc * NSH
    defs = (f"-DNT={nt} -DNC={nc} -DNB={nb} -DLDEPTH={ldepth} -DBMAX={bmax} "
            f"-DSLOTS={max_batches + 1} -DSCAP={scap} -DNEV={len(out)} -DLISTBYTES={list_bytes} "
            f"-DRECORD={record}")
    # For spin only (pan.c has a NONE of its own).
    spin_only = f" -DBLK=int -DNONE={none}" if wide else ""
    # Events per atomic step (trace.pml): 1024, or enough for 32 steps.
    spin_only += f" -DCHUNK={max(1024, -(-len(out) // 32))}"
    blk = 4 if wide else 2
    vector = (blk * nt * nc * (ldepth + 1) + 2 * nt * nc + blk * nq * (max_batches + 1) * bmax +
              4 * nq * (max_batches + 1) + blk * nt * bmax + 2 * nt + 2 * nb + 2 * nc +
              blk * nt * nc * scap + 4 * nt * nc + 4 * nq + 64)
    with open(f"{out_dir}/spin.defs", "w") as f:
        f.write(defs + spin_only + "\n")
    with open(f"{out_dir}/cc.defs", "w") as f:
        f.write(f"{defs} -DNSH={NSH} -DNQ={nq} -DHCAP={bmax} "
                f"-DVECTORSZ={(vector * 2 + 4096) // 1024 * 1024}\n")
    with open(f"{out_dir}/limits", "w") as f:
        f.write(f"{len(out)}\n")
    if hole is not None:
        with open(f"{out_dir}/hole", "w") as f:
            f.write(f"trace-check: REJECTED event {hole[1]} (line {hole[0]}): breaks TRACE-ORDER: "
                    "no event: its number was taken by a step that did not finish\n")
    print(f"trace_tool: {len(out)} events, {nt - 1} cache slots, {nc} classes, {nb} blocks, "
          f"lists of up to {ldepth}, batches of up to {bmax}, spares of up to {scap}, "
          f"up to {max_batches} batches in a shard")


MUTATIONS = {
    # name: (what it does, the clause the check must name)
    "duplicate_line": ("a line twice, its number too", "TRACE-ORDER"),
    "drop_line": ("a line left out: a gap in the numbers", "TRACE-ORDER"),
    "duplicate_take": ("a TAKE twice: a batch taken twice", "INV-OWNERSHIP"),
    "free_twice": ("a PUSH twice: a block freed twice", "INV-OWNERSHIP"),
    "pop_before_fill": ("a POP moved before the FILL that brought its block", "CACHE-2"),
    "spill_short": ("a SPILL of one block fewer than half the list", "DEPOT-SPILL"),
    "unstash_twice": ("an UNSTASH twice: blocks taken from a spare twice", "INV-OWNERSHIP"),
    "cache_again": ("a thread's CACHE again right after one of its PUSHes: a cache made "
                    "over lists that still hold blocks", "FLUSH-1"),
    "credit_unmoved": ("a CREDIT whose section moved the reservation, with the move left "
                       "out: the shard's part of the reservation is not its batches and "
                       "credit", "INV-DEPOT-BOUND"),
    "hole": ("a step that never wrote its event (the process stopped), the events "
             "before it good", "TRACE-ORDER"),
    "twice_then_hole": ("a PUSH twice, then a hole: the clause an event before the hole "
                        "breaks is named, not the hole's", "INV-OWNERSHIP"),
    "garbled_line": ("a line that does not parse", "TRACE-FORMAT"),
    "span_live": ("a SPAN right after a FILL from that span: a span given back while a "
                  "block of it is cached", "INV-SPAN"),
}


def mutate(what, in_path, out_path):
    """A hand-made bad trace: one edit of a good one (trace-selftest)."""
    head, body = [], []
    for line in open(in_path):
        (head if line.startswith("#") else body).append(line.split())
    mid = len(body) // 2

    def first_from(kind, start=mid):
        for i in list(range(start, len(body))) + list(range(0, start)):
            if body[i][1] == kind:
                return i
        sys.exit(f"trace_tool: no {kind} event to mutate")
    renumber = True
    if what == "duplicate_line":
        i = first_from("PUSH")
        body.insert(i + 1, list(body[i]))
        renumber = False
    elif what == "drop_line":
        del body[first_from("PUSH")]
        renumber = False
    elif what == "duplicate_take":
        i = first_from("TAKE")
        body.insert(i + 1, list(body[i]))
    elif what == "free_twice":
        i = first_from("PUSH")
        body.insert(i + 1, list(body[i]))
    elif what == "pop_before_fill":
        # the first FILL from the middle on whose block is popped next
        # (a filled block may be flushed instead)
        for i in [k for k in range(mid, len(body)) if body[k][1] == "FILL"]:
            block = body[i][6]
            j = next((k for k in range(i + 1, len(body))
                      if body[k][6] == block and body[k][1] != "PUSH"), None)
            if j is not None and body[j][1] == "POP":
                break
        else:
            sys.exit("trace_tool: no filled block is popped")
        body.insert(i, body.pop(j))
    elif what == "unstash_twice":
        i = first_from("UNSTASH")
        body.insert(i + 1, list(body[i]))
    elif what == "spill_short":
        i = first_from("SPILL")
        body[i][5] = str(int(body[i][5]) - 1)
    elif what == "cache_again":
        # the first PUSH from the middle on by a thread with a cache; its
        # cache's CACHE event again right after it (the list is not empty then)
        i = next((k for k in range(mid, len(body))
                  if body[k][1] == "PUSH" and body[k][2] != "-"), None)
        if i is None:
            sys.exit("trace_tool: no PUSH by a thread with a cache")
        c = max((k for k in range(i) if body[k][1] == "CACHE" and body[k][2] == body[i][2]),
                default=None)
        if c is None:
            sys.exit("trace_tool: the PUSH's thread has no CACHE event")
        body.insert(i + 1, list(body[c]))
    elif what == "credit_unmoved":
        i = next((k for k in range(len(body)) if body[k][1] == "CREDIT" and int(body[k][7]) != 0),
                 None)
        if i is None:
            sys.exit("trace_tool: no CREDIT moved the reservation")
        body[i][7] = "0"
        renumber = False
    elif what in ("hole", "twice_then_hole"):
        i = first_from("PUSH")
        if what == "twice_then_hole":  # a block freed twice, the process then dies
            body.insert(i + 1, list(body[i]))
            for k, w in enumerate(body):
                w[0] = str(k)
            i += 10
        body[i][1:] = ["HOLE", "-", "0", "0", "0", "0x0", "0"]
        renumber = False
    elif what == "span_live":
        sizes = next([int(v) for v in w[2:]] for w in head if len(w) > 1 and w[1] == "class-sizes")
        i = first_from("FILL")
        c, block = int(body[i][3]), int(body[i][6], 16)
        span = block & ~(span_bytes(sizes[c]) - 1)
        body.insert(i + 1, [body[i][0], "SPAN", "-", str(c), "0", "1", hex(span), "0"])
    elif what == "garbled_line":
        body[first_from("PUSH")][6] = "not-an-address"
        renumber = False
    else:
        sys.exit(f"trace_tool: unknown mutation {what}")
    if renumber:
        for k, w in enumerate(body):
            w[0] = str(k)
    with open(out_path, "w") as f:
        f.writelines(" ".join(w) + "\n" for w in head + body)
    print(MUTATIONS[what][1])


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "text":
        to_text(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 5 and sys.argv[1] == "mutate":
        mutate(sys.argv[2], sys.argv[3], sys.argv[4])
    elif len(sys.argv) == 4 and sys.argv[1] == "prepare":
        prepare(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
