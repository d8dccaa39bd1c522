import pytest

from lethe.decoders.holdback import find_first, fold_case, held_suffix


@pytest.mark.parametrize(
    ("text", "patterns", "start", "expected"),
    [
        ("say ### now", ("###",), 0, 4),
        ("say ### now ###", ("###",), 5, 12),
        ("go STOP or END", ("END", "STOP"), 0, 3),
        ("nothing here", ("###",), 0, None),
        ("", ("a",), 0, None),
        ("abc", (), 0, None),
    ],
)
def test_find_first(text, patterns, start, expected):
    assert find_first(text, patterns, start) == expected


@pytest.mark.parametrize(
    ("text", "patterns", "held"),
    [
        ("wait ##", ("###",), 2),
        ("wait #", ("###",), 1),
        ("wait ###", ("###",), 2),  # "##" could still begin another "###"
        ("the E", ("END", "STOP"), 1),
        ("go ST", ("END", "STOP"), 2),
        ("plain", ("END",), 0),
        ("日本", ("本語",), 1),
        ("x", (), 0),
    ],
)
def test_held_suffix(text, patterns, held):
    assert held_suffix(text, patterns) == held


@pytest.mark.parametrize("text", ["Paris", "İstanbul", "STRASSE", "Ελληνικά", "ǅemal"])
def test_fold_case_keeps_length(text):
    folded = fold_case(text)
    assert len(folded) == len(text)
    assert folded == folded.lower() or len(text.lower()) != len(text)
