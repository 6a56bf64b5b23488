"""Benchmarks behind ``relaxit bench``: sampling speed against floors and PyTorch's built-ins
(`relaxit.bench.speed`), estimator bias and variance against exact gradients
(`relaxit.bench.estimators`) and the VAE leaderboard (`relaxit.bench.vae`). Each writes JSON and
Markdown with the machine, the library versions and the exact command (`relaxit.bench.report`).
"""
