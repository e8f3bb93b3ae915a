"""Benchmark: sslsan.metrics against the lineage's per-sample numpy evaluation, side by side, same numbers.

The work timed on both sides, for N maps of S×S pixels:

- cIoU under the median policy (min-max normalise, threshold = sorted value at index S·S // 2, keep ``>``),
- cIoU under the adaptive policy (threshold = k-th largest value, k = GT area),
- their summaries (cIoU@0.5, mean cIoU, AUC over t = 0.05·i),
- pIA of negative-audio maps at an absolute threshold, and AUC_N.

The *lineage* side is the per-sample loop of EZ-VSL / SSL-Align / vssl_eval (``normalize_img``, a full ``np.sort``
of each map to find its threshold, ``cal_CIOU`` with a float64 zero map, ``sklearn.metrics.auc``), written out here.
Its inputs are numpy arrays prepared before the clock starts (float32 maps, float64 GT maps as ``bbox2gtmap`` makes
them); numpy's sort is single-threaded, so this side runs on one core. The *sslsan* side is the public API the
evaluation runner calls — :func:`sslsan.metrics.ciou_per_policy` (median and adaptive together),
:func:`~sslsan.metrics.localization_summary` for each, :func:`~sslsan.metrics.pia` and :func:`~sslsan.metrics.auc_n` —
on torch tensors already on the device, with torch's default CPU thread count (every core: on the project's 2-core
machine, both). On a CPU this runs the numba kernels (``--backend auto``, the default; ``--backend torch`` times the
torch path instead). Their JIT compilation (or the load of numba's on-disk cache) happens in a warm-up call before
the clock starts; its duration is printed as "first call".

Data: 7×7 cosine-like maps (noise, plus a response on the object for positives) upsampled bilinearly
(``align_corners=True``, as EZ-VSL's test.py) to S×S; one random box per positive map as GT, and every fourth GT is
a Flickr-style consensus map (0.5 where one "annotator" of three marked it).

Usage::

    python benchmarks/bench_metrics.py                      # 2,000 maps at 224×224 on the CPU, torch's default threads
    python benchmarks/bench_metrics.py --backend torch      # the torch path on the CPU instead of the numba kernels
    python benchmarks/bench_metrics.py --device cuda        # sslsan side on the GPU (the lineage side stays numpy)
    python benchmarks/bench_metrics.py --threads 1          # one thread for the sslsan side
    python benchmarks/bench_metrics.py --breakdown          # also time the threshold search alone
    python benchmarks/bench_metrics.py --rounds 5 --scaling 500,2000,8000,16000

The script exits non-zero if the two sides disagree. It prints the CPU model and the thread count, then ``--rounds``
rounds of the comparison (each: the lineage once, the sslsan side best of ``--repeats``), each with the 1-minute load
average, and the best and the median ratio over the rounds: other work on the machine distorts both sides, not
necessarily equally, so one round is not a measurement. Last, both sides' cost at each N of ``--scaling`` (time per
map stays flat when the cost is linear in N; the lineage is extrapolated beyond ``--n``, and the output says so).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from sklearn import metrics as skmetrics

from sslsan import metrics

PIA_THRESHOLD = 0.3


# ----------------------------------------------------------------------------------------------- data


def make_data(n: int, size: int, seed: int) -> dict[str, torch.Tensor]:
    """Positive maps, GT maps and negative maps (CPU tensors; maps float32, GT float32 with values 0, 0.5, 1)."""
    gen = torch.Generator().manual_seed(seed)

    def upsampled(grid: torch.Tensor) -> torch.Tensor:
        return F.interpolate(grid, size=(size, size), mode="bilinear", align_corners=True)[:, 0].contiguous()

    gt = torch.zeros(n, size, size)
    corners = torch.randint(0, size // 2, (n, 2), generator=gen)
    extents = torch.randint(size // 8, size // 2, (n, 2), generator=gen)
    for i in range(n):
        (y, x), (h, w) = corners[i].tolist(), extents[i].tolist()
        gt[i, y:y + h, x:x + w] = 1.0
        if i % 4 == 0:  # consensus map: a second, shifted box marked by one annotator only
            shifted = torch.zeros(size, size)
            shifted[y + h // 3:y + h + h // 3, x + w // 4:x + w + w // 4] = 1.0
            gt[i] = torch.clamp((gt[i] * 2 + shifted) / 2, max=1.0)
    # Positive maps respond on the object (its 7×7 footprint) plus noise; negative maps are noise only.
    footprint = F.adaptive_avg_pool2d(gt[:, None], 7)
    positive = upsampled(0.2 * torch.randn(n, 1, 7, 7, generator=gen) + 0.4 * footprint)
    negative = upsampled(0.2 * torch.randn(n, 1, 7, 7, generator=gen))
    return {"maps": positive, "gt": gt, "negative": negative}


# ----------------------------------------------------------------------------------------------- lineage side


def normalize_img(value: np.ndarray) -> np.ndarray:
    vmin, vmax = value.min(), value.max()
    if not (vmax - vmin) == 0:
        value = (value - vmin) / (vmax - vmin)
    return value


def cal_ciou(infer: np.ndarray, gtmap: np.ndarray, thres: float) -> float:
    infer_map = np.zeros(gtmap.shape)
    infer_map[infer > thres] = 1
    denominator = np.sum(gtmap) + np.sum(infer_map * (gtmap == 0))
    return float(np.sum(infer_map * gtmap) / denominator) if denominator > 0 else 0.0


def success_auc(values: list[float], at_least: bool = True) -> float:
    values = np.array(values)
    rates = [np.sum(values >= 0.05 * i if at_least else values <= 0.05 * i) / len(values) for i in range(21)]
    return float(skmetrics.auc([0.05 * i for i in range(21)], rates))


def lineage(maps: np.ndarray, gts: np.ndarray, negatives: np.ndarray) -> dict:
    pixels = maps.shape[1] * maps.shape[2]
    median, adaptive, pias = [], [], []
    for pred_raw, gt in zip(maps, gts):
        pred = normalize_img(pred_raw)
        median.append(cal_ciou(pred, gt, np.sort(pred.flatten())[int(pixels / 2)]))
        gt_nums = (gt > 0).sum()
        if gt_nums == 0:
            gt_nums = int(pixels) / 2
        adaptive.append(cal_ciou(pred, gt, np.sort(pred.flatten())[int(pixels) - int(gt_nums)]))
    for negative in negatives:
        pias.append(np.sum((negative > PIA_THRESHOLD).astype(int)) / negative.size)
    summary = lambda c: {"ciou@0.5": float(np.mean(np.array(c) >= 0.5)), "mean_ciou": float(np.mean(c)),  # noqa: E731
                         "auc": success_auc(c)}
    return {"median": np.array(median), "adaptive": np.array(adaptive), "pia": np.array(pias),
            "median_summary": summary(median), "adaptive_summary": summary(adaptive),
            "auc_n": success_auc(pias, at_least=False)}


# ----------------------------------------------------------------------------------------------- sslsan side


def vectorised(maps: torch.Tensor, gt: torch.Tensor, negatives: torch.Tensor) -> dict:
    median, adaptive = metrics.ciou_per_policy(maps, gt, ["median", "adaptive"])
    pias = metrics.pia(negatives, PIA_THRESHOLD)
    return {"median": median, "adaptive": adaptive, "pia": pias,
            "median_summary": metrics.localization_summary(median),
            "adaptive_summary": metrics.localization_summary(adaptive), "auc_n": metrics.auc_n(pias)}


# ----------------------------------------------------------------------------------------------- threshold search


def search_breakdown(data: dict, device: torch.device, repeats: int, sync) -> None:
    """Time only the search for the two rank thresholds (median and adaptive ranks) of every raw map, three ways."""
    maps = data["maps"]
    pixels = maps[0].numel()
    ranks = torch.stack([torch.full((maps.shape[0],), pixels // 2), metrics.adaptive_ranks(data["gt"])], dim=1)
    maps_np, ranks_np = maps.numpy(), ranks.numpy()
    on_device, ranks_on_device = maps.to(device), ranks.to(device)
    flat = on_device.flatten(1)

    def numpy_sort():  # the lineage: one full sort per threshold
        return [[np.sort(m.flatten())[r] for r in row] for m, row in zip(maps_np, ranks_np)]

    def bucket_select():  # the numba kernel on a CPU (unless --backend torch), the torch bucket select elsewhere
        return metrics.kth_smallest(on_device, ranks_on_device)

    def kthvalue_twice():  # torch.kthvalue takes one k per call; the adaptive rank differs per map, so this only
        return [flat.kthvalue(int(r) + 1, dim=1).values for r in ranks_np[0]]  # gives a lower bound on its cost

    print("  threshold search only (both rank thresholds of every raw map):")
    for name, fn, clock in (("np.sort per map (lineage)", numpy_sort, lambda: None),
                            ("kth_smallest (sslsan)", bucket_select, sync),
                            ("torch.kthvalue, two calls", kthvalue_twice, sync)):
        seconds, _ = best_time(fn, repeats, clock)
        print(f"    {name:34s}: {seconds:8.3f} s")


# ----------------------------------------------------------------------------------------------- harness


def best_time(fn, repeats: int, sync) -> tuple[float, dict]:
    best, result = float("inf"), None
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        result = fn()
        sync()
        best = min(best, time.perf_counter() - start)
    return best, result


def disagreements(ours: dict, theirs: dict) -> list[str]:
    problems = []
    for key in ("median", "adaptive", "pia"):
        mine = ours[key].cpu().numpy()
        if not np.array_equal(mine, theirs[key]):
            problems.append(f"{key}: {int(np.sum(mine != theirs[key]))} samples differ "
                            f"(max |Δ| {np.max(np.abs(mine - theirs[key])):.3g})")
    for key in ("median_summary", "adaptive_summary"):
        for name, value in theirs[key].items():
            if abs(ours[key][name] - value) > 1e-12:
                problems.append(f"{key}[{name}]: {ours[key][name]!r} vs {value!r}")
    if abs(ours["auc_n"] - theirs["auc_n"]) > 1e-12:
        problems.append(f"auc_n: {ours['auc_n']!r} vs {theirs['auc_n']!r}")
    return problems


def describe_path(device: torch.device) -> str:
    """Which implementation sslsan.metrics uses for these inputs (the rule of sslsan.metrics.CPU_BACKEND)."""
    if device.type != "cpu" or metrics.CPU_BACKEND == "torch":
        return f"torch on {device}"
    try:
        import numba  # only to name its version; sslsan.metrics imports it on first use
    except ImportError:
        return "torch on the CPU (numba is not installed)"
    return f"numba {numba.__version__} kernels"


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def compare(args, data: dict, device: torch.device, sync) -> tuple[dict, dict]:
    """``args.rounds`` rounds of lineage vs sslsan on the same data; prints each round and the best/median ratio."""
    numpy_inputs = (data["maps"].numpy(), data["gt"].numpy().astype(np.float64), data["negative"].numpy())
    torch_inputs = tuple(data[key].to(device) for key in ("maps", "gt", "negative"))
    # Warm-up, not timed: numba's JIT compilation (or its cache load), the CUDA context, the allocator.
    first_call, _ = best_time(lambda: vectorised(*(t[:8] for t in torch_inputs)), 1, sync)
    print(f"  sslsan first call (8 maps): {first_call:.3f} s (JIT compile or cache load: not timed below)")
    print(f"  {'round':>5}  {'load':>5}  {'lineage':>9}  {'sslsan':>9}  {'ratio':>7}")
    ratios = []
    for round_ in range(1, args.rounds + 1):
        load = os.getloadavg()[0]
        t_lineage, theirs = best_time(lambda: lineage(*numpy_inputs), 1, lambda: None)
        t_ours, ours = best_time(lambda: vectorised(*torch_inputs), args.repeats, sync)
        ratios.append(t_lineage / t_ours)
        print(f"  {round_:>5}  {load:>5.2f}  {t_lineage:>8.3f}s  {t_ours:>8.3f}s  {ratios[-1]:>6.2f}×")
    print(f"  speed-up: best {max(ratios):.2f}×, median {statistics.median(ratios):.2f}× over {args.rounds} round(s); "
          f"load average now {os.getloadavg()[0]:.2f}")
    return ours, theirs


def scaling(args, device: torch.device, sync) -> None:
    """Both sides' time at each N of ``--scaling``, and per map (flat per-map time = cost linear in N).

    The sslsan side is timed at every N (best of ``--repeats``). The lineage is timed once at each N up to ``--n``;
    beyond it, its time is extrapolated from its per-map time at the largest N timed (a loop over independent maps is
    linear in N by construction, and timing it at 8,000 maps would take minutes on a loaded machine); such rows are
    marked "extrapolated".
    """
    print(f"  scaling ({args.size}×{args.size}; sslsan best of {args.repeats}, lineage once):")
    print(f"    {'N':>6}  {'sslsan':>9}  {'µs/map':>8}  {'lineage':>9}  {'µs/map':>8}  {'ratio':>7}  {'load':>5}")
    lineage_per_map = None
    for n in (int(v) for v in args.scaling.split(",") if v):
        data = make_data(n, args.size, args.seed)
        inputs = tuple(data[key].to(device) for key in ("maps", "gt", "negative"))
        load = os.getloadavg()[0]
        seconds, _ = best_time(lambda: vectorised(*inputs), args.repeats, sync)
        if n <= args.n or lineage_per_map is None:
            numpy_inputs = (data["maps"].numpy(), data["gt"].numpy().astype(np.float64), data["negative"].numpy())
            theirs, _ = best_time(lambda: lineage(*numpy_inputs), 1, lambda: None)
            lineage_per_map, note = theirs / n, ""
        else:
            theirs, note = lineage_per_map * n, "  (lineage extrapolated from its per-map time)"
        print(f"    {n:>6}  {seconds:>8.3f}s  {1e6 * seconds / n:>8.1f}  {theirs:>8.3f}s  {1e6 * theirs / n:>8.1f}  "
              f"{theirs / seconds:>6.2f}×  {load:>5.2f}{note}")
        del data, inputs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="number of maps compared (default 2000)")
    parser.add_argument("--size", type=int, default=224, help="map side in pixels (default 224)")
    parser.add_argument("--device", default="cpu", help="device of the sslsan side: cpu or cuda (default cpu)")
    parser.add_argument("--threads", type=int, default=0,
                        help="CPU threads of the sslsan side (default 0 = torch's default: every core)")
    parser.add_argument("--backend", choices=("auto", "numba", "torch"), default="auto",
                        help="sslsan.metrics.CPU_BACKEND: numba kernels or torch for CPU tensors (default auto)")
    parser.add_argument("--rounds", type=int, default=3, help="comparison rounds; the best and median ratio are given")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of the sslsan side per round (best kept)")
    parser.add_argument("--scaling", default="500,2000,8000",
                        help="comma-separated N at which to time the sslsan side alone ('' to skip)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--breakdown", action="store_true", help="also time the threshold search on its own")
    args = parser.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    metrics.CPU_BACKEND = args.backend
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda requested but CUDA is not available")
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)

    threads = "torch's default" if args.threads == 0 else "--threads"
    print(f"{args.n} maps of {args.size}×{args.size}: cIoU (median + adaptive), summaries, pIA, AUC_N")
    print(f"CPU: {cpu_model()}, {os.cpu_count()} logical CPUs; torch {torch.__version__}, numpy {np.__version__}")
    print(f"lineage: per-sample numpy loop on 1 thread; sslsan: {describe_path(device)} on "
          f"{torch.get_num_threads()} thread(s) ({threads})")
    data = make_data(args.n, args.size, args.seed)
    ours, theirs = compare(args, data, device, sync)
    print(f"  median  {ours['median_summary']}")
    print(f"  adaptive {ours['adaptive_summary']}")
    print(f"  mean pIA {float(ours['pia'].mean()):.4f}, AUC_N {ours['auc_n']:.4f}")
    problems = disagreements(ours, theirs)
    if problems:
        print("MISMATCH between the two implementations:\n  " + "\n  ".join(problems))
        return 1
    print("  check: identical per-sample cIoU and pIA, summaries equal to 1e-12")
    if args.breakdown:
        search_breakdown(data, device, args.repeats, sync)
    del data
    if args.scaling:
        scaling(args, device, sync)
    return 0


if __name__ == "__main__":
    sys.exit(main())
