"""Overhead of dlcourse.train.fit against a bare, hand-written PyTorch loop.

Both train the same small CNN on the same Fashion-MNIST batches (same loader, same optimiser
settings, same number of steps). Runs alternate (bare, fit, bare, fit, ...) so that drifts in
machine speed hit both alike; the reported throughput is the median over runs.

    python benchmarks/train_overhead.py [--runs 5] [--train-size 8192] [--out FILE]

Exits with status 1 if fit's throughput is below 0.95 of the bare loop's.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time

import torch
from torch import nn

from dlcourse.data import fashion_mnist_loaders
from dlcourse.device import get_device, seed_everything
from dlcourse.train import fit


def small_cnn() -> nn.Module:
    """A LeNet-sized CNN: (N, 1, 28, 28) -> (N, 10)."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (N, 16, 14, 14)
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (N, 32, 7, 7)
        nn.Flatten(), nn.Linear(32 * 7 * 7, 10),
    )  # fmt: skip


def bare_loop(model: nn.Module, loader, device: torch.device) -> None:
    """The loop a reader would write by hand: no metrics, no progress bar."""
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        loss = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()


def with_fit(model: nn.Module, loader, device: torch.device) -> None:
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    fit(model, loader, epochs=1, optimizer=opt, device=device, progress=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--train-size", type=int, default=8192)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--out", help="also write the markdown table to this file")
    args = parser.parse_args()

    device = get_device()
    train_loader, _ = fashion_mnist_loaders(batch_size=args.batch_size, train_size=args.train_size)
    n_images = args.train_size
    results: dict[str, list[float]] = {"bare loop": [], "dlcourse.train.fit": []}
    runners = {"bare loop": bare_loop, "dlcourse.train.fit": with_fit}
    for run in range(args.runs + 1):  # run 0 is a warm-up
        for name, runner in runners.items():
            seed_everything(run)
            model = small_cnn().to(device)
            start = time.perf_counter()
            runner(model, train_loader, device)
            seconds = time.perf_counter() - start
            if run > 0:
                results[name].append(n_images / seconds)

    bare = statistics.median(results["bare loop"])
    ours = statistics.median(results["dlcourse.train.fit"])
    ratio = ours / bare
    lines = [
        f"device: {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{platform.processor() or platform.machine()}; {args.runs} runs of {n_images} images, "
        f"batch {args.batch_size}",
        "",
        "| loop | median images/s | runs (images/s) |",
        "| --- | ---: | --- |",
    ]
    for name, values in results.items():
        runs = ", ".join(f"{v:.0f}" for v in values)
        lines.append(f"| {name} | {statistics.median(values):.0f} | {runs} |")
    lines += ["", f"throughput ratio fit / bare = {ratio:.3f} (required: >= 0.95)"]
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    return 0 if ratio >= 0.95 else 1


if __name__ == "__main__":
    sys.exit(main())
