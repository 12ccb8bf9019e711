"""desktop_app.core.labelled: the labelled data readers (ImageFolder, CSV/TSV, VOC) and class matching.

Example::

    .venv/bin/python -m pytest -q -n 0 tests/desktop_app/test_labelled.py
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from desktop_app.core.labelled import (
    ClassMatch,
    LabelledDataError,
    LabelledImage,
    match_classes,
    read_labelled,
    read_mapping,
    unknown_counts,
    wnids_for,
)
from workbench.labels import load_labels, load_wnids


def _image(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (200, 30, 30)).save(path)
    return path


def _tree(root: Path, spec: dict[str, list[str]]) -> Path:
    for class_name, names in spec.items():
        (root / class_name).mkdir(parents=True, exist_ok=True)
        for name in names:
            _image(root / class_name / name)
    return root


# --- ImageFolder ---------------------------------------------------------------------------------------------


def test_flat_image_folder_natural_order_hidden_skipped_and_counts(tmp_path: Path) -> None:
    root = _tree(tmp_path / "pets", {"dog": ["img10.png", "img2.png", "img1.jpg"], "cat": ["a.jpg"]})
    _image(root / "dog" / "._img3.jpg")  # AppleDouble file: hidden, skipped
    _image(root / ".cache" / "x.png")  # hidden folder: not a class
    (root / "dog" / "notes.txt").write_text("not an image")
    data = read_labelled(root)
    assert (data.layout, data.split, data.root) == ("imagefolder", None, root)
    assert data.classes == ("cat", "dog")
    assert [item.path.name for item in data.items] == ["a.jpg", "img1.jpg", "img2.png", "img10.png"]
    assert data.items[0] == LabelledImage(root / "cat" / "a.jpg", "cat")
    assert data.counts() == {"cat": 1, "dog": 3}
    assert data.problems == ()


def test_empty_class_folder_is_a_problem_not_a_class(tmp_path: Path) -> None:
    root = _tree(tmp_path / "d", {"cat": ["a.png"], "dog": []})
    data = read_labelled(root)
    assert data.classes == ("cat",)
    assert len(data.problems) == 1
    assert str(root / "dog") in data.problems[0] and "empty class folder" in data.problems[0]


def test_presplit_prefers_test_then_val_and_split_overrides(tmp_path: Path) -> None:
    root = tmp_path / "d"
    _tree(root / "train", {"cat": ["t1.png", "t2.png"], "dog": ["t3.png"]})
    _tree(root / "val", {"cat": ["v1.png"], "dog": ["v2.png"]})
    assert read_labelled(root).split == "val"
    _tree(root / "test", {"cat": ["x1.png"], "dog": ["x2.png", "x3.png"]})
    data = read_labelled(root)
    assert data.split == "test" and data.root == root
    assert data.counts() == {"cat": 1, "dog": 2}
    assert all(item.path.parent.parent == root / "test" for item in data.items)
    assert read_labelled(root, split="train").counts() == {"cat": 2, "dog": 1}
    assert read_labelled(root, split="val").split == "val"


def test_unknown_split_is_a_clear_error(tmp_path: Path) -> None:
    root = tmp_path / "d"
    _tree(root / "train", {"cat": ["a.png"]})
    _tree(root / "val", {"cat": ["b.png"]})
    with pytest.raises(LabelledDataError, match=r"no split 'holdout' \(it has: train, val\)") as err:
        read_labelled(root, split="holdout")
    assert str(root) in str(err.value)
    flat = _tree(tmp_path / "flat", {"cat": ["a.png"]})
    with pytest.raises(LabelledDataError, match="no split folders"):
        read_labelled(flat, split="val")


def test_train_only_needs_the_split_asked_for(tmp_path: Path) -> None:
    root = tmp_path / "d"
    _tree(root / "train", {"cat": ["a.png"]})
    with pytest.raises(LabelledDataError, match="split='train'"):
        read_labelled(root)
    assert read_labelled(root, split="train").counts() == {"cat": 1}


def test_folder_without_class_structure_names_folder_and_layout(tmp_path: Path) -> None:
    root = tmp_path / "loose"
    _image(root / "a.png")
    with pytest.raises(LabelledDataError) as err:
        read_labelled(root)
    message = str(err.value)
    assert message.startswith(f"{root}: no class subfolders")
    assert "DIR/<class>/<image files>" in message and "CSV of path,label" in message and "VOC devkit" in message


def test_no_usable_image_at_all_is_fatal(tmp_path: Path) -> None:
    root = _tree(tmp_path / "d", {"cat": [], "dog": []})
    with pytest.raises(LabelledDataError, match="no usable labelled image"):
        read_labelled(root)
    with pytest.raises(LabelledDataError, match="no such file or folder"):
        read_labelled(tmp_path / "missing")


# --- CSV / TSV -----------------------------------------------------------------------------------------------


def test_csv_with_header_relative_and_absolute_paths(tmp_path: Path) -> None:
    _image(tmp_path / "imgs" / "1.png")
    absolute = _image(tmp_path / "elsewhere" / "2.png")
    csv_file = tmp_path / "labels.csv"
    csv_file.write_text(f"path,label\nimgs/1.png,tabby\n{absolute},Tiger Cat\n", encoding="utf-8")
    data = read_labelled(csv_file)
    assert (data.layout, data.split, data.root) == ("csv", None, csv_file)
    assert data.items == (
        LabelledImage(tmp_path / "imgs" / "1.png", "tabby"),
        LabelledImage(absolute, "Tiger Cat"),
    )
    assert data.classes == ("Tiger Cat", "tabby")
    assert data.problems == ()


def test_csv_without_header_keeps_first_row(tmp_path: Path) -> None:
    _image(tmp_path / "a.png")
    _image(tmp_path / "b.png")
    csv_file = tmp_path / "l.csv"
    csv_file.write_text("a.png,cat\nb.png,dog\n", encoding="utf-8")
    assert read_labelled(csv_file).counts() == {"cat": 1, "dog": 1}


def test_tsv_by_extension_and_by_tab_delimiter(tmp_path: Path) -> None:
    _image(tmp_path / "a,1.png")  # a comma in the name: only TSV can hold it unquoted
    (tmp_path / "l.tsv").write_text("file\tclass\na,1.png\tcat\n", encoding="utf-8")
    assert read_labelled(tmp_path / "l.tsv").items == (LabelledImage(tmp_path / "a,1.png", "cat"),)
    _image(tmp_path / "b.png")
    (tmp_path / "l.txt").write_text("b.png\tdog\n", encoding="utf-8")
    assert read_labelled(tmp_path / "l.txt").counts() == {"dog": 1}


def test_csv_missing_files_and_malformed_rows_are_problems_with_line_numbers(tmp_path: Path) -> None:
    _image(tmp_path / "ok.png")
    csv_file = tmp_path / "l.csv"
    csv_file.write_text("path,label\nok.png,cat\ngone.png,dog\n\nonly-one-cell\nok.png,cat\n,cat\n", encoding="utf-8")
    data = read_labelled(csv_file)
    assert data.items == (LabelledImage(tmp_path / "ok.png", "cat"),)
    assert len(data.problems) == 4
    missing, malformed, repeated, empty = data.problems
    assert missing.startswith(f"{csv_file}: line 3: {tmp_path / 'gone.png'}: no such file")
    assert malformed.startswith(f"{csv_file}: line 5 is not 'path,label'") and "only-one-cell" in malformed
    assert repeated.startswith(f"{csv_file}: line 6 repeats") and "from line 2" in repeated
    assert empty.startswith(f"{csv_file}: line 7 is not 'path,label'")


def test_csv_with_no_usable_row_or_split_is_fatal(tmp_path: Path) -> None:
    csv_file = tmp_path / "l.csv"
    csv_file.write_text("path,label\ngone.png,dog\n", encoding="utf-8")
    with pytest.raises(LabelledDataError, match=r"l\.csv: no usable labelled image \(1 problems; .*gone\.png"):
        read_labelled(csv_file)
    (tmp_path / "h.csv").write_text("path,label\n", encoding="utf-8")
    with pytest.raises(LabelledDataError, match=r"h\.csv: no rows"):
        read_labelled(tmp_path / "h.csv")
    with pytest.raises(LabelledDataError, match="has no splits"):
        read_labelled(csv_file, split="val")
    (tmp_path / "bin.csv").write_bytes(b"a.png,\xff\xfe\n")
    with pytest.raises(LabelledDataError, match=r"bin\.csv: not UTF-8"):
        read_labelled(tmp_path / "bin.csv")


# --- VOC -----------------------------------------------------------------------------------------------------


def _object(name: str, box: tuple[int, int, int, int], difficult: bool = False) -> str:
    xmin, ymin, xmax, ymax = box
    return (
        f"<object><name>{name}</name><difficult>{int(difficult)}</difficult><bndbox><xmin>{xmin}</xmin>"
        f"<ymin>{ymin}</ymin><xmax>{xmax}</xmax><ymax>{ymax}</ymax></bndbox></object>"
    )


def _voc(devkit: Path) -> Path:
    root = devkit / "VOC2012"
    annotations = {
        "2012_000001": [_object("cat", (0, 0, 9, 9)), _object("dog", (0, 0, 19, 19))],  # dog is larger
        "2012_000002": [_object("person", (0, 0, 9, 9), difficult=True)],  # only difficult
        "2012_000003": [_object("sheep", (0, 0, 4, 4)), _object("cow", (10, 10, 14, 14))],  # tie: first wins
        "2012_000004": [_object("cat", (0, 0, 29, 29), difficult=True), _object("bird", (0, 0, 3, 3))],
        "2012_000005": [_object("car", (0, 0, 5, 5))],  # training only
    }
    (root / "Annotations").mkdir(parents=True)
    for image_id, objects in annotations.items():
        (root / "Annotations" / f"{image_id}.xml").write_text(f"<annotation>{''.join(objects)}</annotation>")
        _image(root / "JPEGImages" / f"{image_id}.jpg")
    main = root / "ImageSets" / "Main"
    main.mkdir(parents=True)
    (main / "val.txt").write_text("2012_000001\n2012_000002\n2012_000003\n2012_000004\n")
    (main / "train.txt").write_text("2012_000005\n")
    (main / "cat_val.txt").write_text("2012_000001  1\n")
    return root


def test_voc_val_split_largest_non_difficult_object(tmp_path: Path) -> None:
    root = _voc(tmp_path / "VOCdevkit")
    for given in (tmp_path / "VOCdevkit", root):
        data = read_labelled(given)
        assert (data.layout, data.split, data.root) == ("voc", "val", root)
        labels = {item.path.stem: item.label for item in data.items}
        assert labels == {"2012_000001": "dog", "2012_000003": "sheep", "2012_000004": "bird"}
        assert data.classes == ("bird", "dog", "sheep")
        assert len(data.problems) == 1
        assert "1 images with only difficult objects" in data.problems[0] and "2012_000002" in data.problems[0]
    assert read_labelled(root, split="train").counts() == {"car": 1}
    with pytest.raises(LabelledDataError, match=r"no image set 'test' \(the devkit has: train, val\)"):
        read_labelled(root, split="test")


def test_voc_missing_image_and_bad_annotation_are_problems(tmp_path: Path) -> None:
    root = _voc(tmp_path / "VOCdevkit")
    (root / "JPEGImages" / "2012_000001.jpg").unlink()
    (root / "Annotations" / "2012_000003.xml").write_text("<annotation><object>")
    data = read_labelled(root)
    assert [item.path.stem for item in data.items] == ["2012_000004"]
    assert any(str(root / "JPEGImages" / "2012_000001.jpg") in p and "no such file" in p for p in data.problems)
    assert any("2012_000003.xml: malformed XML" in p for p in data.problems)


def test_voc_without_image_sets_names_what_is_missing(tmp_path: Path) -> None:
    root = tmp_path / "VOC2012"
    (root / "JPEGImages").mkdir(parents=True)
    (root / "Annotations").mkdir()
    with pytest.raises(LabelledDataError, match=r"not a VOC devkit folder \(missing ImageSets/Main/\)"):
        read_labelled(root)


# --- matching ------------------------------------------------------------------------------------------------

MODEL = ("tiger cat", "tabby", "Egyptian cat", "crane", "Crane", "dog")


def test_match_by_name_variants() -> None:
    match = match_classes(["tiger_cat", "Tiger Cat", "tiger-cat", "TABBY", "egyptian_cat", "dog"], MODEL)
    assert match.index == {"tiger_cat": 0, "Tiger Cat": 0, "tiger-cat": 0, "TABBY": 1, "egyptian_cat": 2, "dog": 5}
    assert set(match.how.values()) == {"name"}
    assert match.unknown == () and match.reasons == {}


def test_ambiguous_names_are_unknown_with_the_reason_or_resolved_by_exact_name() -> None:
    match = match_classes(["crane", "CRANE", "zebra"], MODEL)
    assert match.index == {"crane": 3}  # the exact name is one label
    assert match.unknown == ("CRANE", "zebra")
    assert "ambiguous" in match.reasons["CRANE"] and "3 ('crane')" in match.reasons["CRANE"]
    assert "4 ('Crane')" in match.reasons["CRANE"]
    assert match.reasons["zebra"] == "no model label of that name"


def test_imagenet_ambiguity_resolved_by_wnid_or_mapping() -> None:
    names = load_labels("imagenet-1k")
    wnids = wnids_for(names)
    assert wnids == load_wnids("imagenet-1k")
    match = match_classes(["CARDIGAN"], names, wnids=wnids)  # the dog breed and the sweater
    assert match.unknown == ("CARDIGAN",) and "ambiguous" in match.reasons["CARDIGAN"]
    assert wnids[names.index("cardigan")] in match.reasons["CARDIGAN"]
    sweater = names.index("cardigan")
    match = match_classes(["CARDIGAN"], names, wnids=wnids, mapping={"CARDIGAN": wnids[sweater]})
    assert (match.index, match.how) == ({"CARDIGAN": sweater}, {"CARDIGAN": "mapping"})


def test_match_by_wnid() -> None:
    names = load_labels("imagenet-1k")
    wnids = load_wnids("imagenet-1k")
    match = match_classes(["n02123045", "n99999999"], names, wnids=wnids)
    assert match.index == {"n02123045": wnids.index("n02123045")}
    assert names[match.index["n02123045"]] == "tabby"
    assert match.how == {"n02123045": "wnid"}
    assert match.unknown == ("n99999999",)
    assert match_classes(["n02123045"], names).unknown == ("n02123045",)  # no wnids given
    assert wnids_for(MODEL) is None


def test_mapping_file_and_unknown_counts(tmp_path: Path) -> None:
    root = _tree(tmp_path / "d", {"kitty": ["1.png", "2.png"], "doggo": ["3.png"], "unicorn": ["4.png", "5.png"]})
    mapping_file = tmp_path / "map.csv"
    mapping_file.write_text("class,label\nkitty,Tabby\ndoggo,dog\n", encoding="utf-8")
    mapping = read_mapping(mapping_file)
    assert mapping == {"kitty": "Tabby", "doggo": "dog"}
    data = read_labelled(root)
    match = match_classes(data.classes, MODEL, mapping=mapping)
    assert isinstance(match, ClassMatch)
    assert match.index == {"doggo": 5, "kitty": 1}
    assert match.how == {"doggo": "mapping", "kitty": "mapping"}
    assert match.unknown == ("unicorn",)
    assert unknown_counts(data, match) == {"unicorn": 2}
    assert match.unused_mapping == ()
    match = match_classes(["kitty"], MODEL, mapping=mapping)
    assert match.unused_mapping == ("doggo",)


def test_mapping_to_a_label_the_model_lacks_is_an_error() -> None:
    with pytest.raises(LabelledDataError, match=r"mapping 'kitty' -> 'lion': no model label of that name"):
        match_classes(["kitty"], MODEL, mapping={"kitty": "lion"})
    with pytest.raises(LabelledDataError, match="ambiguous"):
        match_classes(["bird"], MODEL, mapping={"bird": "CRANE"})
    with pytest.raises(LabelledDataError, match="'ghost' -> 'lion'"):  # checked even with no such class
        match_classes(["kitty"], MODEL, mapping={"kitty": "tabby", "ghost": "lion"})


def test_read_mapping_errors_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "m.tsv"
    path.write_text("kitty\ttabby\nbad row\n", encoding="utf-8")
    with pytest.raises(LabelledDataError, match=r"m\.tsv: line 2 is not 'class,label'"):
        read_mapping(path)
    path.write_text("kitty\ttabby\nkitty\tdog\n", encoding="utf-8")
    with pytest.raises(LabelledDataError, match=r"m\.tsv: line 2 maps 'kitty' to 'dog', line 1 to 'tabby'"):
        read_mapping(path)
    with pytest.raises(LabelledDataError, match="no such mapping file"):
        read_mapping(tmp_path / "none.csv")
