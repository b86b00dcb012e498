from tests.fixtures import official_dir, official_server, sample_server  # noqa: F401
