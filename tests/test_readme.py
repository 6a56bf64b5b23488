"""The README's Python snippets run."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_a_quickstart():
    assert python_blocks(), "README has no ```python block"


def test_readme_snippets_run():
    for block in python_blocks():
        exec(compile(block, str(README), "exec"), {})
