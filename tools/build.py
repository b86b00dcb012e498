"""Preparing Fashion-MNIST with the builder of fashion_mnist.py, in a cache of the tools' own.

Builds are cached in build/cache, not in the Hugging Face cache: there, a sample build would be what an offline
`load_dataset("fashion_mnist")` falls back to. What a build leaves in the cache is not trusted: the export verifies
every file it writes from it (tools.verify) and names the cache when they fail.
"""

import hashlib
from pathlib import Path

import fashion_mnist as fm
from tools.common import REPO

DEFAULT_CACHE = REPO / "build" / "cache"


def build_configs(sample=False, data_dir=None, base_urls=None, cache_dir=DEFAULT_CACHE, num_proc=None) -> dict:
    """Both configs that an export holds, downloaded, verified and prepared in one cache from the same archives, by
    config name ("fashion_mnist": PNG images, "arrays": uint8 arrays); with `sample`, from the bundled sample."""
    # A prepared dataset in the cache is reused only if it was made by this very script.
    script_hash = hashlib.sha256(Path(fm.__file__).read_bytes()).hexdigest()[:16]
    builders = {}
    for config in ("fashion_mnist", "arrays"):
        kwargs = {"base_urls": tuple(base_urls)} if base_urls else {}
        if sample and config == "arrays":  # the sample's one config, asked for arrays
            kwargs["arrays"] = True
        builders[config] = fm.FashionMnist(
            config_name="sample" if sample else config,
            cache_dir=str(cache_dir),
            data_dir=data_dir,
            hash=script_hash,
            **kwargs,
        )
        builders[config].download_and_prepare(num_proc=num_proc)
    return builders
