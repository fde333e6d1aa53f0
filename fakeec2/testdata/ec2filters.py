#!/usr/bin/env python3
"""Prints the filter names EC2 documents for each Describe action fakeec2
serves, and every element name its response may carry, read from botocore's ec2/2016-11-15 service model (Debian's
python3-botocore or the AWS CLI's), as JSON. `go generate ./fakeec2/` keeps
fakeec2/ec2filters.json current; TestFilterListsMatchBotocore checks it."""
import json
import re
import sys

import botocore
import botocore.loaders

ACTIONS = sys.argv[1:] or [
    "DescribeAvailabilityZones", "DescribeInstanceTypes", "DescribeInstances",
    "DescribeNetworkInterfaces", "DescribeSecurityGroups", "DescribeSubnets",
    "DescribeTrunkInterfaceAssociations", "DescribeVpcs", "GetSubnetCidrReservations",
]

model = botocore.loaders.Loader().load_service_model("ec2", "service-2", "2016-11-15")
out = {"botocore": botocore.__version__, "filters": {}}
for action in ACTIONS:
    shape = model["shapes"][model["operations"][action]["input"]["shape"]]
    doc = shape["members"]["Filters"].get("documentation", "")
    names = re.findall(r"<li>\s*<p>\s*<code>([^<]+)</code>", doc)
    # documented second spellings: "You can also use <code>x</code> as the filter name"
    names += re.findall(r"also use <code>([^<]+)</code> as the filter name", doc)
    # tag:<key> is written tag or tag:&lt;key&gt;; the fake takes every tag:K.
    names = sorted({n for n in names if n != "tag" and not n.startswith("tag:")})
    out["filters"][action] = names


def element_names(shape_name, seen):
    """Every XML element name reachable from a shape (EC2 protocol: a member
    is serialized under its locationName, else its name lower-camelled)."""
    if shape_name in seen:
        return set()
    seen.add(shape_name)
    shape = model["shapes"][shape_name]
    names = set()
    if shape["type"] == "structure":
        for m, ref in shape["members"].items():
            names.add(ref.get("locationName") or m[0].lower() + m[1:])
            names |= element_names(ref["shape"], seen)
    elif shape["type"] == "list":
        names.add(shape["member"].get("locationName", "member"))
        names |= element_names(shape["member"]["shape"], seen)
    return names


out["elements"] = {}
for action in ACTIONS:
    out["elements"][action] = sorted(element_names(model["operations"][action]["output"]["shape"], set()))
json.dump(out, sys.stdout, indent=1, sort_keys=True)
print()
