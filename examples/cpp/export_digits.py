"""Writes scikit-learn's bundled digits as CSV for examples/cpp/train_digits.cc, which reads it
without Python: one row per image, `split,label,p0..p63` (pixels 0..16), with a stratified 75/25
train/test split fixed by random_state=0.

    python examples/cpp/export_digits.py build/digits.csv
"""

import sys

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


def main(path):
    data = load_digits()
    index = np.arange(len(data.target))
    train, test = train_test_split(index, test_size=0.25, random_state=0, stratify=data.target)
    split = np.empty(len(index), dtype=object)
    split[train], split[test] = "train", "test"
    with open(path, "w") as f:
        f.write("split,label," + ",".join(f"p{i}" for i in range(64)) + "\n")
        for i in index:
            pixels = ",".join(str(int(v)) for v in data.data[i])
            f.write(f"{split[i]},{data.target[i]},{pixels}\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: export_digits.py OUT.csv")
    main(sys.argv[1])
