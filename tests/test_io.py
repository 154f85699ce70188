"""crossentropy.io: readers report shape and dtype from the header, hand out blocks of rows that equal the
array, and refuse what they cannot read with ReadError; ProbabilityWarning carries kind, count and rows."""

import pickle
import warnings

import numpy as np
import pytest

import crossentropy as ce
from crossentropy import io
from crossentropy.keras import categorical_crossentropy


@pytest.fixture
def files(tmp_path):
    a = np.arange(60, dtype=np.float32).reshape(12, 5)
    np.save(tmp_path / "a.npy", a)
    np.savez(tmp_path / "stored.npz", pred=a, other=a[:, 0])
    np.savez_compressed(tmp_path / "packed.npz", pred=a)
    np.save(tmp_path / "fortran.npy", np.asfortranarray(a))
    return tmp_path, a


@pytest.mark.parametrize(
    "name,key", [("a.npy", None), ("stored.npz", "pred"), ("packed.npz", None), ("fortran.npy", None)]
)
def test_blocks_cover_the_array(files, name, key):
    d, a = files
    with io.open_array(d / name, key) as reader:
        assert isinstance(reader, io.ArrayReader)
        assert reader.shape == a.shape and reader.dtype == a.dtype
        seen = [(start, stop, np.array(block)) for start, stop, block in reader.blocks(0, 5)]
    assert [(s, e) for s, e, _ in seen] == [(0, 5), (5, 10), (10, 12)]
    np.testing.assert_array_equal(np.concatenate([b for _, _, b in seen]), a)


def test_view_changes_shape_before_reading(files):
    d, a = files
    with io.open_array(d / "packed.npz") as reader:
        reader.view(lambda x: x[..., 0])
        assert reader.shape == (12,)
        np.testing.assert_array_equal(reader.read(0, 2, 4), a[2:4, 0])


def test_errors_name_the_file(files, tmp_path):
    d, _ = files
    (tmp_path / "junk.bin").write_bytes(b"not an array")
    with pytest.raises(io.ReadError, match="PRED file not found"):
        io.open_array(d / "missing.npy", role="PRED")
    with pytest.raises(io.ReadError, match="not a .npy or .npz file"):
        io.open_array(tmp_path / "junk.bin")
    with pytest.raises(io.ReadError, match=r"holds 2 arrays \(.*\); choose one with --pred-key"):
        io.open_array(d / "stored.npz", key_option="--pred-key")
    with pytest.raises(io.ReadError, match="has no array 'nope'"):
        io.open_array(d / "stored.npz", "nope")
    assert "numpy" in io.formats()


def test_probability_warning_attributes_and_pickling():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        categorical_crossentropy(np.eye(3), np.array([[0.5, 0.5, 0.5], [0.1, 0.8, 0.1], [3.0, 0.0, 0.0]]))
    found = {w.message.kind: w.message for w in caught if issubclass(w.category, ce.ProbabilityWarning)}
    assert (found["not_normalised"].count, found["not_normalised"].rows) == (2, 3)
    assert (found["out_of_unit"].count, found["out_of_unit"].rows) == (1, 3)
    assert "1 of 3 rows have values outside [0, 1]" in str(found["out_of_unit"])
    again = pickle.loads(pickle.dumps(found["out_of_unit"]))
    assert (again.kind, again.count, again.rows, str(again)) == ("out_of_unit", 1, 3, str(found["out_of_unit"]))
    assert str(ce.ProbabilityWarning("free text")) == "free text"
