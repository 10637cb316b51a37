"""A lazy array-like for the out-of-core tests (imported by test modules)."""


class RecordingArray:
    """A lazy array-like (an HDF5 / zarr dataset stand-in) that logs every read."""

    def __init__(self, data):
        self._data = data
        self.shape = data.shape
        self.dtype = data.dtype
        self.reads = []

    def __len__(self):
        return len(self._data)

    def __getitem__(self, index):
        rows = self._data[index]
        self.reads.append(len(rows))
        return rows
