"""Every problem code the server answers has its /problems/{code} page, and every exception type
the hub raises is one the exceptions filter knows (CONTRACT section 7: an unknown filter value is
a 422): both lists are checked against the source, so a new code cannot go undocumented."""

from __future__ import annotations

import re
from pathlib import Path

from posledger.app.queries import EXCEPTION_TYPES
from posledger.entrypoints.http.problem_pages import PROBLEM_PAGES, problem_index, problem_page

SOURCE = Path(__file__).resolve().parents[2] / "src" / "posledger"


def _source() -> str:
    return "\n".join(path.read_text() for path in SOURCE.rglob("*.py"))


def test_every_problem_code_in_the_source_has_a_page() -> None:
    text = _source()
    codes = set(re.findall(r'ProblemError\(\s*\d+,\s*"([a-z_]+)"', text))
    codes |= set(re.findall(r'problem_body\(\s*\d+,\s*"([a-z_]+)"', text))
    codes |= set(re.findall(r'type = "([a-z_]+)"', (SOURCE / "domain" / "errors.py").read_text()))
    codes |= {"rate_limited", "method_not_allowed", "http_error"}
    codes -= {"domain_error"}
    assert codes - set(PROBLEM_PAGES) == set()
    for code in PROBLEM_PAGES:
        page = problem_page(code)
        assert page is not None and f"<code>{code}</code>" in page
        assert f"/problems/{code}" in problem_index()
    assert problem_page("no_such_code") is None


def test_every_exception_type_raised_is_one_the_filter_knows() -> None:
    text = _source()
    raised = set(re.findall(r'(?:ctx\.find|self\.find|Parked)\(\s*"([a-z_]+)"', text))
    raised |= {"original_line_not_found"}  # ctx.find("return_exceeds_original" if … else "original_line_not_found")
    raised |= set(re.findall(r'ExceptionRecord\(\s*0,\s*"([a-z_]+)"', text))
    assert raised, "the patterns no longer find the exception types"
    assert raised - set(EXCEPTION_TYPES) == set()


REFERENCE = SOURCE.parents[1] / "docs" / "reference"


def test_the_integrators_reference_lists_every_code_exception_and_operation(tmp_path: Path) -> None:
    from posledger.bootstrap import bootstrap
    from posledger.config import Settings
    from posledger.entrypoints.http import create_app

    problems = (REFERENCE / "problems.md").read_text()
    assert [code for code in PROBLEM_PAGES if f"| `{code}` |" not in problems] == []
    exceptions = (REFERENCE.parent / "concepts" / "exceptions.md").read_text()
    assert [kind for kind in EXCEPTION_TYPES if f"`{kind}`" not in exceptions] == []
    application = bootstrap(Settings(db_path=str(tmp_path / "reference.db"), posting_process=False))
    try:
        schema = create_app(application).openapi()
    finally:
        application.close()
    endpoints = (REFERENCE / "endpoints.md").read_text()
    operations = [operation["operationId"] for operations in schema["paths"].values()
                  for operation in operations.values()]
    assert [name for name in operations if f"`{name}`" not in endpoints] == []
    for page in REFERENCE.glob("*.md"):  # the reference links inside the repository only
        assert "../shared" not in page.read_text() and "CONTRACT.md" not in page.read_text(), page.name
