"""CPU profile of a whole command over all its threads with py-spy, summarized as tables of CPU seconds.

pyinstrument follows the main thread only, and ``recs train`` fits the final bundle in a second thread
(numba kernels there release the GIL and run next to the evaluation). py-spy samples every thread of the
process from outside; its raw ("folded") output holds one line per distinct stack with its sample count.

    python -m benchmarks.cpu_profile FOLDED [--rate 100] [--top 12]   # summarize a recorded file
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

PROJECT_PACKAGES = ("recommender/", "training/", "serving/")


def py_spy() -> str | None:
    """The py-spy executable of this environment (the ``bench`` extra), else one on PATH."""
    local = Path(sys.executable).with_name("py-spy")
    return str(local) if local.exists() else shutil.which("py-spy")


def record(cmd: list[str], out: Path, env: dict[str, str], rate: int = 100) -> None:
    """Run the Python command ``cmd`` (``[python, script, args...]``) under ``py-spy record``, every thread
    sampled, the folded stacks written to ``out``."""
    spy = py_spy()
    if spy is None:
        raise FileNotFoundError("py-spy is not installed (pip install -e '.[bench]')")
    record_cmd = [spy, "record", "--format", "raw", "--rate", str(rate), "--nonblocking", "-o", str(out), "--"]
    subprocess.run([*record_cmd, *cmd], env=env, check=True, stdout=subprocess.DEVNULL)


def _frame_name(frame: str) -> str:
    """``func (path/file.py:line)`` -> ``path/file.py func`` (the line dropped: one row per function)."""
    func, _, where = frame.partition(" (")
    return f"{where.rsplit(':', 1)[0]} {func}"


def summarize(folded: Path, rate: int, top: int = 12) -> str:
    """Markdown tables: the project's functions by inclusive CPU seconds (over all threads, each sample
    counted once per function), and the frames where the samples were taken (own time)."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in folded.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        names = [_frame_name(f) for f in stack.split(";")]
        own[names[-1]] += n
        for name in set(names):
            if name.startswith(PROJECT_PACKAGES) and not name.endswith(" <module>"):
                inclusive[name] += n
    lines = [f"{total / rate:.1f} CPU seconds sampled over all threads ({total:,} samples at {rate} Hz)", ""]
    for title, counts in (("inclusive, this project's functions", inclusive), ("own time (the sampled frame)", own)):
        lines += [f"| top {top} by {title} | CPU s |", "|---|---:|"]
        lines += [f"| {name} | {n / rate:.1f} |" for name, n in counts.most_common(top)]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folded", type=Path)
    parser.add_argument("--rate", type=int, default=100, help="the sampling rate it was recorded at")
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    print(summarize(args.folded, args.rate, args.top))


if __name__ == "__main__":
    main()
