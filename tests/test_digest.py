"""grader.digest: a file's bytes identify a submission; a Python file's code alone decides whether trained numbers
still describe it."""

from grader.digest import code_sha256, file_sha256

CODE = '''"""A model."""
import torch.nn as nn


class Net(nn.Module):
    """Two convs."""

    def forward(self, x):  # no docstring here
        return x * 2
'''


def test_comments_docstrings_and_layout_do_not_change_the_code_digest():
    reworded = CODE.replace('"""A model."""', '"""A model, described better."""\n# and a comment')
    reworded = reworded.replace('    """Two convs."""\n', "").replace("return x * 2", "return (x *\n                2)")
    assert code_sha256(reworded) == code_sha256(CODE)


def test_any_change_to_what_runs_changes_the_code_digest():
    for edit in (CODE.replace("x * 2", "x * 3"), CODE.replace("x * 2", "2 * x"), CODE + "EPOCHS = 15\n",
                 CODE.replace("return x * 2", 'return x * 2\n        "a string that is not a docstring"')):
        assert code_sha256(edit) != code_sha256(CODE), edit


def test_a_file_that_does_not_parse_has_no_code_digest_but_has_a_file_digest(tmp_path):
    path = tmp_path / "broken.py"
    path.write_text("def (\n")
    assert code_sha256(path.read_text()) is None and len(file_sha256(path)) == 64
