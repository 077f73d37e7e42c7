"""tests/moto_server.py's TransactWriteItems patch against stock moto, on random transactions.

Two DynamoDB backends get the same random transactions, one through moto's own code and one through
the patch; after each, the outcome (success, or the exception with its message and cancellation
reasons) and every table's content must be the same. The transactions mix Put, Update, Delete
and ConditionCheck on a few keys, with conditions that fail, repeated keys, an Update of a key
attribute, a missing range key, two operations in one element and tables named by ARN: every way
moto ends a transaction. Run by tests/it/local_aws.rs.

Usage: python moto_rollback_check.py [SEED] [COUNT]
"""

import copy
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from moto.dynamodb.models import DynamoDBBackend  # noqa: E402

STOCK = DynamoDBBackend.transact_write_items
import moto_server  # noqa: E402

moto_server.patch_transact_write_items()
PATCHED = DynamoDBBackend.transact_write_items


def key_schema(*names):
    return [{"AttributeName": n, "KeyType": k} for n, k in zip(names, ("HASH", "RANGE"))]


def backend(region):
    b = DynamoDBBackend(region, "123456789012")
    common = dict(throughput=None, indexes=None, streams=None, billing_mode="PAY_PER_REQUEST",
                  sse_specification=None, tags=[], deletion_protection_enabled=False,
                  warm_throughput=None)
    gsi = {"IndexName": "gsi", "KeySchema": key_schema("G", "GS"),
           "Projection": {"ProjectionType": "ALL"}}

    def strings(*names):
        return [{"AttributeName": n, "AttributeType": "S"} for n in names]

    b.create_table("ranged", schema=key_schema("PK", "SK"), global_indexes=[gsi],
                   attr=strings("PK", "SK", "G", "GS"), **common)
    b.create_table("hashed", schema=key_schema("K"), global_indexes=None, attr=strings("K"),
                   **common)
    return b


def content(b):
    """Every table as comparable text: partitions (empty ones too), items, count, scan order."""
    out = {}
    for name, t in sorted(b.tables.items()):
        parts = sorted(
            (repr(h), sorted((repr(r), repr(i.to_json())) for r, i in v.items()) if t.range_key_attr
             else repr(v.to_json()))
            for h, v in t.items.items()
        )
        out[name] = (parts, len(t), [repr(i.to_json()) for i in t.all_items()])
    return out


def element(rng):
    kind = rng.choice(["Put", "Update", "Delete", "ConditionCheck"])
    if rng.random() < 0.3:
        table, hash_attr, key = "hashed", "K", {"K": {"S": rng.choice("abcdef")}}
    else:
        table, hash_attr = "ranged", "PK"
        key = {"PK": {"S": rng.choice("123456")}, "SK": {"S": rng.choice("wxyz")}}
    op = {"TableName": table}
    values = {":one": {"N": "1"}, ":three": {"N": "3"}, ":zero": {"N": "0"}}
    condition = rng.choice([None, "attribute_not_exists(#h)", "attribute_exists(#h)", "n = :one",
                            "n < :three"])
    if kind == "ConditionCheck":
        condition = condition or "attribute_exists(#h)"
    if condition:
        op["ConditionExpression"] = condition
    if kind == "Put":
        op["Item"] = dict(key, n={"N": str(rng.randint(0, 4))})
        if rng.random() < 0.5:
            op["Item"].update(G={"S": rng.choice("gh")}, GS={"S": rng.choice("uv")})
    else:
        op["Key"] = key
        if rng.random() < 0.05:
            op["Key"] = dict(list(key.items())[:1])  # no range key: a validation error
    if kind == "Update":
        r = rng.random()
        if r < 0.1:
            op["UpdateExpression"] = "SET #h = :g"  # a key attribute: a validation error
        elif r < 0.15:
            op["UpdateExpression"] = "SET n = n + :one"  # fails where n is missing
        else:
            op["UpdateExpression"] = "SET n = if_not_exists(n, :zero) + :one, G = :g"
        values[":g"] = {"S": rng.choice("gh")}
    expression = op.get("ConditionExpression", "") + op.get("UpdateExpression", "")
    if "#h" in expression:
        op["ExpressionAttributeNames"] = {"#h": hash_attr}
    used = {k: v for k, v in values.items() if k in expression}
    if used:
        op["ExpressionAttributeValues"] = used
    return {kind: op}


def transaction(rng):
    items = [element(rng) for _ in range(rng.randint(1, 5))]
    if rng.random() < 0.03:
        items.append({"Put": {}, "Delete": {}})  # two operations in one element
    if rng.random() < 0.05:
        for e in items:
            op = next(iter(e.values()))
            if op.get("TableName") == "ranged" and rng.random() < 0.5:
                op["TableName"] = "ARN"
    return items


def run(method, b, items):
    items = copy.deepcopy(items)
    arn = b.tables["ranged"].table_arn
    for e in items:
        op = next(iter(e.values()))
        if op.get("TableName") == "ARN":
            op["TableName"] = arn
    try:
        method(b, items)
        return ("committed",)
    except Exception as e:  # noqa: BLE001 — the outcome is what is compared
        text = lambda s: s.replace(arn, "ARN") if isinstance(s, str) else s  # noqa: E731
        return (type(e).__name__, text(str(e)), text(getattr(e, "description", None)))


def main():
    seed = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 1500
    if PATCHED is STOCK:
        sys.exit("the patch did not apply")
    rng = random.Random(seed)
    stock, patched = backend("us-east-1"), backend("eu-west-1")
    tables = dict(patched.tables)
    outcomes = {}
    for i in range(count):
        items = transaction(rng)
        a, b = run(STOCK, stock, items), run(PATCHED, patched, items)
        if a != b or content(stock) != content(patched):
            sys.exit(f"transaction {i} differs: {items}\nstock:   {a}\npatched: {b}")
        # Stock moto rolls back by putting table copies in place; the patch must never get there.
        if any(patched.tables[n] is not t for n, t in tables.items()):
            sys.exit(f"transaction {i}: the patched run replaced a table (stock rollback ran)")
        outcomes[a[0]] = outcomes.get(a[0], 0) + 1
    print(f"{count} transactions (seed {seed}), the same outcome and content after each:", outcomes)


if __name__ == "__main__":
    main()
