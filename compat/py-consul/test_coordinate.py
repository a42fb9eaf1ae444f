"""py-consul against the agent: network coordinates (issue 11, item 3): a coordinate written
through `coordinate.update` reaches `coordinate.nodes` and `coordinate.node` once the
leader's batch is written, blocking works on the listing, and `datacenters` lists this
server in the WAN pool."""

import time


def coordinate(x):
    return {"Vec": [x, 0, 0, 0, 0, 0, 0, 0], "Error": 0.2, "Adjustment": 0.0, "Height": 0.0001}


def wait_for(what, check, deadline=30):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_an_updated_coordinate_is_listed_and_blocks(c):
    assert c.catalog.register("py-coord-node", "10.1.0.9")
    assert c.coordinate.update("py-coord-node", coordinate(0.25)) is True

    def listed():
        index, nodes = c.coordinate.nodes()
        return [n for n in nodes if n["Node"] == "py-coord-node" and n["Coord"]["Vec"][0] == 0.25] and index

    index = wait_for("the coordinate in the catalog", listed)
    _, one = c.coordinate.node("py-coord-node")
    assert one[0]["Coord"] == coordinate(0.25) and one[0]["Segment"] == ""
    # A listing blocked on that index wakes when the coordinate changes.
    assert c.coordinate.update("py-coord-node", coordinate(0.5)) is True
    new_index, nodes = c.coordinate.nodes(index=index, wait="20s")
    assert new_index != index
    assert [n["Coord"]["Vec"][0] for n in nodes if n["Node"] == "py-coord-node"] == [0.5]


def test_datacenters_list_this_server_in_the_wan_pool(c):
    maps = c.coordinate.datacenters()
    assert [m["Datacenter"] for m in maps] == ["dc1"]
    assert maps[0]["AreaID"] == "wan"
    assert [entry["Node"] for entry in maps[0]["Coordinates"]] == ["py-node.dc1"]
    assert len(maps[0]["Coordinates"][0]["Coord"]["Vec"]) == 8
