"""Shared pytest configuration.

Hypothesis runs with a bounded, derandomised profile under CI (``CI`` set in
the environment) so that the whole suite stays reproducible and fast; locally
the ``dev`` profile explores more.  Select one explicitly with
``HYPOTHESIS_PROFILE=thorough`` for long runs.
"""
import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "dev",
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("thorough", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
