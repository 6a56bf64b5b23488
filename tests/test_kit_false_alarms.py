"""The kit's false-alarm rate, measured: every correct registered class over many seeds.

The budget (``relaxit.testing.stats``): every elementary statistical test rejects at level
``ALPHA`` = 1e-6, and a run of ``tests/test_conformance.py`` performs fewer than 1000 of them
(``test_false_alarm_budget``), so by the union bound a correct library fails a CI run with
probability < 1e-3. A rate of 1e-6 cannot be measured in a test; what is measured here is

* the alarms themselves: ``RUNS`` fresh-seed runs of every statistical check on every registered
  example must raise nothing;
* the calibration the bound rests on: over all the elementary tests of all runs, the fraction
  of (Bonferroni-scaled) p-values below 1e-2 and below 1e-3 must not exceed what a calibrated
  test gives (binomial upper quantile at 1e-4). A test whose standard error is underestimated
  (the failure mode that would break the union bound) shows up here first.

Run: ``pytest -m slow tests/test_kit_false_alarms.py -s`` (prints the counts).
"""

import pytest
from scipy import stats

from relaxit.testing import (
    check_independence,
    check_normalization,
    check_pathwise_gradient,
    check_sample_law,
)
from relaxit.testing.registry import EXAMPLES
from relaxit.testing.stats import ALPHA, recording_pvalues, seed_offset

RUNS = 8
STATISTICAL_CHECKS = (
    check_normalization,
    check_sample_law,
    check_independence,
    check_pathwise_gradient,
)


@pytest.mark.slow
def test_correct_classes_raise_no_false_alarm_and_p_values_are_calibrated():
    alarms: list[str] = []
    records: list[tuple[str, float]] = []
    examples = [e for e in EXAMPLES if e.statistical]
    for run in range(1, RUNS + 1):
        with seed_offset(run), recording_pvalues() as rec:
            for example in examples:
                for check in STATISTICAL_CHECKS:
                    try:
                        check(example)
                    except AssertionError as e:
                        alarms.append(f"run {run}: {e}")
        records += rec
    n = len(records)
    summary = [f"{RUNS} runs x {len(examples)} examples: {n} p-values, {len(alarms)} alarms"]
    for level in (1e-2, 1e-3, ALPHA):
        count = sum(p < level for _, p in records)
        bound = int(stats.binom.ppf(1 - 1e-4, n, level))
        summary.append(f"p < {level:g}: {count} (calibrated: <= {bound}, mean {n * level:.2f})")
        if level > ALPHA:
            smallest = sorted(records, key=lambda r: r[1])[:10]
            assert count <= bound, "\n".join([*summary, *(f"{t}: {p:.2e}" for t, p in smallest)])
    print("\n".join(summary))
    assert not alarms, "\n".join(alarms)
