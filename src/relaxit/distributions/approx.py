r"""The Laplace bridge between Dirichlet and logistic-normal distributions.

Hobbhahn, Kristiadi & Hennig (2020), "Fast Predictive Uncertainty for Classification with
Bayesian Deep Networks" (arXiv:2003.01227), §3. The Laplace approximation of a Dirichlet in the
softmax basis is a Gaussian :math:`\mathcal N(\mu, \Sigma)` on the logits with

.. math::
    \mu_k = \log\alpha_k - \frac1K\sum_l \log\alpha_l,\qquad
    \Sigma_{kk} = \frac1{\alpha_k}\Big(1 - \frac2K\Big) + \frac1{K^2}\sum_l \frac1{\alpha_l},

of which the bridge keeps the diagonal (:math:`\Sigma_{kk}` is a *variance*: the scale is its
square root). The inverse map, from a Gaussian in the softmax basis back to a Dirichlet, is

.. math::
    \alpha_k = \frac1{\Sigma_{kk}}\Big(1 - \frac2K + \frac{e^{\mu_k}}{K^2}\sum_l e^{-\mu_l}\Big),

which is invariant to shifts of :math:`\mu` (as softmax is) and inverts the first map exactly.
Both maps act on logits only through ``log``/``logsumexp``, so they stay accurate for
concentrations far from 1.
"""

from __future__ import annotations

import torch
from pyro.distributions import Dirichlet

from relaxit.distributions.logistic_normal import LogisticNormalSoftmax


def lognorm_approximation_fn(dirichlet: torch.distributions.Dirichlet) -> LogisticNormalSoftmax:
    r"""Laplace bridge, Dirichlet :math:`\to` logistic-normal (Hobbhahn et al. 2020).

    Args:
        dirichlet: a (batched) ``Dirichlet`` with concentration of shape ``(..., K)``.

    Returns:
        ``LogisticNormalSoftmax(mu, sqrt(Sigma_kk))`` with the same batch and event shapes; the
        formulas are in the module docstring.

    Example:
        >>> from relaxit.distributions import Dirichlet
        >>> ln = lognorm_approximation_fn(Dirichlet(torch.tensor([2.0, 3.0, 5.0])))
        >>> ln.loc.shape, ln.scale.shape
        (torch.Size([3]), torch.Size([3]))
    """
    alpha = dirichlet.concentration
    k = alpha.shape[-1]
    log_alpha = alpha.log()
    loc = log_alpha - log_alpha.mean(-1, keepdim=True)
    inv_alpha = alpha.reciprocal()
    variance = inv_alpha * (1 - 2 / k) + inv_alpha.sum(-1, keepdim=True) / k**2
    return LogisticNormalSoftmax(loc, variance.sqrt(), validate_args=dirichlet._validate_args)


def dirichlet_approximation_fn(lognorm: LogisticNormalSoftmax) -> Dirichlet:
    r"""Inverse Laplace bridge, logistic-normal :math:`\to` Dirichlet (Hobbhahn et al. 2020).

    Args:
        lognorm: a ``LogisticNormalSoftmax`` with ``loc``/``scale`` of shape ``(..., K)``; only
            the diagonal variances ``scale**2`` enter, as in the paper.

    Returns:
        ``Dirichlet(alpha)`` with ``alpha`` of shape ``(..., K)``. Composed with
        `lognorm_approximation_fn` it returns the original concentration (up to rounding).

    Example:
        >>> from relaxit.distributions import Dirichlet
        >>> d = Dirichlet(torch.tensor([2.0, 3.0, 5.0]))
        >>> dirichlet_approximation_fn(lognorm_approximation_fn(d)).concentration
        tensor([2.0000, 3.0000, 5.0000])
    """
    mu, var = lognorm.loc, lognorm.scale.square()
    k = mu.shape[-1]
    # e^{mu_k} sum_l e^{-mu_l}, computed as exp(mu_k + logsumexp(-mu)) to avoid overflow.
    spread = (mu + torch.logsumexp(-mu, dim=-1, keepdim=True)).exp()
    alpha = (1 - 2 / k + spread / k**2) / var
    return Dirichlet(alpha, validate_args=lognorm._validate_args)


__all__ = ["dirichlet_approximation_fn", "lognorm_approximation_fn"]
