"""ember's main job: train a small CNN on scikit-learn's 8x8 digits, end to end.

    python -m ember.examples.digits [--epochs 10] [--batch-size 32] [--lr 2e-3] [--seed 0]
                                    [--device auto|cpu|gpu] [--out runs/digits] [--max-batches N]

Loads ``ember.data.datasets.Digits`` through a shuffling DataLoader, trains with Adam and cross
entropy on the best device present (a hardware GPU adapter when one exists, else the CPU), shows
a tqdm bar per epoch with loss and throughput, evaluates on the held-out split after each epoch,
saves a checkpoint (safetensors) and writes a PNG of the training curves.

Data-parallel on N processes, as a torchrun script does it (``--ddp``: process group,
``DistributedDataParallel``, a ``DistributedSampler`` with ``set_epoch``)::

    python -m ember.distributed.run --nproc-per-node 2 -m ember.examples.digits --ddp

``--batch-size`` stays the global batch: each rank trains on ``batch-size / N`` images of every
step, so a run on N ranks takes the same steps as one process with that batch. Loss and accuracy
are summed over the ranks (the held-out split is sharded between them); only rank 0 prints,
saves the checkpoint (the plain model's keys) and writes the PNG. Without a launcher ``--ddp``
runs as a group of one rank.
"""

import argparse
import json
import os
import time

import ember
from ember import nn
from ember.data import DataLoader, DistributedSampler, Subset
from ember.data.datasets import Digits

from . import _ddp


def best_device():
    """A hardware GPU adapter when ember has one, else the CPU (software adapters lose to it)."""
    gpu = getattr(ember, "gpu", None)
    if gpu is not None and gpu.is_available() and not gpu.is_software():
        return "gpu"
    return "cpu"


def make_model():
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, 10),
    )


def evaluate(model, loader, device, world=1):
    """Mean cross entropy and accuracy over ``loader``, summed over ``world`` ranks first
    (each rank evaluating its own shard)."""
    model.eval()
    correct = total = 0
    loss_sum = 0.0
    with ember.no_grad():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            logits = model(x)
            loss_sum += nn.functional.cross_entropy(logits, y, reduction="sum").item()
            correct += (logits.argmax(1) == y).sum().item()
            total += len(y)
    model.train()
    loss_sum, correct, total = _ddp.all_reduce_sums([loss_sum, correct, total], world)
    return loss_sum / total, correct / total


def plot_curves(history, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    a.plot(epochs, [h["train_loss"] for h in history], label="train")
    a.plot(epochs, [h["test_loss"] for h in history], label="held-out")
    a.set_xlabel("epoch")
    a.set_ylabel("cross entropy")
    a.legend()
    b.plot(epochs, [h["test_acc"] for h in history], color="tab:green")
    b.set_xlabel("epoch")
    b.set_ylabel("held-out accuracy")
    fig.suptitle("ember: CNN on scikit-learn digits")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=32,
                   help="images per step; with --ddp the global batch, split evenly between the ranks")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto",
                   help="auto (best present), cpu or gpu; with --ddp, gpu is gpu:LOCAL_RANK when there are several")
    p.add_argument("--out", default=os.path.join("runs", "digits"))
    p.add_argument("--max-batches", type=int, default=None, help="stop each epoch after this many batches (smoke runs)")
    p.add_argument("--ddp", action="store_true",
                   help="data-parallel over the ranks of a launcher (python -m ember.distributed.run "
                        "--nproc-per-node N -m ember.examples.digits --ddp); one rank without one")
    args = p.parse_args(argv)
    device = best_device() if args.device == "auto" else args.device
    return _ddp.run(_train, args, device)


def _train(args, device, rank=0, world=None):
    """Trains; ``world`` None is the plain single-process run, else DDP on ``world`` ranks."""
    from tqdm import tqdm

    ddp = world is not None
    log = _ddp.printer(rank)
    ember.manual_seed(args.seed)
    train_set, test_set = Digits(train=True), Digits(train=False)
    if ddp:
        batch = args.batch_size // world
        sampler = DistributedSampler(train_set, num_replicas=world, rank=rank, shuffle=True, seed=args.seed)
        train_loader = DataLoader(train_set, batch_size=batch, sampler=sampler)
        # Each rank evaluates every world-th held-out image; evaluate() sums the counts.
        test_loader = DataLoader(Subset(test_set, range(rank, len(test_set), world)), batch_size=256)
    else:
        g = ember.Generator().manual_seed(args.seed)
        train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, generator=g)
        test_loader = DataLoader(test_set, batch_size=256)
    model = make_model().to(device)
    if ddp:
        model = nn.parallel.DistributedDataParallel(model)
    opt = ember.optim.Adam(model.parameters(), lr=args.lr)
    if rank == 0:
        os.makedirs(args.out, exist_ok=True)
    if ddp:
        where = f"{world} rank{'s' if world > 1 else ''} ({device}, {args.batch_size // world} images each per step)"
    else:
        where = device
    log(f"ember {ember.__version__}: training on {where}, {len(train_set)} train / {len(test_set)} held-out images")
    history = []
    for epoch in range(1, args.epochs + 1):
        if ddp:
            sampler.set_epoch(epoch)
        seen, loss_sum, start = 0, 0.0, time.perf_counter()
        bar = tqdm(train_loader, desc=f"epoch {epoch}/{args.epochs}", unit="batch", leave=True, disable=rank != 0)
        for i, (x, y) in enumerate(bar):
            if args.max_batches is not None and i >= args.max_batches:
                break
            x, y = x.to(device), y.to(device)
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            seen += len(y)
            loss_sum += loss.item() * len(y)
            # With --ddp the bar shows rank 0's share of the loss and all ranks' throughput.
            bar.set_postfix(loss=f"{loss_sum / seen:.4f}",
                            samples_per_s=f"{seen * (world or 1) / (time.perf_counter() - start):,.0f}")
        bar.close()
        if ddp:
            loss_sum, seen = _ddp.all_reduce_sums([loss_sum, seen], world)
        test_loss, test_acc = evaluate(model.module if ddp else model, test_loader, device, world or 1)
        history.append({"epoch": epoch, "train_loss": loss_sum / max(seen, 1), "test_loss": test_loss, "test_acc": test_acc})
        log(f"epoch {epoch}: train loss {loss_sum / max(seen, 1):.4f}, held-out loss {test_loss:.4f}, accuracy {test_acc:.4f}")
    if rank != 0:
        return history
    ckpt = os.path.join(args.out, "checkpoint.safetensors")
    plain = model.module if ddp else model  # no "module." prefix in the saved keys
    ember.save({"model": plain.state_dict(), "optimizer_lr": args.lr, "epochs": args.epochs, "history": history}, ckpt)
    png = os.path.join(args.out, "curves.png")
    plot_curves(history, png)
    with open(os.path.join(args.out, "history.json"), "w") as f:
        json.dump(history, f, indent=1)
    print(f"saved {ckpt} and {png}; final held-out accuracy {history[-1]['test_acc']:.4f}")
    return history


if __name__ == "__main__":
    main()
