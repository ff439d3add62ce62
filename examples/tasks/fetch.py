"""Fetch the day's numbers into the run's shared TMP_DIR."""

import argparse
import json
import os

parser = argparse.ArgumentParser()
parser.add_argument("--date", required=True)
date = parser.parse_args().date
numbers = [len(date) * n for n in range(1, 6)]
with open(os.path.join(os.environ["TMP_DIR"], "numbers.json"), "w") as f:
    json.dump({"date": date, "numbers": numbers}, f)
print(f"fetched {len(numbers)} numbers for {date}")
