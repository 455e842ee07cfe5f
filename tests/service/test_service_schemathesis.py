"""Issue 14 §3: schemathesis against the real service on a loopback port, with its default
checks, finds nothing: no 500, every status and content type documented, every body matching
its schema, schema-violating requests rejected, valid ones accepted, the admin token enforced.

One deliberate setting: ``negative_data_rejection`` also accepts 413, the service's documented
answer to a query longer than PERF_MAX_QUERY_CHARS (the schema's ``maxLength``).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from support import TOKEN, serving

EXAMPLES = 200  # per operation: ~1,100 cases over the 8 operations, 50-70 s here
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CONFIG = """\
[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422",
                     "428", "429", "5xx"]
"""


@pytest.mark.slow
def test_schemathesis_finds_no_failure(tmp_path):
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    with serving(tmp_path, admin_token=TOKEN) as (url, _, _):
        done = subprocess.run(
            [str(SCHEMATHESIS), "--config-file", str(config), "run", f"{url}/openapi.json",
             "--max-examples", str(EXAMPLES), "--header", f"Authorization: Bearer {TOKEN}",
             "--generation-database", "none", "--no-color"],
            capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False,
        )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    assert "No issues found" in output, output[-3000:]
    assert "8 selected / 8 total" in output
    generated = re.search(r"(\d+) generated, \1 passed", output)
    assert generated and int(generated.group(1)) > 8 * 100, output[-2000:]
