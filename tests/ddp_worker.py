"""Run by torchrun in tests/test_train.py: gradients of one contrastive step under DDP (gloo, CPU).

Usage: torchrun --nproc_per_node W tests/ddp_worker.py OUT.pt   (W = 1 also works without DDP: single process)
"""

import os
import sys

import torch
import torch.distributed as dist

from sslsan.negatives import NoiseConfig
from sslsan.runs import TrainConfig, build_model
from sslsan.train import NegativeSource, StepInputs, contrastive_step


def main(out: str) -> None:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        dist.init_process_group("gloo")
    rank = dist.get_rank() if world > 1 else 0
    config = TrainConfig(image_size=64, last_stride=1, front_end="mini", dim=32, amp=False, batch_size=8)
    torch.manual_seed(0)
    model = build_model(config)
    model.eval()  # BatchNorm with fixed statistics: per-process batch statistics would differ by design
    generator = torch.Generator().manual_seed(123)
    images = torch.rand(config.batch_size, 3, 64, 64, generator=generator)
    waves = torch.randn(config.batch_size, 48000, generator=generator) * 0.1
    local = config.batch_size // world
    part = slice(rank * local, (rank + 1) * local)
    net = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    negatives = NegativeSource(48000, NoiseConfig(), torch.device("cpu"))
    loss, _ = contrastive_step(net, config, StepInputs(waves[part], images=images[part]), negatives,
                               torch.Generator())
    loss.backward()
    if rank == 0:
        grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
        torch.save({"loss": loss.detach(), "grads": grads}, out)
    if world > 1:
        dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
