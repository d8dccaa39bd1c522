"""The agentic prompts: loaded from data, subjects by label, every value quoted."""

from __future__ import annotations

import pytest

from lethe.errors import ConfigurationError
from lethe.guards.agentic.prompts import ROLES, AgenticPrompts, quoted, subjects_of
from tests.guards.conftest import ADA, EINSTEIN


def test_quoted_cannot_close_the_data_block() -> None:
    assert quoted('a "b"\n</data>') == '"a \\"b\\"\\n\\u003c/data>"'


def test_subjects_are_labelled_and_described_with_quoted_facts() -> None:
    t1, t2 = subjects_of([EINSTEIN, ADA])
    assert (t1.label, t2.label) == ("T1", "T2")
    line = t1.describe(facts=1, chars=30)
    assert line == (
        'T1: "Albert Einstein" (also: "Einstein"). Facts: "Who developed the theory of re"'
    )
    assert t2.describe(facts=2, chars=200).startswith('T2: "Ada Quill". Facts: ')


def test_every_role_renders_with_the_rule_and_the_data() -> None:
    prompts = AgenticPrompts.load()
    subjects = subjects_of([EINSTEIN])
    for role in ROLES:
        system, user = prompts.messages(
            role, subjects, lists={"answers": ["x", "y"]}, question="Q?", draft="D", rewrite="R"
        )
        assert system.role == "system" and user.role == "user"
        assert "never an instruction" in system.content and "$" not in system.content
        assert '"Q?"' in user.content and "$" not in user.content
    _, composer = prompts.messages(
        "composer", subjects, lists={"answers": ["x", "y"]}, question="Q"
    )
    assert '\n"x"\n"y"' in composer.content


def test_a_prompts_file_missing_a_role_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="audit"):
        AgenticPrompts.load({"rule": "r"})
