"""The site's reference pages are what scripts/reference_docs.py makes from the JSON Schemas
and the action registry: a schema field or a remediation added without `make reference` fails
here, naming the page. (`make test` also builds the site with mkdocs --strict.)"""

from __future__ import annotations

import sys

import pytest

from conftest import ROOT
from remedy.actions import actions

sys.path.insert(0, str(ROOT / "scripts"))
import reference_docs


def test_the_generated_reference_pages_are_up_to_date(capsys: pytest.CaptureFixture[str]) -> None:
    status = reference_docs.main(["--check"])
    assert (status, capsys.readouterr().err) == (0, "")


def test_every_registered_remediation_has_its_section_options_and_permissions() -> None:
    page = reference_docs.remediations_page()
    for name, cls in actions().items():
        section = page.split(f"## `{name}`\n", 1)[1].split("\n## ", 1)[0]
        for permission in cls.permissions:
            assert f"`{permission}`" in section, (name, permission)
        for option in cls.schema.get("properties", {}):
            assert f"| `{option}` |" in section, (name, option)


def test_docstring_literal_blocks_become_yaml_fences() -> None:
    assert reference_docs.markdown(
        """Does ``this``.

        Example policy rule::

            - id: x
              action: quarantine

        After.
        """
    ) == (
        "Does `this`.\n\nExample policy rule:\n\n```yaml\n- id: x\n  action: quarantine\n```\n\n"
        "After.\n"
    )


def test_a_stale_page_is_named(tmp_path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    page = tmp_path / "policy.md"
    page.write_text("old\n", encoding="utf-8")
    monkeypatch.setattr(reference_docs, "ROOT", tmp_path)
    monkeypatch.setattr(reference_docs, "pages", lambda: {page: "new\n"})
    assert reference_docs.main(["--check"]) == 1
    assert capsys.readouterr().err == "policy.md is out of date: run make reference\n"
    assert page.read_text(encoding="utf-8") == "old\n"
