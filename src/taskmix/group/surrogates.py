"""Surrogate models of a target's score as a function of which auxiliary data sets are included.

Small strategy objects, scikit-learn style: ``fit(X, y)`` on 0/1 inclusion vectors returns
``self``; ``predict(X, return_std=False)`` gives the predicted score (and, where the model has one,
the posterior standard deviation); ``sample(X, rng)`` draws one function from the posterior
(Thompson sampling). Chosen by name through :func:`make_surrogate`.

- ``mlp``: the two-layer network of Zhan & Zhang (the baseline), no uncertainty.
- ``linear``: ridge regression (Li, Nguyen & Zhang, TMLR 2023); ``effects_`` are each data set's
  estimated effect on the target.
- ``bayes``: Bayesian linear regression on main effects and pairwise interactions with an
  automatic-relevance-determination (sparsity) prior.
- ``gp``: a Gaussian process with the exponentiated-Hamming kernel exp(-d_H / ℓ). On 0/1 vectors
  the Hamming distance is the squared Euclidean distance, so this is exactly an RBF kernel.
"""

from __future__ import annotations

import warnings
from itertools import combinations

import numpy as np

from taskmix.errors import ConfigError
from taskmix.estimator import Estimator


def _standardize(y: np.ndarray) -> tuple[np.ndarray, float, float]:
    mu = float(np.mean(y))
    sd = float(np.std(y))
    sd = sd if sd > 1e-12 else 1.0
    return (y - mu) / sd, mu, sd


class Surrogate(Estimator):
    """Base: a model of score ~ inclusion vector. ``has_std`` says whether it knows its
    uncertainty."""

    name = ""
    has_std = False

    def fit(self, X: np.ndarray, y: np.ndarray) -> Surrogate:
        raise NotImplementedError

    def predict(self, X: np.ndarray, return_std: bool = False):
        raise NotImplementedError

    def sample(self, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One posterior draw of the scores of ``X`` (default: independent normal marginals)."""
        mean, std = self.predict(X, return_std=True)
        return mean + std * rng.standard_normal(len(mean))


class MLPSurrogate(Surrogate):
    """Zhan & Zhang's surrogate: a two-layer network (one hidden ReLU layer) from the 0/1 vector to
    the score, fitted by L-BFGS on the standardised scores."""

    name = "mlp"

    def __init__(self, hidden: int = 32, alpha: float = 1e-3, seed: int = 0):
        self.hidden = hidden
        self.alpha = alpha
        self.seed = seed

    def fit(self, X, y):
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPRegressor

        z, self.mu_, self.sd_ = _standardize(np.asarray(y, float))
        self.model_ = MLPRegressor(
            hidden_layer_sizes=(self.hidden,),
            alpha=self.alpha,
            solver="lbfgs",
            max_iter=200,
            random_state=self.seed,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.model_.fit(np.asarray(X, float), z)
        return self

    def predict(self, X, return_std=False):
        mean = self.model_.predict(np.asarray(X, float)) * self.sd_ + self.mu_
        return (mean, np.zeros(len(mean))) if return_std else mean


class LinearSurrogate(Surrogate):
    """Ridge regression on the inclusion vector (Li, Nguyen & Zhang): ``effects_[j]`` is data set
    j's estimated effect on the target's score."""

    name = "linear"

    def __init__(self, alpha: float = 1.0):
        self.alpha = alpha

    def fit(self, X, y):
        from sklearn.linear_model import Ridge

        self.model_ = Ridge(alpha=self.alpha).fit(np.asarray(X, float), np.asarray(y, float))
        self.effects_ = self.model_.coef_.copy()
        return self

    def predict(self, X, return_std=False):
        mean = self.model_.predict(np.asarray(X, float))
        return (mean, np.zeros(len(mean))) if return_std else mean


def gaussian_draw(mean: np.ndarray, cov: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw from N(mean, cov): mean + V·sqrt(λ)·z from the eigendecomposition of the
    symmetrised covariance, negative round-off eigenvalues clipped. (An SVD of a near-singular
    covariance, as numpy's multivariate_normal does, can fail to converge.)"""
    lam, V = np.linalg.eigh((cov + cov.T) / 2)
    return mean + V @ (np.sqrt(np.clip(lam, 0.0, None)) * rng.standard_normal(len(lam)))


def pairwise_features(X: np.ndarray) -> np.ndarray:
    """[x_1..x_n, x_i·x_j for i < j]: main effects and pairwise interactions."""
    X = np.asarray(X, float)
    pairs = list(combinations(range(X.shape[1]), 2))
    if not pairs:
        return X
    i, j = np.array(pairs).T
    return np.hstack([X, X[:, i] * X[:, j]])


class BayesSurrogate(Surrogate):
    """Bayesian linear regression on main effects and pairwise interactions. Each weight has its
    own prior precision α_k, learned by evidence maximisation (MacKay's ARD updates), which drives
    the weights of irrelevant terms to zero: a sparsity prior. The posterior over the weights is
    Gaussian, so predictions come with a standard deviation and posterior draws are exact."""

    name = "bayes"
    has_std = True

    def __init__(self, pairwise: bool = True, iterations: int = 200, max_precision: float = 1e6):
        self.pairwise = pairwise
        self.iterations = iterations
        self.max_precision = max_precision

    def _features(self, X):
        return pairwise_features(X) if self.pairwise else np.asarray(X, float)

    def fit(self, X, y):
        F = self._features(X)
        z, self.mu_, self.sd_ = _standardize(np.asarray(y, float))
        self.center_ = F.mean(axis=0)
        Fc = F - self.center_
        n, p = Fc.shape
        alpha = np.ones(p)
        beta = 10.0
        FtF, Ftz = Fc.T @ Fc, Fc.T @ z
        for _ in range(self.iterations):
            S = np.linalg.inv(beta * FtF + np.diag(alpha))
            m = beta * S @ Ftz
            gamma = np.clip(1.0 - alpha * np.diag(S), 0.0, 1.0)
            new_alpha = np.clip(gamma / np.maximum(m**2, 1e-12), 1e-6, self.max_precision)
            resid = float(np.sum((z - Fc @ m) ** 2))
            beta = float(np.clip(max(n - gamma.sum(), 1e-3) / max(resid, 1e-9), 1e-2, 1e4))
            if np.allclose(new_alpha, alpha, rtol=1e-4):
                alpha = new_alpha
                break
            alpha = new_alpha
        self.alpha_, self.beta_ = alpha, beta
        self.cov_ = np.linalg.inv(beta * FtF + np.diag(alpha))
        self.coef_ = beta * self.cov_ @ Ftz
        self.cov_ = (self.cov_ + self.cov_.T) / 2
        self.effects_ = self.coef_ * self.sd_  # in score units: main effects, then pairs (i < j)
        return self

    def predict(self, X, return_std=False):
        Fc = self._features(X) - self.center_
        mean = (Fc @ self.coef_) * self.sd_ + self.mu_
        if not return_std:
            return mean
        var = np.einsum("ij,jk,ik->i", Fc, self.cov_, Fc)
        return mean, np.sqrt(np.maximum(var, 0.0)) * self.sd_

    def sample(self, X, rng):
        w = gaussian_draw(self.coef_, self.cov_, rng)
        return ((self._features(X) - self.center_) @ w) * self.sd_ + self.mu_


class GPSurrogate(Surrogate):
    """Gaussian process with an exponentiated-Hamming kernel (an RBF kernel on 0/1 vectors), its
    amplitude, length scale and noise fitted by marginal likelihood. Posterior draws are joint over
    the candidates up to ``joint_up_to`` of them, independent marginals beyond."""

    name = "gp"
    has_std = True

    def __init__(self, seed: int = 0, restarts: int = 1, joint_up_to: int = 1024):
        self.seed = seed
        self.restarts = restarts
        self.joint_up_to = joint_up_to

    def fit(self, X, y):
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

        X = np.asarray(X, float)
        kernel = ConstantKernel(1.0, (1e-2, 1e2)) * RBF(
            np.sqrt(X.shape[1]), (0.3, 30.0)
        ) + WhiteKernel(1e-2, (1e-6, 1.0))
        self.model_ = GaussianProcessRegressor(
            kernel, normalize_y=True, n_restarts_optimizer=self.restarts, random_state=self.seed
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.model_.fit(X, np.asarray(y, float))
        return self

    def predict(self, X, return_std=False):
        return self.model_.predict(np.asarray(X, float), return_std=return_std)

    def sample(self, X, rng):
        if len(X) > self.joint_up_to:
            return super().sample(X, rng)
        mean, cov = self.model_.predict(np.asarray(X, float), return_cov=True)
        return gaussian_draw(mean, cov, rng)


SURROGATES: dict[str, type[Surrogate]] = {
    c.name: c for c in (MLPSurrogate, LinearSurrogate, BayesSurrogate, GPSurrogate)
}


def make_surrogate(name: str, seed: int = 0) -> Surrogate:
    """The surrogate called ``name`` (mlp, linear, bayes, gp), seeded where it is random."""
    if name not in SURROGATES:
        raise ConfigError(
            f"unknown surrogate {name!r}", hint=f"choose from {', '.join(SURROGATES)}"
        )
    cls = SURROGATES[name]
    return cls(seed=seed) if name in ("mlp", "gp") else cls()
