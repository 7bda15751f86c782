"""Gaussian hidden Markov model (Baum-Welch), vectorised with a parallel prefix scan.

Why an HMM for telegraph noise: a threshold between two levels turns every noise
excursion across the midpoint into a pair of false transitions and cuts true dwells
short, so dwell times shrink as the noise grows (27.5 ms returned for 50 ms at a noise
of 0.4x the step). The HMM weighs each sample by the likelihood of both levels and by
how unlikely a switch is, and its transition matrix gives the mean dwell directly:
``tau_k = dt / (1 - A_kk)`` (geometric dwell in discrete time).

Forward and backward passes are products of K x K matrices ``M_t = A diag(b_t)``:
``alpha_t ~ alpha_1 M_2 ... M_t`` and ``beta_t ~ M_{t+1} ... M_N 1``. Each pass is a
Hillis-Steele prefix scan (log2 N numpy steps over all samples at once, each product
renormalised so it cannot overflow); only directions matter, since alpha_t, beta_t and
the posteriors are normalised per sample. Pure numpy, no extra dependency; ~0.1 s per
EM iteration for 10^5 samples and two states.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray


@dataclass
class HMMFit:
    """Fitted Gaussian HMM: means, sigmas, transition matrix, posterior states."""

    means: NDArray[np.float64]
    sigmas: NDArray[np.float64]
    transition: NDArray[np.float64]
    states: NDArray[np.int64]
    iterations: int
    converged: bool

    def mean_dwell_samples(self) -> NDArray[np.float64]:
        """Mean dwell per state in samples: 1 / (1 - A_kk)."""
        with np.errstate(divide="ignore"):
            return 1.0 / (1.0 - np.diag(self.transition))


def _matmul_small(p: NDArray, q: NDArray) -> NDArray:
    """Products of stacked K x K matrices stored as (K, K, N) arrays (samples last, so
    every operation runs over contiguous memory; ``np.matmul`` on (N, 2, 2) stacks is
    ~30x slower)."""
    k = p.shape[0]
    out = np.empty_like(p)
    for i in range(k):
        for m in range(k):
            acc = p[i, 0] * q[0, m]
            for j in range(1, k):
                acc += p[i, j] * q[j, m]
            out[i, m] = acc
    return out


def _scan(m: NDArray, reverse: bool) -> NDArray:
    """Inclusive prefix products P_t = M_0 ... M_t (or suffix M_t ... M_last), scaled;
    matrices stored as (K, K, N)."""
    p = m.copy()
    n = p.shape[2]
    d = 1
    while d < n:
        if reverse:
            p[:, :, :-d] = _matmul_small(p[:, :, :-d], p[:, :, d:])
        else:
            p[:, :, d:] = _matmul_small(p[:, :, :-d], p[:, :, d:])
        p /= p.reshape(-1, n).max(axis=0)
        d *= 2
    return p


def _posteriors(b: NDArray, a: NDArray, pi: NDArray) -> tuple[NDArray, NDArray]:
    """Per-sample state posteriors (N, K) and summed transition posteriors (K, K)."""
    n, k = b.shape
    m = a[:, :, None] * b.T[None, :, 1:]  # M_t = A diag(b_t), t = 1..N-1, as (K, K, N-1)
    fwd = _scan(m, reverse=False)  # M_1 ... M_t
    bwd = _scan(m, reverse=True)  # M_t ... M_{N-1}
    alpha = np.empty((k, n))
    alpha[:, 0] = pi * b[0]
    alpha[:, 1:] = (alpha[:, 0][:, None, None] * fwd).sum(axis=0)
    alpha /= alpha.sum(axis=0)
    beta = np.ones((k, n))
    beta[:, :-1] = bwd.sum(axis=1)
    beta /= beta.sum(axis=0)
    gamma = alpha * beta
    gamma /= gamma.sum(axis=0)
    xi = alpha[:, None, :-1] * m * beta[None, :, 1:]
    xi /= xi.sum(axis=(0, 1))
    return gamma.T, xi.sum(axis=2)


def fit_gaussian_hmm(x: ArrayLike, means: ArrayLike, sigma: float, *, stay: float = 0.9,
                     max_iter: int = 60, tol: float = 1e-5) -> HMMFit:
    """Baum-Welch for a K-state HMM with Gaussian emissions (one sigma per state).

    Parameters
    ----------
    x : finite samples.
    means : starting means (K values, e.g. histogram peaks).
    sigma : starting sigma of every state.
    stay : starting probability of staying in a state from one sample to the next.
    """
    y = np.asarray(x, dtype=float)
    mu = np.sort(np.asarray(means, dtype=float))
    k = mu.size
    sd = np.full(k, float(sigma))
    a = np.full((k, k), (1 - stay) / max(k - 1, 1))
    np.fill_diagonal(a, stay)
    pi = np.full(k, 1.0 / k)
    converged = False
    it = 0
    while it < max_iter:
        it += 1
        logb = -0.5 * ((y[:, None] - mu) / sd) ** 2 - np.log(sd)
        b = np.exp(logb - logb.max(axis=1, keepdims=True))
        gamma, xi = _posteriors(b, a, pi)
        w = gamma.sum(axis=0)
        new_mu = (gamma * y[:, None]).sum(axis=0) / w
        new_sd = np.sqrt((gamma * (y[:, None] - new_mu) ** 2).sum(axis=0) / w)
        new_sd = np.maximum(new_sd, 1e-12 * max(float(np.abs(new_mu).max()), 1e-300))
        new_a = xi / xi.sum(axis=1, keepdims=True)
        change = max(float(np.abs(new_a - a).max()),
                     float(np.abs(new_mu - mu).max() / max(float(sd.min()), 1e-300)))
        mu, sd, a, pi = new_mu, new_sd, new_a, gamma[0]
        if change < tol:
            converged = True
            break
    return HMMFit(mu, sd, a, gamma.argmax(axis=1).astype(np.int64), it, converged)
