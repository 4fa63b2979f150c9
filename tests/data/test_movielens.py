import numpy as np
import pytest

from tfrs_ltttd.data import movielens
from tfrs_ltttd.data.interactions import validation_split

ML100K = movielens.default_path()
needs_ml100k = pytest.mark.skipif(
    ML100K is None, reason="MovieLens 100K not found: set "
    f"{movielens.DATA_ENV} or place it at ../shared/data/ml-100k")


@needs_ml100k
def test_ml100k_loads_whole_and_splits_by_time():
  data = movielens.load(ML100K)
  assert (data.num_users, data.num_items) == (943, 1682)
  assert len(data.train["user"]) + len(data.test["user"]) == 100_000
  raw = np.loadtxt(ML100K / "u.data", dtype=np.int64)
  rating = {(u, i): r for u, i, r, _ in raw}
  when = {(u, i): t for u, i, _, t in raw}
  ids_u, ids_i = data.users["user_id"], data.items["item_id"]
  for split in (data.train, data.test):  # labels: rating >= 4 -> rating - 3
    for u, i, y in list(zip(split["user"], split["item"], split["label"]))[:500]:
      r = rating[ids_u[u], ids_i[i]]
      assert y == (r - 3 if r >= 4 else 0)
  for u in range(0, 943, 50):
    train_t = [when[ids_u[u], ids_i[i]]
               for i in data.train["item"][data.train["user"] == u]]
    test_t = [when[ids_u[u], ids_i[i]]
              for i in data.test["item"][data.test["user"] == u]]
    assert max(train_t) <= min(test_t)
    total = len(train_t) + len(test_t)
    assert len(test_t) == max(1, round(0.2 * total))
  assert set(data.users) == {"user_id", "user_age", "user_gender",
                             "user_occupation"}
  assert data.items["genre_Action"][1] == 1.0  # GoldenEye
  assert data.items["item_year"][0] == 1995.0  # Toy Story


def _write(path, name, text):
  (path / name).write_text(text, encoding="utf-8")


def test_ml1m_layout(tmp_path):
  _write(tmp_path, "ratings.dat", "1::10::5::100\n1::11::2::200\n"
         "2::10::4::50\n2::11::4::60\n")
  _write(tmp_path, "movies.dat", "10::Heat (1995)::Action|Crime\n"
         "11::Up (2009)::Animation\n")
  _write(tmp_path, "users.dat", "1::F::25::3::000\n2::M::45::7::000\n")
  data = movielens.load(tmp_path, test_fraction=0.5)
  assert data.items["item_year"].tolist() == [1995.0, 2009.0]
  assert data.items["genre_Crime"].tolist() == [1.0, 0.0]
  assert data.users["user_occupation"].tolist() == ["occupation_3",
                                                    "occupation_7"]
  # User 1: item 10 (t=100) in train, item 11 (t=200, rating 2) in test.
  assert data.train["item"][data.train["user"] == 0].tolist() == [0]
  assert data.test["label"][data.test["user"] == 0].tolist() == [0.0]


def test_latest_small_layout(tmp_path):
  _write(tmp_path, "ratings.csv", "userId,movieId,rating,timestamp\n"
         "1,5,4.5,10\n1,6,3.0,20\n")
  _write(tmp_path, "movies.csv", 'movieId,title,genres\n'
         '5,"Father, The (1999)",Drama\n6,Blob (1958),Horror|Sci-Fi\n')
  data = movielens.load(tmp_path, test_fraction=0.5)
  assert set(data.users) == {"user_id"}
  assert data.items["item_year"].tolist() == [1999.0, 1958.0]
  np.testing.assert_allclose(data.train["label"], [1.5])


@pytest.mark.parametrize("name,text,where", [
    ("u.data", "1\t1\t5\t881250949\n2\t1\tfive\t881250950\n", "u.data:2"),
    ("u.data", "1\t1\t5\t881250949\n1\t2\n", "u.data:2"),
])
def test_malformed_lines_name_file_and_line(tmp_path, name, text, where):
  _write(tmp_path, name, text)
  _write(tmp_path, "u.item", "1|A (1995)|01-Jan-1995||url" + "|0" * 19 + "\n")
  _write(tmp_path, "u.user", "1|24|M|technician|85711\n")
  with pytest.raises(movielens.MalformedFileError, match=where):
    movielens.load(tmp_path)


def test_missing_files_are_named(tmp_path):
  with pytest.raises(FileNotFoundError, match="no MovieLens files"):
    movielens.load(tmp_path)
  _write(tmp_path, "u.data", "1\t1\t5\t1\n")
  with pytest.raises(FileNotFoundError, match="u.item"):
    movielens.load(tmp_path)


def test_validation_split_holds_out_the_end_of_train(small_data):
  val = validation_split(small_data, 0.25)
  assert len(val.train["user"]) + len(val.test["user"]) == len(
      small_data.train["user"])
  u = 5
  before = small_data.train["item"][small_data.train["user"] == u].tolist()
  assert (val.train["item"][val.train["user"] == u].tolist()
          + val.test["item"][val.test["user"] == u].tolist()) == before
  assert not np.isin(small_data.test["item"][small_data.test["user"] == u],
                     val.test["item"][val.test["user"] == u]).any()
