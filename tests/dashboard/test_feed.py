"""The live feed's ring: what a client behind, caught up or far behind reads."""

from __future__ import annotations

import json

from ferroflow.dashboard.feed import Feed


def test_after_reads_what_came_since_and_counts_what_the_ring_dropped() -> None:
    feed = Feed(capacity=3)
    for n in range(5):
        feed.publish({"type": "file", "n": n})
    skipped, items = feed.after(0)
    assert skipped == 2 and [i["id"] for i in items] == [3, 4, 5]
    assert feed.after(4) == (0, [feed.after(0)[1][-1]])
    assert feed.after(5) == (0, [])
    assert [json.loads(i.json) for i in items] == [dict(i) for i in items]
    assert feed.recent(2) == [{"type": "file", "n": 3, "id": 4}, {"type": "file", "n": 4, "id": 5}]
