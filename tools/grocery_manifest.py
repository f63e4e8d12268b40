#!/usr/bin/python3
"""Writes a libdomainsearch catalogue CSV (path,label,category) from a grocery-dataset manifest.

  tools/grocery_manifest.py ../shared/data/grocery/catalogue.csv out.csv

label = the fine class name (the item), category = the coarse class name (the search category);
paths become absolute so the CSV can live anywhere.
"""
import csv
import os
import sys


def main(source, target):
    root = os.path.dirname(os.path.abspath(source))
    with open(os.path.join(root, "classes.csv"), newline="") as f:
        classes = {row["fine_label"]: row for row in csv.DictReader(f)}
    with open(source, newline="") as f, open(target, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["path", "label", "category"])
        for row in csv.DictReader(f):
            cls = classes[row["fine_label"]]
            writer.writerow([os.path.join(root, row["path"]), cls["fine_name"], cls["coarse_name"]])


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
