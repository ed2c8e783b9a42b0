"""examples/notebook.ipynb, executed in a real IPython kernel against the emulator."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

# Older jupyter_core releases warn about their own directory layout change on import.
pytestmark = pytest.mark.filterwarnings("ignore:Jupyter is migrating its paths:DeprecationWarning")

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "notebook.ipynb"


def outputs_text(nb: nbformat.NotebookNode) -> str:
    """Every stream and text/plain or text/html output of the notebook, concatenated."""
    parts: list[str] = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output["output_type"] == "stream":
                parts.append(output["text"])
            elif "data" in output:
                parts.extend(
                    str(output["data"].get(kind, "")) for kind in ("text/plain", "text/html")
                )
            elif output["output_type"] == "error":
                parts.append(f"{output['ename']}: {output['evalue']}")
    return "".join(parts)


def test_the_notebook_is_stored_without_outputs() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)


def test_the_notebook_runs_against_the_emulator(tmp_path: Path) -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    runner = NotebookClient(
        nb,
        timeout=60,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    runner.execute()  # raises CellExecutionError on the first failing cell

    text = outputs_text(nb)
    assert not [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    # `await` at the top level: the account, read through the client.
    assert "owner@emulator.invalid: 432.500 EUR" in text
    # `async for` over the paginator, into a table.
    assert "45 sub-accounts, 67.500 EUR in all" in text
    assert "<table" in text  # an HTML table, or a DataFrame's when pandas is there
    # The bulk top-up: a progress bar that reaches the end, and a report with one unknown.
    assert "top-ups [##############################] 45/45" in text
    assert "45 items: 44 applied (110.000 EUR), 0 failed, 1 unknown" in text
    assert "2.500 EUR did arrive" in text
    assert "money in the books: 500.000 EUR" in text
