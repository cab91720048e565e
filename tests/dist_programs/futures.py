"""Rank program: ``Work.get_future()`` and ``ember.futures.Future`` (``wait``, ``done``,
``value``, ``then``), as DDP communication hooks use them. Prints OK at the end."""

import time
import threading
from datetime import timedelta

import ember
import ember.distributed as dist
from ember.futures import Future, collect_all, wait_all

dist.init_process_group("gloo", timeout=timedelta(seconds=60))
r, n = dist.get_rank(), dist.get_world_size()
total = n * (n + 1) / 2  # sum over ranks of (rank + 1)


def mine(k=4):
    return ember.full((k,), float(r + 1))


# value() is the list of output tensors: the all_reduce's own tensor, reduced in place
t = mine()
fut = dist.all_reduce(t, async_op=True).get_future()
got = fut.wait()
assert fut.done() and isinstance(got, list) and len(got) == 1 and got[0] is t, got
assert fut.value()[0] is t and t.tolist() == [total] * 4, t.tolist()

# then: the callback receives the future, its return value is the new future's value
t = mine()
doubled = dist.all_reduce(t, async_op=True).get_future().then(lambda f: f.value()[0] * 2)
plus = doubled.then(lambda f: f.value() + 1)
assert plus.wait().tolist() == [2 * total + 1] * 4 and doubled.done()

# the DDP allreduce hook: average in the callback, in place, on the future's tensor
buf = mine(6)
hooked = dist.all_reduce(buf, async_op=True).get_future().then(lambda f: f.value()[0].div_(n))
assert hooked.wait() is buf and buf.tolist() == [total / n] * 6

# pending until every rank has called: done() is False and value() refuses meanwhile
if r == 0:
    t = mine()
    work = dist.all_reduce(t, async_op=True)
    fut = work.get_future()
    seen = []
    chained = fut.then(lambda f: seen.append(threading.current_thread().name) or "ran")
    assert not fut.done() and not chained.done()
    try:
        fut.value()
    except RuntimeError as e:
        assert "wait()" in str(e)
    else:
        raise AssertionError("value() of a pending future returned")
    assert chained.wait() == "ran" and fut.done() and work.is_completed()
    assert seen and seen[0].startswith("ember-callbacks"), seen
else:
    time.sleep(0.5)
    t = mine()
    dist.all_reduce(t)
assert t.tolist() == [total] * 4

# then() on a completed future runs the callback at once, on this thread
done_fut = dist.all_reduce(mine(), async_op=True).get_future()
done_fut.wait()
here = []
done_fut.then(lambda f: here.append(threading.current_thread().name))
assert here == [threading.current_thread().name], here

# an exception in a callback becomes the new future's exception
bad = dist.all_reduce(mine(), async_op=True).get_future().then(lambda f: 1 / 0)
try:
    bad.wait()
except ZeroDivisionError:
    pass
else:
    raise AssertionError("the callback's exception was lost")

# a callback may start a collective and wait on it (PowerSGD's hooks do)
t = mine()
nested = dist.all_reduce(t, async_op=True).get_future().then(
    lambda f: dist.all_reduce(f.value()[0].clone(), async_op=True).get_future().wait()[0]
)
assert nested.wait().tolist() == [total * n] * 4

# other collectives: their output tensors
out = [ember.zeros(3) for _ in range(n)]
v = dist.all_gather(out, ember.full((3,), float(r)), async_op=True).get_future().wait()
assert v[0] is out and [o.tolist() for o in out] == [[float(k)] * 3 for k in range(n)]
b = ember.full((2,), float(r))
assert dist.broadcast(b, src=0, async_op=True).get_future().wait()[0].tolist() == [0.0, 0.0]
outs = [ember.zeros(1) for _ in range(n)]
ins = [ember.full((1,), float(10 * r + k)) for k in range(n)]
v = dist.all_to_all(outs, ins, async_op=True).get_future().wait()
assert v == outs and [o.item() for o in outs] == [float(10 * k + r) for k in range(n)], [o.item() for o in outs]
assert dist.barrier(async_op=True).get_future().wait() == []

# collect_all and wait_all over several collectives in flight
ts = [mine() for _ in range(3)]
futs = [dist.all_reduce(x, async_op=True).get_future() for x in ts]
assert collect_all(futs).wait() == futs
assert [v[0].tolist() for v in wait_all(futs)] == [[total] * 4] * 3

# a plain Future, completed by hand, runs its callbacks on the completing thread
f = Future()
g = f.then(lambda x: x.value() + 1)
assert not f.done() and not g.done()
f.set_result(41)
assert g.done() and g.wait() == 42
try:
    f.set_result(0)
except RuntimeError:
    pass
else:
    raise AssertionError("a future completed twice")

dist.destroy_process_group()
print(f"rank {r} OK", flush=True)
