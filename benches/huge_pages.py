"""Fresh large CPU buffers with and without the allocator's huge-page advice (rust/storage.rs).

    python benches/huge_pages.py python          # this checkout's ember
    python benches/huge_pages.py OTHER/python    # another build's (e.g. one with the advice off)

Prints the minimum of 30 calls (ms) of three workloads on one thread: a chain of elementwise
ops on 16 MB whose outputs are fresh allocations, zeros of 16 MB, and a 1024^2 matmul.
"""
import sys, time
sys.path.insert(0, sys.argv[1])
import ember
ember.set_num_threads(1)
x = ember.rand(4 << 20)  # 16 MB
best = {}
for name, f in [("fresh ops (alloc+fill)", lambda: (x * 2 + 1).sum()),
                ("zeros 16MB", lambda: ember.zeros(4 << 20)),
                ("matmul 1024", lambda: ember.rand(1024, 1024) @ ember.rand(1024, 1024))]:
    ts = []
    for _ in range(30):
        t0 = time.perf_counter(); f(); ts.append(time.perf_counter() - t0)
    best[name] = min(ts) * 1e3
print({k: round(v, 2) for k, v in best.items()})
