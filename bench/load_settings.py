"""Settings of the load bench (bench/load_bench.py): the production settings as they are, for its
gunicorn and for the process that builds the data, with three bench-only changes.

- STATIC_ROOT: the bench collects the static files into a temporary directory (the manifest that
  production's storage needs to render `{% static %}`), not into the checkout.
- ROOT_URLCONF: the project's URLs plus Django admin with write access at /bench-admin/, the
  reference the bench compares with (bench/load_urls.py).
- The cache keys get a per-run prefix, so a run never reads another's sessions or counts.
"""

import os
from pathlib import Path

from pbx_admin.settings import *  # noqa: F403
from pbx_admin.settings import CACHES

STATIC_ROOT = Path(os.environ["BENCH_STATIC_ROOT"])
ROOT_URLCONF = "bench.load_urls"
CACHES["default"]["KEY_PREFIX"] = os.environ["BENCH_CACHE_PREFIX"]
