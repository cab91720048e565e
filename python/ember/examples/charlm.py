"""A small character-level transformer trained on the English text that ships with Python.

    python -m ember.examples.charlm [--steps 300] [--batch-size 32] [--seq-len 64] [--d-model 64]
                                    [--layers 2] [--heads 4] [--lr 3e-3] [--seed 0]
                                    [--device auto|cpu|gpu] [--out runs/charlm] [--resume]

The corpus is ``pydoc_data.topics`` (the text behind ``help()``: every Python has it, no
download). The model is token + position embeddings, pre-norm blocks of causal self-attention and
a GELU MLP, and a final LayerNorm and projection; it trains with AdamW, a warmup-then-cosine
schedule and gradient clipping, prints samples as it learns, and saves a checkpoint that
``--resume`` continues from.

Data-parallel on N processes, as a torchrun script does it (``--ddp``: process group and
``DistributedDataParallel``)::

    python -m ember.distributed.run --nproc-per-node 2 -m ember.examples.charlm --ddp

``--batch-size`` stays the global batch: every rank draws the same batch of windows from the
seeded stream and trains on its own ``batch-size / N`` of them (the disjoint shard a
``DistributedSampler`` would give it), so N ranks take the same steps as one process with that
batch. The printed loss is averaged over the ranks; only rank 0 prints, samples, and saves the
checkpoint (the plain model's keys), which ``--resume --ddp`` continues from on every rank.
Without a launcher ``--ddp`` runs as a group of one rank.
"""

import argparse
import math
import os
import time

import ember
import ember.distributed
from ember import nn
from ember.nn import functional as F

from . import _ddp


def load_corpus():
    from pydoc_data.topics import topics

    text = "\n\n".join(topics[k] for k in sorted(topics))
    chars = sorted(set(text))
    return text, chars


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=-1)
        split = lambda z: z.reshape(b, t, self.heads, d // self.heads).transpose(1, 2)  # noqa: E731
        y = F.scaled_dot_product_attention(split(q), split(k), split(v), is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp(self.ln2(x))


class CharLM(nn.Module):
    def __init__(self, vocab, d=64, layers=2, heads=4, seq_len=64):
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(seq_len, d)
        self.blocks = nn.ModuleList([Block(d, heads) for _ in range(layers)])
        self.ln, self.head = nn.LayerNorm(d), nn.Linear(d, vocab)
        for p in self.parameters():
            if p.dim() == 2:
                nn.init.normal_(p, 0.0, 0.02)

    def forward(self, idx):
        t = idx.shape[1]
        x = self.tok(idx) + self.pos(ember.arange(t, device=idx.device).unsqueeze(0))
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.ln(x))


@ember.no_grad()
def sample(model, chars, prompt, n, seq_len, temperature=0.8, generator=None):
    stoi = {c: i for i, c in enumerate(chars)}
    idx = [stoi.get(c, 0) for c in prompt]
    model.eval()
    device = next(model.parameters()).device
    for _ in range(n):
        ctx = ember.tensor([idx[-seq_len:]], device=device)
        logits = model(ctx)[0, -1] / temperature
        idx.append(int(ember.multinomial(logits.softmax(-1), 1, generator=generator).item()))
    model.train()
    return "".join(chars[i] for i in idx)


def batches(data, batch_size, seq_len, generator, rank=0, world=1):
    """Endless (input, target) batches of random windows; with ``world`` ranks each draws the
    same ``batch_size`` windows and keeps rank ``rank``'s ``batch_size // world`` of them."""
    while True:
        starts = ember.randint(0, len(data) - seq_len - 1, (batch_size,), generator=generator)
        n = batch_size
        if world > 1:
            n = batch_size // world
            starts = starts[rank * n:(rank + 1) * n]
        offs = starts.unsqueeze(1) + ember.arange(seq_len + 1).unsqueeze(0)
        chunk = data[offs.reshape(-1)].reshape(n, seq_len + 1)
        yield chunk[:, :-1], chunk[:, 1:]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=32,
                   help="sequences per step; with --ddp the global batch, split evenly between the ranks")
    p.add_argument("--seq-len", type=int, default=64)
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto",
                   help="auto (best present), cpu or gpu; with --ddp, gpu is gpu:LOCAL_RANK when there are several")
    p.add_argument("--sample-every", type=int, default=100)
    p.add_argument("--out", default=os.path.join("runs", "charlm"))
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    p.add_argument("--ddp", action="store_true",
                   help="data-parallel over the ranks of a launcher (python -m ember.distributed.run "
                        "--nproc-per-node N -m ember.examples.charlm --ddp); one rank without one")
    args = p.parse_args(argv)
    from .digits import best_device

    device = best_device() if args.device == "auto" else args.device
    return _ddp.run(_train, args, device)


def _train(args, device, rank=0, world=None):
    """Trains; ``world`` None is the plain single-process run, else DDP on ``world`` ranks."""
    ddp = world is not None
    log = _ddp.printer(rank)
    ember.manual_seed(args.seed)
    text, chars = load_corpus()
    data = ember.tensor([chars.index(c) for c in text]).to(device)
    model = CharLM(len(chars), args.d_model, args.layers, args.heads, args.seq_len).to(device)
    opt = ember.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    warmup = max(1, args.steps // 20)
    schedule = ember.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, args.steps) / args.steps))
    )
    if rank == 0:
        os.makedirs(args.out, exist_ok=True)
    ckpt = os.path.join(args.out, "checkpoint.safetensors")
    start = 0
    if args.resume and os.path.exists(ckpt):
        state = ember.load(ckpt)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        start = state["step"]
        log(f"resumed from {ckpt} at step {start}")
    plain = model  # what sample() runs and the checkpoint saves: no "module." prefix
    if ddp:
        model = nn.parallel.DistributedDataParallel(model)
    g = ember.Generator().manual_seed(args.seed + start)
    stream = batches(data, args.batch_size, args.seq_len, g, rank, world or 1)
    if ddp:
        where = f"{world} rank{'s' if world > 1 else ''} ({device}, {args.batch_size // world} sequences each per step)"
    else:
        where = device
    log(f"ember {ember.__version__}: charlm on {where}, {len(text):,} characters, vocabulary {len(chars)}, "
        f"{sum(p.numel() for p in model.parameters()):,} parameters")
    t0, loss = time.perf_counter(), None
    for step in range(start, args.steps):
        x, y = next(stream)
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, len(chars)), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        schedule.step()
        if (step + 1) % args.sample_every == 0 or step + 1 == args.steps:
            rate = (step + 1 - start) * args.batch_size * args.seq_len / (time.perf_counter() - t0)
            value = loss.item()
            if ddp:
                value = _ddp.all_reduce_sums([value], world)[0] / world
            log(f"step {step + 1}: loss {value:.3f}, {rate:,.0f} tokens/s")
            if rank == 0:
                log("  sample: " + repr(sample(plain, chars, "The ", 80, args.seq_len, generator=g)))
            if ddp and world > 1:
                # Sampling drew from g on rank 0 only: hand its state on, so every rank's
                # stream draws the same next batches (as one process would).
                state = g.get_state()
                ember.distributed.broadcast(state, src=0)
                g.set_state(state)
    # With --ddp the loss reported, saved and returned is the last step's, averaged over the ranks.
    final = None if loss is None else (value if ddp else loss.item())
    if rank == 0:
        ember.save({"model": plain.state_dict(), "optimizer": opt.state_dict(), "schedule": schedule.state_dict(), "step": args.steps, "loss": final}, ckpt)
        log(f"saved {ckpt}")
    return final


if __name__ == "__main__":
    main()
