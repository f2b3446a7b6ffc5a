"""Parsed TOML and YAML kept per text: the same text parses once, an edited one anew, and a
caller's change to what it got never reaches the next caller."""

from __future__ import annotations

import tomllib

import pytest
import yaml

from lrmatrix import parsed


def test_the_same_text_is_parsed_once_and_an_edited_one_again():
    parsed._toml.cache_clear()
    assert parsed.toml('a = 1\n[t]\nb = "x"\n') == {"a": 1, "t": {"b": "x"}}
    assert parsed.toml('a = 1\n[t]\nb = "x"\n') == {"a": 1, "t": {"b": "x"}}
    assert parsed._toml.cache_info().misses == 1 and parsed._toml.cache_info().hits == 1
    assert parsed.toml('a = 2\n[t]\nb = "x"\n')["a"] == 2, "an edited file is read as it is now"


def test_a_callers_change_does_not_reach_the_next_caller():
    first = parsed.toml("[t]\nlist = [1]\n")
    first["t"]["list"].append(2)
    assert parsed.toml("[t]\nlist = [1]\n") == {"t": {"list": [1]}}
    docs = parsed.yaml_documents("kind: A\nspec: {n: 1}\n---\n---\nkind: B\n")
    assert docs == [{"kind": "A", "spec": {"n": 1}}, None, {"kind": "B"}]
    docs[0]["spec"]["n"] = 9
    assert parsed.yaml_documents("kind: A\nspec: {n: 1}\n---\n---\nkind: B\n")[0]["spec"] == {"n": 1}


def test_a_bad_text_fails_every_time():
    for _ in range(2):
        with pytest.raises(tomllib.TOMLDecodeError):
            parsed.toml("a = \n")
        with pytest.raises(yaml.YAMLError):
            parsed.yaml_documents("a: [1\n")
