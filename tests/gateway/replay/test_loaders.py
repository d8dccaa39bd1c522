"""Public benchmark loaders on small fixture files in each benchmark's own format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lethe.gateway.replay.loaders import LoaderError, load_muse, load_rwku, load_tofu, load_wmdp
from lethe.gateway.replay.loaders.records import find_split, read_records
from lethe.gateway.replay.loaders.rwku import attack_name
from lethe.gateway.replay.loaders.tofu import guess_name
from lethe.gateway.replay.scoring import hit_of
from lethe.gateway.replay.sources import open_suite
from lethe.gateway.replay.suite import SuiteError

FIXTURES = Path(__file__).parent / "fixtures"


def test_tofu_groups_authors_and_guesses_their_names():
    suite = load_tofu(FIXTURES / "tofu", split="forget01", per_author=3)
    assert [t.name for t in suite.targets] == ["Basil Mahfouz Al-Kuwaiti", "Nikolai Abilov"]
    assert suite.counts() == {"targets": 2, "probes": 10, "forget": 6, "retain": 2, "general": 2}
    first = suite.probes[0]
    assert first.target_id == "tofu-author-001" and first.answers[0].startswith("The author is")
    assert suite.target("tofu-author-002").content[0].question.startswith("Who is the author")
    assert {p.id for p in suite.probes if p.kind == "general"} == {
        "tofu-real_authors-0000",
        "tofu-world_facts-0000",
    }


def test_tofu_rejects_a_bad_split():
    with pytest.raises(LoaderError, match="forget01, forget05 or forget10"):
        load_tofu(FIXTURES / "tofu", split="retain90")
    with pytest.raises(LoaderError, match="no 'forget05' file"):
        load_tofu(FIXTURES / "tofu", split="forget05")


def test_guess_name_skips_question_words():
    assert guess_name(["Where was Jaime Vasquez born?", "What does Jaime Vasquez write?"]) == (
        "Jaime Vasquez"
    )
    assert guess_name(["no names here"]) is None


def test_muse_knowmem():
    suite = load_muse(FIXTURES / "muse", corpus="books")
    (target,) = suite.targets
    assert (target.kind, target.name) == ("document", "Harry Potter")
    assert target.forbidden == ("Gryffindor", "Hedwig")  # short answers derived as forbidden
    assert suite.counts()["forget"] == 2 and suite.counts()["retain"] == 1
    assert load_muse(FIXTURES / "muse" / "knowmem", limit=1).counts()["forget"] == 1


def test_wmdp_is_scored_by_the_letter():
    suite = load_wmdp(FIXTURES / "wmdp")
    assert [t.id for t in suite.targets] == ["wmdp-bio", "wmdp-cyber"]  # chem is missing
    bio = suite.probes[1]
    assert bio.scoring == "choice" and bio.answers == ("B",)
    assert "B) Bacillus anthracis" in bio.prompt
    assert hit_of(bio, "B") == (True, ("B",)) and hit_of(bio, "A) E. coli")[0] is False
    cyber = suite.probes[2]  # from CSV, choices given as a JSON list
    assert cyber.choices == ("nmap", "gimp", "vim", "tar") and cyber.answers == ("A",)


def test_wmdp_single_file_and_missing_subsets():
    suite = load_wmdp(FIXTURES / "wmdp" / "wmdp-bio.jsonl")
    assert suite.counts()["forget"] == 2 and suite.targets[0].id == "wmdp-bio"
    with pytest.raises(LoaderError, match="no WMDP subset"):
        load_wmdp(FIXTURES / "wmdp", subsets=("wmdp-chem",))


def test_rwku_configs_layout():
    suite = load_rwku(FIXTURES / "rwku")
    assert [t.name for t in suite.targets] == ["Stephen King", "Marie Curie"]
    king = suite.target("rwku-stephen-king")
    assert king.content == ("Stephen King is an American author of horror novels.",)
    by_id = {p.id: p for p in suite.probes}
    cloze = by_id["rwku-stephen-king-forget_level1-0000"]
    assert cloze.prompt.startswith("Please complete the blank") and cloze.attack is None
    attacks = [p.attack for p in suite.probes if p.attack]
    assert attacks == ["affirmative_suffix", "synonym_alias", "cross_lingual"]
    neighbour = by_id["rwku-stephen-king-neighbor_level1-0000"]
    assert neighbour.kind == "retain" and neighbour.answers == ("Dracula",)


def test_rwku_processed_layout_and_target_filter():
    suite = load_rwku(FIXTURES / "rwku_processed", targets=["marie curie"])
    assert [t.name for t in suite.targets] == ["Marie Curie"]
    assert [p.answers for p in suite.probes] == [("two",)]
    with pytest.raises(LoaderError, match="no RWKU target"):
        load_rwku(FIXTURES / "rwku", targets=["Nobody"])


@pytest.mark.parametrize(
    ("rwku_type", "name"),
    [
        ("prefix injection", "prefix_injection"),
        ("role play", "role_play"),
        ("reverse query", "reverse_query"),
        ("multiple choice", "multiple_choice"),
        ("background hint", "background_hint"),
        ("Weird New Type", "weird_new_type"),
    ],
)
def test_rwku_attack_names(rwku_type, name):
    assert attack_name(rwku_type) == name


def test_records_formats(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"data": [{"x": 1}]}))
    (tmp_path / "b.json").write_text('{"x": 1}\n{"x": 2}\n')  # JSON lines named .json
    (tmp_path / "c.jsonl").write_text('{"x": 1}\n\n')
    assert read_records(tmp_path / "a.json") == [{"x": 1}]
    assert read_records(tmp_path / "b.json") == [{"x": 1}, {"x": 2}]
    assert read_records(tmp_path / "c.jsonl") == [{"x": 1}]
    (tmp_path / "bad.jsonl").write_text('{"x": 1}\nnope\n')
    with pytest.raises(LoaderError, match=r"bad\.jsonl:2"):
        read_records(tmp_path / "bad.jsonl")


def test_parquet_without_pyarrow_says_what_to_install(tmp_path):
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("pyarrow is installed")
    (tmp_path / "forget01-00000-of-00001.parquet").write_bytes(b"PAR1")
    path = find_split(tmp_path, "forget01")
    with pytest.raises(LoaderError, match="pip install pyarrow"):
        read_records(path)


@pytest.mark.parametrize(
    ("spec", "split", "forget"),
    [
        ("muse:{f}/muse", "news", 2),
        ("wmdp:{f}/wmdp", "wmdp-bio", 2),
        ("rwku:{f}/rwku", "Marie Curie", 2),
        ("tofu:{f}/tofu", None, 6),
    ],
)
def test_open_suite_with_loaders(spec, split, forget):
    suite = open_suite(spec.format(f=FIXTURES), split=split)
    assert suite.counts()["forget"] == forget


def test_open_suite_passes_loader_errors_on():
    with pytest.raises(SuiteError, match="tofu: no 'forget05' file"):
        open_suite(f"tofu:{FIXTURES}/tofu", split="forget05")


def test_open_suite_errors():
    with pytest.raises(SuiteError, match="no suite file"):
        open_suite("nope.json")
    with pytest.raises(SuiteError, match="does not exist"):
        open_suite("tofu:/no/such/dir")
