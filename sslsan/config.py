"""Run-wide settings: where things are cached, the smoke switch, seeding, named random streams and devices.

Nothing here reads a global ``args``: functions take what they need and return plain values.
"""

from __future__ import annotations

import enum
import os
import random
from pathlib import Path

import numpy as np
import torch

from sslsan.errors import UsageError

SMOKE_ENV = "SSLSAN_SMOKE"
HOME_ENV = "SSLSAN_HOME"
WORK_ENV = "SSLSAN_WORK"

SMOKE_BANNER = (
    "#" * 78 + "\n"
    "#  SMOKE RUN (SSLSAN_SMOKE=1): tiny data, a few steps. These numbers are NOT results.  #\n" + "#" * 78
)


def quiet(progress: bool) -> bool:
    """Whether to hide a progress bar: when the caller asks for none, or ``TQDM_DISABLE`` is set (``sslsan book``
    sets it: a bar saved into a static notebook shows only its first frame). Pass it as tqdm's ``disable``."""
    return not progress or os.environ.get("TQDM_DISABLE", "").lower() in ("1", "true", "yes")


def is_smoke(value: bool | str | None = None) -> bool:
    """Resolve the smoke switch: an explicit ``value`` wins, else the ``SSLSAN_SMOKE`` environment variable.

    Notebooks keep ``SMOKE = None`` in their ``parameters`` cell, so the tests can turn every notebook into a
    quick smoke run from the environment (papermill, nbval and jupyter kernels all inherit it).
    """
    if value is None:
        value = os.environ.get(SMOKE_ENV, "")
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("", "0", "false", "no", "off"):
        return False
    if text in ("1", "true", "yes", "on"):
        return True
    raise UsageError(f"{SMOKE_ENV}={value!r}: expected 1/0, true/false, yes/no or on/off")


def announce(smoke: bool) -> None:
    """Print the loud smoke banner (hygiene tests refuse committed notebooks that contain it)."""
    if smoke:
        print(SMOKE_BANNER)


def cache_root() -> Path:
    """Root of everything sslsan downloads, builds or trains: ``$SSLSAN_HOME``, else ``~/.cache/sslsan``."""
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "sslsan"


def work_dir(smoke: bool = False) -> Path:
    """Folder for datasets, checkpoints and reports; smoke runs get their own so they never mix with real ones.

    ``$SSLSAN_WORK`` overrides it (the tests point it at a temporary folder); downloaded assets stay shared
    under :func:`cache_root`.
    """
    if os.environ.get(WORK_ENV):
        return Path(os.environ[WORK_ENV]).expanduser()
    return cache_root() / ("smoke" if smoke else "work")


def display_path(path: str | os.PathLike) -> str:
    """A path as it may appear in notebook outputs: relative to the cache root or home, never absolute."""
    path = Path(path).expanduser().absolute()
    for base, label in ((cache_root(), "$SSLSAN_HOME"), (Path.cwd(), "."), (Path.home(), "~")):
        try:
            return str(Path(label) / path.relative_to(base.absolute()))
        except ValueError:
            continue
    return path.name


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and torch from one integer and return a NumPy generator derived from it."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def bf16_is_fast(device) -> bool:
    """Whether bfloat16 autocast speeds things up on ``device`` rather than being emulated.

    CUDA: when the GPU supports bf16. CPU: only with native bf16 instructions (AVX512-BF16 or AMX); without them
    (e.g. Ice Lake Xeons) bf16 convolutions run *slower* than float32, so training and evaluation stay in float32.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: no way to tell, stay in float32
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


#: The precisions a run or a trunk can be computed in (``amp`` / ``--precision`` also accept ``auto``).
PRECISIONS = ("float32", "bfloat16")


def requested_precision(amp: bool | str = True) -> str:
    """The precision an ``amp`` option asks for: ``"auto"`` (``True``, the default: bfloat16 where it is fast,
    :func:`bf16_is_fast`), ``"float32"`` (``False``) or ``"bfloat16"`` (always; emulated, slowly, where the
    hardware has no native bf16)."""
    if amp is True or amp == "auto":
        return "auto"
    if amp is False:
        return "float32"
    if amp in PRECISIONS:
        return amp
    raise UsageError(f"precision (amp / --precision) {amp!r}: expected auto, {' or '.join(PRECISIONS)} "
                     "(or True = auto, False = float32)")


def amp_option(precision: str) -> bool | str:
    """The ``amp`` value of a ``--precision`` choice, in its canonical spelling (``auto`` → ``True``, ``float32`` →
    ``False``, ``bfloat16`` → ``"bfloat16"``), so a run asked for with the flag equals the same run asked for in
    code, and keeps its folder name."""
    return {"auto": True, "float32": False}.get(requested_precision(precision), precision)


def precision_name(device, requested: bool | str = True) -> str:
    """The precision actually used on ``device`` for the ``requested`` option: one of :data:`PRECISIONS`."""
    requested = requested_precision(requested)
    if requested == "auto":
        return "bfloat16" if bf16_is_fast(device) else "float32"
    return requested


def precision_key(precision: str) -> str:
    """The suffix a precision adds to the name of a run or trunk folder, so float32 and bfloat16 results never
    share one: ``""`` for bfloat16 (what the book's first runs used, on AMX CPUs: their folders keep their names),
    ``"-fp32"`` for float32."""
    if precision not in PRECISIONS:
        raise UsageError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    return "" if precision == "bfloat16" else "-fp32"


def describe_device(device, amp: bool | str = True) -> str:
    """What the numbers were computed on, for protocol blocks: ``"cpu (Intel Xeon …, 2 threads), bfloat16
    autocast"``. The precision matters: CPUs with native bf16 (AMX, AVX512-BF16) train and evaluate in bfloat16,
    others in float32, so the same seed gives slightly different numbers on the two kinds of machine."""
    device = torch.device(device)
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    elif device.type == "cpu":
        name = "unknown CPU"
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        name = f"{name}, {torch.get_num_threads()} threads"
    else:
        name = device.type
    precision = "bfloat16 autocast" if precision_name(device, amp) == "bfloat16" else "float32"
    return f"{device} ({name}), {precision}"


def autocast(device, requested: bool | str = True):
    """bfloat16 autocast on ``device`` when :func:`precision_name` of ``requested`` is bfloat16, else a no-op."""
    device = torch.device(device)
    return torch.autocast(device.type, dtype=torch.bfloat16,
                          enabled=precision_name(device, requested) == "bfloat16")


DEVICE_NAMES = "auto, cpu, cuda or cuda:N"


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` = CUDA when available, else the CPU; otherwise ``cpu``, ``cuda`` or ``cuda:N``, which must exist.

    Other torch device types (``meta``, ``mps``, ``xpu`` …) are refused: nothing here is written or tested for
    them, and a ``meta`` model would "train" without computing anything.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as err:
        raise UsageError(f"device {name!r}: not a device name (use {DEVICE_NAMES})") from err
    if device.type not in ("cpu", "cuda"):
        raise UsageError(f"device {name!r}: not supported (use {DEVICE_NAMES})")
    if device.type == "cpu" and device.index not in (None, 0):
        raise UsageError(f"device {name!r}: there is one CPU device, 'cpu'")
    if device.type == "cuda" and (not torch.cuda.is_available()
                                  or (device.index or 0) >= torch.cuda.device_count()):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        raise UsageError(f"device {name!r}: no such CUDA device on this machine ({count} CUDA device(s))")
    return device


#: seeds go to torch, NumPy's legacy global seed and ``SeedSequence``: non-negative integers below 2**63 suit all
MAX_SEED = 2**63 - 1


def check_seed(seed, option: str = "seed") -> int:
    """``seed`` when it is an integer in ``[0, MAX_SEED]``; otherwise :class:`UsageError` naming ``option``."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
        raise UsageError(f"{option}={seed!r}: a seed is an integer from 0 to 2**63-1")
    return int(seed)


class Stream(enum.IntEnum):
    """The named random streams of a training run. A stream's generator depends only on (seed, epoch, stream,
    rank, index) — see :func:`stream_generator` — which is what makes a resumed run exact.

    The numbers are part of the key, so they never change; a new stream takes a new number.
    """

    ORDER = 0  # the order of the training pairs in an epoch
    FLIPS = 1  # which pairs see the mirrored image
    NEGATIVES = 2  # silence/noise draws of the SaN plug-in (one stream per rank)
    VIEWS = 3  # which cached augmented audio view each pair gets
    IMAGE_VIEWS = 4  # which cached image view each pair gets, or the fresh views of a training trunk
    SECOND_AUDIO_VIEW = 5  # the second audio view of methods that compare views
    DROPOUT = 6  # the global generator's seed for an epoch of a model with dropout (its masks; one per rank)
    NOISE_BANK = 99  # the pre-encoded noise clips of a frozen audio prefix (epoch 0)


def stream_generator(seed: int, stream: Stream, epoch: int = 0, *, rank: int = 0, index: int = 0
                     ) -> torch.Generator:
    """A CPU generator for one named stream.

    The key is ``[seed, epoch, stream + index]``, with ``rank`` appended for ranks above 0: distinct streams,
    epochs and ranks never share a key (``index`` numbers the chunks of :attr:`Stream.NOISE_BANK` only).
    """
    if index and stream is not Stream.NOISE_BANK:
        raise ValueError(f"stream {stream.name} has no chunks; index must be 0")
    key = [seed, epoch, int(stream) + index] + ([rank] if rank else [])
    return torch.Generator().manual_seed(int(np.random.SeedSequence(key).generate_state(1)[0]))
