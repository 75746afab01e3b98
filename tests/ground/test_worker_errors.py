"""A MoteError raised in a DataLoader worker reaches the user as its own line: torch
re-raises it in the main process as MoteError("Caught MoteError in DataLoader worker
process 0.\nOriginal Traceback ..."), which the constructor unwraps."""

import pytest
from torch.utils.data import DataLoader, Dataset

from motecli.errors import MoteError

MESSAGE = "/data/shard-00003.h5: damaged frame store shard (OSError: truncated: eof = 1, stored_eof = 2); run it again"


class Failing(Dataset):
    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int):
        try:
            {}["frames"]
        except KeyError as err:  # a chained cause: the worker's traceback holds two exceptions
            raise MoteError(MESSAGE) from err


def test_worker_error_keeps_its_own_message():
    with pytest.raises(MoteError) as caught:
        next(iter(DataLoader(Failing(), batch_size=1, num_workers=1)))
    assert str(caught.value) == MESSAGE
    text = caught.value.worker_traceback  # what --debug prints
    assert text.startswith("Caught MoteError in DataLoader worker process 0.") and "KeyError: 'frames'" in text


def test_messages_that_only_look_wrapped_are_kept():
    for text in ("Caught MoteError in the act: a plain message", "Caught MoteError in x.\nmotecli.errors.MoteError: inner", ""):
        assert str(MoteError(text)) == text and MoteError(text).worker_traceback is None
    assert MoteError("a", 1).args == ("a", 1)
