"""One rank of a data-parallel training job: fits a small MLP to a synthetic regression task.

Started by examples/clustered/ddp.ts in every rank of a clustered task. It reads the rendezvous from the
environment torchrun (or flyte-ts's built-in launcher) sets: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT.
DistributedDataParallel all-reduces the gradients through the gloo backend on CPU, so every rank ends each
step with the same parameters. Progress goes to stderr; the last stdout line is the result as JSON.

With --reference it trains the same model on the whole dataset in one process: since the shards are equal
in size, averaging the shard gradients equals the full-batch gradient, so the loss curves must match.
"""
import argparse
import json
import os
import sys

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--reference", action="store_true", help="train on one process, no torch.distributed (for comparison)")
    args = parser.parse_args()

    if args.reference:
        rank, world = 0, 1
    else:
        dist.init_process_group("gloo", init_method="env://")
        rank, world = dist.get_rank(), dist.get_world_size()
    torch.set_num_threads(1)

    # Same dataset on every rank (seeded), each rank trains on its own shard.
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1024, 8, generator=gen)
    w_true = torch.randn(8, 1, generator=gen)
    y = torch.tanh(x @ w_true) + 0.01 * torch.randn(1024, 1, generator=gen)
    shard = slice(rank, None, world)
    xs, ys = x[shard], y[shard]

    torch.manual_seed(rank)  # different init per rank: DDP must broadcast rank 0's parameters
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    if not args.reference:
        model = DistributedDataParallel(model)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)

    losses = []
    for epoch in range(args.epochs):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(xs), ys)
        loss.backward()  # DDP all-reduces (averages) the gradients across ranks here
        opt.step()
        global_loss = loss.detach().clone()
        if not args.reference:
            dist.all_reduce(global_loss)
        losses.append(global_loss.item() / world)
        if rank == 0 and epoch % 10 == 0:
            print(f"epoch {epoch} loss {losses[-1]:.4f}", file=sys.stderr, flush=True)

    # Identical parameters on every rank prove the gradient all-reduce worked.
    in_sync = True
    if not args.reference:
        flat = torch.cat([p.detach().flatten() for p in model.parameters()])
        lo, hi = flat.clone(), flat.clone()
        dist.all_reduce(lo, op=dist.ReduceOp.MIN)
        dist.all_reduce(hi, op=dist.ReduceOp.MAX)
        in_sync = bool(torch.equal(lo, hi))
        dist.barrier()
        dist.destroy_process_group()
    print(json.dumps({"rank": rank, "worldSize": world, "losses": losses, "paramsInSync": in_sync, "torch": torch.__version__,
                      "backend": "gloo", "pid": os.getpid()}))


if __name__ == "__main__":
    main()
