"""Programs written for PyTorch, run unchanged on ember (`import ember as torch`), each in its own
process: they must run to the end and learn."""

import os
import subprocess
import sys

import pytest

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pytorch_programs")


@pytest.mark.parametrize("program", sorted(p for p in os.listdir(HERE) if p.endswith(".py")))
def test_program_runs_unchanged(program, tmp_path):
    p = subprocess.run([sys.executable, os.path.join(HERE, program), str(tmp_path)], capture_output=True,
                       text=True, timeout=600, cwd=tmp_path)
    assert p.returncode == 0 and p.stdout.strip().endswith("OK"), p.stdout[-3000:] + p.stderr[-3000:]
