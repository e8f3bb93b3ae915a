"""Verdicts written down as a rule and applied by code, and error bars that show where the spread comes from.

The rule (:data:`RULE`), in words: setting A is called *better* (or *worse*) than setting B on a metric only when
the two were run on the same (pretraining seed, audio-visual seed) pairs, and the two-sided ``confidence``
t-interval of the mean paired difference ``A − B`` lies entirely on one side of zero **and** beyond the rule's
minimum effect. Otherwise the verdict is *no clear difference*. With a single pair there is no interval, and the
verdict is always *no clear difference* ("one run").

Why paired: the pretraining seed and the audio-visual seed move every setting together (same trunk, same data
order), so the differences vary less than the settings themselves; pairing removes that shared part. Why the
pretraining seed is in the key: the book's first error bars held the trunk fixed and were too narrow — numbers
re-run on another machine moved outside them (:func:`spread` shows the two components separately).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Hashable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

BETTER, WORSE, UNCLEAR = "better", "worse", "no clear difference"
ONE_RUN = "one run (no interval)"


@dataclass(frozen=True)
class Rule:
    """A verdict rule: the confidence of the paired t-interval and the smallest difference that counts
    (in the metric's units; the interval must clear it, not just zero)."""

    confidence: float = 0.95
    min_effect: float = 0.0

    def __post_init__(self):
        if not 0 < self.confidence < 1:
            raise ValueError(f"Rule.confidence={self.confidence}: expected a level in (0, 1)")
        if self.min_effect < 0:
            raise ValueError(f"Rule.min_effect={self.min_effect}: expected a non-negative difference")

    def describe(self) -> str:
        """The rule in one sentence, for the report's protocol block."""
        effect = f" and beyond ±{self.min_effect:g}" if self.min_effect else ""
        return (f"a difference counts only when the paired {self.confidence:.0%} t-interval over the same "
                f"(pretraining seed, audio-visual seed) pairs excludes zero{effect}")


#: The book's rule: 95 % paired t-interval, any effect that clears zero.
RULE = Rule()


@dataclass(frozen=True)
class Comparison:
    """The paired comparison of settings ``a`` and ``b`` on one metric: ``mean`` = mean of ``a − b`` over ``n``
    pairs, ``[low, high]`` its t-interval (``nan`` with one pair), ``verdict`` for ``a`` relative to ``b``
    (:data:`BETTER`, :data:`WORSE` or :data:`UNCLEAR`, taking ``higher_is_better`` into account)."""

    a: str
    b: str
    metric: str
    mean: float
    low: float
    high: float
    n: int
    verdict: str
    basis: str


def _paired(a_values, b_values) -> tuple[np.ndarray, np.ndarray]:
    """Both settings' values over their shared keys (mappings) or positions (sequences), dropping pairs where
    either is nan: two arrays of shape ``(n,)``."""
    if isinstance(a_values, Mapping) and isinstance(b_values, Mapping):
        keys = [k for k in a_values if k in b_values]
        pairs = [(float(a_values[k]), float(b_values[k])) for k in keys]
    elif isinstance(a_values, Mapping) or isinstance(b_values, Mapping):
        raise TypeError("compare: give both settings as mappings keyed by (pretrain seed, av seed), or both as "
                        "sequences in the same order")
    else:
        if len(a_values) != len(b_values):
            raise ValueError(f"compare: {len(a_values)} and {len(b_values)} values cannot be paired")
        pairs = [(float(x), float(y)) for x, y in zip(a_values, b_values)]
    pairs = [(x, y) for x, y in pairs if math.isfinite(x) and math.isfinite(y)]
    a, b = (np.array(column, dtype=float) for column in zip(*pairs)) if pairs else (np.zeros(0), np.zeros(0))
    return a, b


def t_interval(differences: np.ndarray, confidence: float) -> tuple[float, float, float]:
    """``(mean, low, high)`` of ``d`` (shape ``(n,)``): ``mean ± t_{n−1, (1+confidence)/2} · s / √n`` with ``s``
    the sample standard deviation (ddof 1); low/high are ``nan`` for ``n < 2``."""
    n = len(differences)
    if n == 0:
        return math.nan, math.nan, math.nan
    mean = float(np.mean(differences))
    if n < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf((1 + confidence) / 2, n - 1) * np.std(differences, ddof=1) / math.sqrt(n))
    return mean, mean - half, mean + half


def compare(a_values: Mapping[Hashable, float] | Sequence[float], b_values: Mapping[Hashable, float] | Sequence[float],
            *, a: str = "a", b: str = "b", metric: str = "", rule: Rule = RULE, higher_is_better: bool = True
            ) -> Comparison:
    """Setting ``a`` against ``b`` by :data:`RULE` (see the module docstring): values keyed by
    ``(pretrain_seed, av_seed)`` (only shared keys are paired) or two sequences in the same order.

    Never raises for too few pairs: with one pair the interval is ``nan`` and the verdict :data:`UNCLEAR`
    (basis :data:`ONE_RUN`), so smoke runs with one seed still produce a report."""
    x, y = _paired(a_values, b_values)
    n = len(x)
    mean, low, high = t_interval(x - y, rule.confidence)
    if n < 2:
        basis = ONE_RUN if n == 1 else "no shared runs"
        return Comparison(a, b, metric, mean, low, high, n, UNCLEAR, basis)
    sign = 1.0 if higher_is_better else -1.0
    gain_low, gain_high = sorted((sign * low, sign * high))  # the interval of the improvement of a over b
    if gain_low > rule.min_effect:
        verdict = BETTER
    elif gain_high < -rule.min_effect:
        verdict = WORSE
    else:
        verdict = UNCLEAR
    basis = f"paired {rule.confidence:.0%} t-interval over {n} pairs" + (
        f", minimum effect {rule.min_effect:g}" if rule.min_effect else "")
    return Comparison(a, b, metric, mean, low, high, n, verdict, basis)


def interval_text(c: Comparison, digits: int = 3) -> str:
    """``"+0.012 [+0.004, +0.020]"`` (mean difference a − b and its interval), ``"+0.012 (one run)"`` without an
    interval, ``"—"`` without any shared run."""
    if not math.isfinite(c.mean):
        return "—"
    if not (math.isfinite(c.low) and math.isfinite(c.high)):
        return f"{c.mean:+.{digits}f} (one run)"
    return f"{c.mean:+.{digits}f} [{c.low:+.{digits}f}, {c.high:+.{digits}f}]"


def verdict_sentence(c: Comparison, digits: int = 3) -> str:
    """The report's sentence: ``"SSL-SaN is better than EZ-VSL on pIA silence: +0.120 [+0.080, +0.160]
    (paired 95% t-interval over 6 pairs)."``"""
    relation = "shows no clear difference from" if c.verdict == UNCLEAR else f"is {c.verdict} than"
    on = f" on {c.metric}" if c.metric else ""
    has_interval = math.isfinite(c.low) and math.isfinite(c.high)
    numbers = interval_text(c, digits) if has_interval or not math.isfinite(c.mean) else f"{c.mean:+.{digits}f}"
    return f"{c.a} {relation} {c.b}{on}: {numbers} ({c.basis})."


def claim_verdict(comparisons: Sequence[Comparison], expected: str = BETTER) -> str:
    """A claim made of several comparisons (e.g. "SaN helps every method"): ``"supported"`` when every one has
    the ``expected`` verdict, ``"contradicted"`` when any has the opposite one, else ``"not shown"``."""
    opposite = {BETTER: WORSE, WORSE: BETTER}.get(expected)
    verdicts = [c.verdict for c in comparisons]
    if verdicts and all(v == expected for v in verdicts):
        return "supported"
    if opposite is not None and any(v == opposite for v in verdicts):
        return "contradicted"
    return "not shown"


@dataclass(frozen=True)
class Spread:
    """Where the spread of one setting's numbers comes from: ``mean`` and ``total_std`` over every run,
    ``pretrain_std`` = std across pretraining seeds of the per-trunk means, ``within_std`` = mean over trunks of the
    std across audio-visual seeds (``nan`` where a component has a single level), ``n`` runs in all."""

    mean: float
    total_std: float
    pretrain_std: float
    within_std: float
    n: int


def _std(values) -> float:
    values = np.asarray(values, dtype=float)
    return float(np.std(values, ddof=1)) if len(values) > 1 else math.nan


def spread(values: Mapping[tuple[int, int], float]) -> Spread:
    """The two components of the spread of ``{(pretrain_seed, av_seed): value}`` (nan values left out), sample
    standard deviations (ddof 1) throughout."""
    finite = {k: float(v) for k, v in values.items() if math.isfinite(float(v))}
    by_trunk: dict = {}
    for (pretrain_seed, _), v in finite.items():
        by_trunk.setdefault(pretrain_seed, []).append(v)
    all_values = list(finite.values())
    within = [_std(vs) for vs in by_trunk.values() if len(vs) > 1]
    return Spread(mean=float(np.mean(all_values)) if all_values else math.nan, total_std=_std(all_values),
                  pretrain_std=_std([np.mean(vs) for vs in by_trunk.values()]),
                  within_std=float(np.mean(within)) if within else math.nan, n=len(all_values))


def spread_table(grid: Mapping[str, Mapping[tuple[int, int], float]]) -> pd.DataFrame:
    """``{setting: {(pretrain_seed, av_seed): value}}`` → one row per setting: mean, total std, std across
    pretraining seeds, mean std within a trunk, number of runs."""
    rows = {setting: spread(values) for setting, values in grid.items()}
    return pd.DataFrame({setting: {"mean": s.mean, "total std": s.total_std, "std across trunks": s.pretrain_std,
                                   "std within a trunk": s.within_std, "runs": s.n}
                         for setting, s in rows.items()}).T
