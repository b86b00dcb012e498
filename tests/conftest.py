import os

from hypothesis import settings

from tests.fixtures import (  # noqa: F401
    near_duplicate_search,
    official_arrays,
    official_dir,
    official_export,
    official_export_run,
    official_server,
    sample_export,
    sample_server,
)

# CI runs the fuzz tests at full strength; a local run stays quick.
settings.register_profile("ci", max_examples=10_000, deadline=None)
settings.register_profile("dev", max_examples=300, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
