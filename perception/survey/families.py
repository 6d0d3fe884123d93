"""GLM families and links, as R's ``family`` objects define them (``gaussian()``,
``quasibinomial(link = "logit" | "probit")``, ``poisson()``, ``quasipoisson()``): the
link and its inverse (with R's clamps), the variance function, deviance residuals,
starting values and the validity checks that ``glm.fit`` applies.

A design-based fit uses the family only for its point estimate (the weighted
quasi-likelihood) and its working weights; the variance comes from the design, so
``poisson`` and ``quasipoisson`` (or ``binomial`` and ``quasibinomial``) give the same
coefficients and standard errors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

#: what ``glm(family=)`` accepts; "binomial" is R's quasibinomial (non-integer counts of
#: successes are normal with design weights)
FAMILY_NAMES = ("gaussian", "binomial", "poisson", "quasipoisson")
#: the links each family accepts, the default first
LINKS = {
    "gaussian": ("identity",),
    "binomial": ("logit", "probit"),
    "poisson": ("log",),
    "quasipoisson": ("log",),
}

_EPS = np.finfo(float).eps
_LOGIT_THRESH = 30.0  # R's C_logit_linkinv / C_logit_mu_eta
_PROBIT_THRESH = -special.ndtri(_EPS)  # R's binomial()$linkinv for probit


@dataclass(frozen=True)
class Family:
    """The pieces of an R ``family`` object that iteratively reweighted least squares
    needs. ``name`` is the package's (``"binomial"`` = R's quasibinomial)."""

    name: str
    link: str

    @property
    def r_name(self) -> str:
        """R's family name (``summary()`` prints it)."""
        return {"binomial": "quasibinomial"}.get(self.name, self.name)

    @property
    def canonical_identity(self) -> bool:
        """Gaussian with identity link: the fit is one weighted least squares."""
        return self.name == "gaussian"

    # ------------------------------------------------------------------- link --
    def linkfun(self, mu: np.ndarray) -> np.ndarray:
        if self.link == "identity":
            return mu
        if self.link == "logit":
            return np.log(mu / (1 - mu))
        if self.link == "probit":
            return special.ndtri(mu)
        return np.log(mu)

    def linkinv(self, eta: np.ndarray) -> np.ndarray:
        if self.link == "identity":
            return eta
        if self.link == "logit":
            tmp = np.where(eta < -_LOGIT_THRESH, _EPS,
                           np.where(eta > _LOGIT_THRESH, 1 / _EPS,
                                    np.exp(np.clip(eta, -50, 50))))
            return tmp / (1 + tmp)
        if self.link == "probit":
            return special.ndtr(np.clip(eta, -_PROBIT_THRESH, _PROBIT_THRESH))
        return np.maximum(np.exp(eta), _EPS)

    def mu_eta(self, eta: np.ndarray) -> np.ndarray:
        if self.link == "identity":
            return np.ones_like(eta)
        if self.link == "logit":
            e = np.exp(np.clip(eta, -50, 50))
            return np.where(np.abs(eta) > _LOGIT_THRESH, _EPS, e / (1 + e) ** 2)
        if self.link == "probit":
            return np.maximum(np.exp(-0.5 * eta**2) / np.sqrt(2 * np.pi), _EPS)
        return np.maximum(np.exp(eta), _EPS)

    # ------------------------------------------------------------- variance --
    def variance(self, mu: np.ndarray) -> np.ndarray:
        if self.name == "gaussian":
            return np.ones_like(mu)
        if self.name == "binomial":
            return mu * (1 - mu)
        return mu

    def dev_resids(self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray) -> np.ndarray:
        if self.name == "gaussian":
            return wt * (y - mu) ** 2
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.name == "binomial":
                a = np.where(y > 0, y * np.log(y / mu), 0.0)
                b = np.where(y < 1, (1 - y) * np.log((1 - y) / (1 - mu)), 0.0)
                return 2 * wt * (a + b)
            r = np.where(y > 0, wt * (y * np.log(y / mu) - (y - mu)), mu * wt)
        return 2 * r

    def mustart(self, y: np.ndarray, wt: np.ndarray, trials: np.ndarray | None = None
                ) -> np.ndarray:
        """R's ``family$initialize``: ``(n y + 1/2)/(n + 1)`` for the binomial (``n`` the
        trials, or the prior weights without them), ``y + 0.1`` for counts."""
        if self.name == "gaussian":
            return y.copy()
        if self.name == "binomial":
            n = wt if trials is None else trials
            return (n * y + 0.5) / (n + 1)
        return y + 0.1

    def valid_mu(self, mu: np.ndarray) -> bool:
        if self.name == "binomial":
            return bool(np.all(np.isfinite(mu)) and np.all((mu > 0) & (mu < 1)))
        if self.name in ("poisson", "quasipoisson"):
            return bool(np.all(np.isfinite(mu)) and np.all(mu > 0))
        return True


def family(name: str, link: str | None = None) -> Family:
    """The family ``name`` with ``link`` (default: the family's canonical link)."""
    links = LINKS[name]
    return Family(name, links[0] if link is None else link)
