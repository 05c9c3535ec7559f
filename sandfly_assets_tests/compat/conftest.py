"""The vendor-compatibility checks run only on request, never in the default test run.

They read the vendor's Elasticsearch mapping from ``/work/shared/reference`` (or
``SANDFLY_REFERENCE_DIR``), which is not part of the repository. So this folder's tests are
not collected at all unless asked for, by path or by variable::

    pytest sandfly_assets_tests/compat
    SANDFLY_COMPAT_CHECKS=1 pytest

Asked for without the reference files, they skip with a message saying where they looked.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

HERE = Path(__file__).parent.resolve()


def _requested(config: pytest.Config) -> bool:
    """True when the command line names this folder (or a file in it), or the variable is set."""
    if os.environ.get("SANDFLY_COMPAT_CHECKS") == "1":
        return True
    invocation_dir = config.invocation_params.dir
    for argument in config.args:
        path = (invocation_dir / argument.split("::", 1)[0]).resolve()
        if path == HERE or HERE in path.parents:
            return True
    return False


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path.suffix == ".py" and collection_path.name.startswith("test_"):
        return not _requested(config)
    return None
