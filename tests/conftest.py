"""Hypothesis profiles: CI runs the property tests on a fixed sequence of examples (a test that
fails must fail on every run, not on one in a hundred); `HYPOTHESIS_PROFILE=explore pytest ...`
draws new random examples on every run, to look for new counterexamples."""
import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
