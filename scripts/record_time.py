"""Record the wall time of a `make repro` step that runs outside DVC (the set-up of a fresh .venv, the
corpus build of a fresh clone) as reports/timings/<name>.json, beside the stages' own, for the report's
time table: `python scripts/record_time.py 00_setup <start, seconds since the epoch>`."""

import sys
import time
from pathlib import Path

from gliner.atomic import write_json

if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    name, started = sys.argv[1], float(sys.argv[2])
    write_json(Path("reports/timings") / f"{name}.json", {"wall_s": round(time.time() - started, 1)})
