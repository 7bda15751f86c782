"""Fast paths of the analysis give exactly what the library routines they replace give.

References: ``scipy.ndimage.median_filter`` (mode "nearest") for the 7-sample running
median of the spike filter, ``np.histogram`` with a range and a bin count for the
conductance histogram (its bin rules: half-open bins, the last one closed). Inputs are
chosen to hit the hard cases: ties, values on bin edges to the last bit, values at the
range ends and outside it.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.ndimage import median_filter

from analysis.histograms import conductance_histogram
from analysis.noise import SORT7, running_median


def test_sorting_network_sorts_every_input():
    """0-1 principle: a comparator network that sorts all 2^7 binary inputs sorts all."""
    for bits in itertools.product((0, 1), repeat=7):
        v = list(bits)
        for i, j in SORT7:
            v[i], v[j] = min(v[i], v[j]), max(v[i], v[j])
        assert v == sorted(bits), bits


@pytest.mark.parametrize("n", [7, 8, 50, 32768 + 5, 100_000])
def test_running_median_equals_scipy(n):
    rng = np.random.default_rng(n)
    y = np.round(rng.normal(size=n), 1)  # many ties
    np.testing.assert_array_equal(running_median(y), median_filter(y, 7, mode="nearest"))


CASES = {
    "grid on the edges": (np.arange(0, 25.0001, 0.025), 0.025, (0.0, 25.0)),
    "rounded, some outside": (np.round(np.random.default_rng(1).uniform(-1, 26, 300_000), 3),
                              0.025, (0.0, 25.0)),
    "two decimals, 0.05 bins": (np.round(np.random.default_rng(2).uniform(0, 3, 300_000), 2),
                                0.05, (0.0, 3.0)),
    "offset range": (np.round(np.random.default_rng(3).uniform(0, 3.2, 300_000), 2),
                     0.1, (0.1, 3.0)),
    "range ends": (np.array([25.0, 0.0, -0.0, 25.000000000000004, -1e-300]), 0.025,
                   (0.0, 25.0)),
    "empty": (np.zeros(0), 0.025, (0.0, 25.0)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_histogram_counts_equal_numpy(name):
    x, width, rng = CASES[name]
    h = conductance_histogram(x, bin_width=width, g_range=rng)
    # the histogram's range: whole bins from the low end (lo + bins * width)
    ref, edges = np.histogram(x, bins=h.counts.size, range=(h.edges[0], h.edges[-1]))
    np.testing.assert_array_equal(h.edges, edges)
    np.testing.assert_array_equal(h.counts, ref)
