"""examples/python/grocery.ipynb without running it (run_notebook.sh runs it): a valid nbformat 4.5 notebook,
every cell with its id; its words say what its configuration does (examples/configs/grocery.json fine-tunes);
it writes its files outside the repository, so a fresh clone runs it."""
import json
import os
import re

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
NOTEBOOK = os.path.join(ROOT, "examples", "python", "grocery.ipynb")


def notebook():
    with open(NOTEBOOK, encoding="utf-8") as f:
        return json.load(f)


def text(nb, kind):
    return "\n".join("".join(cell["source"]) for cell in nb["cells"] if cell["cell_type"] == kind)


def test_every_cell_has_an_id():
    nb = notebook()
    assert (nb["nbformat"], nb["nbformat_minor"]) >= (4, 5)
    ids = [cell.get("id") for cell in nb["cells"]]
    assert all(isinstance(i, str) and re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", i) for i in ids), ids  # nbformat 4.5's rule
    assert len(set(ids)) == len(ids), ids
    try:
        import nbformat
    except ImportError:
        return
    nbformat.validate(nbformat.from_dict(nb))


def test_it_says_fine_tune_where_its_configuration_fine_tunes():
    nb = notebook()
    with open(os.path.join(ROOT, "examples", "configs", "grocery.json"), encoding="utf-8") as f:
        fine_tunes = json.load(f).get("fine_tuning", {}).get("enabled", False)
    code, markdown = text(nb, "code"), text(nb, "markdown")
    assert "grocery.json" in code and "fine_tuning.enabled = False" not in code
    if fine_tunes:
        headings = [line for line in markdown.splitlines() if line.startswith("#")]
        assert not [h for h in headings if "head" in h.replace("heading", "")], headings
        assert any("fine-tune" in h for h in headings), headings


def test_it_writes_outside_the_repository():
    code = text(notebook(), "code")
    assert 'os.environ.get("DS_NOTEBOOK_OUT") or tempfile.mkdtemp(' in code
    assert not re.search(r"""["'](\./)?out/""", code), "writes into the checkout's out/ (absent from a fresh clone)"
