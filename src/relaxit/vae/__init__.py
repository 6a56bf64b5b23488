"""Discrete-latent variational autoencoders: the ``relaxit vae`` trainer.

`VAEConfig` describes a run, `METHODS` lists the relaxations and gradient estimators that can
train the discrete latent, and `train` runs one (also under ``torchrun``) and returns its metrics.
"""

from relaxit.vae.config import VAEConfig
from relaxit.vae.methods import METHODS, Method
from relaxit.vae.train import train

__all__ = ["METHODS", "Method", "VAEConfig", "train"]
