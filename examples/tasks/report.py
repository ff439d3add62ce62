"""Report on the fetched numbers; the report lands in the output folder."""

import json
import os

with open(os.path.join(os.environ["TMP_DIR"], "numbers.json")) as f:
    data = json.load(f)
out_dir = os.environ["FERROFLOW_OUTPUT_DIR"]
os.makedirs(out_dir, exist_ok=True)
line = f"{data['date']}: total {sum(data['numbers'])} ({os.environ['MODE']} mode, run {os.environ['FERROFLOW_RUN_ID']})"
with open(os.path.join(out_dir, f"report-{data['date']}.txt"), "w") as f:
    f.write(line + "\n")
print(line)
