"""Local AWS for tests and the demo: moto, served one request at a time.

The stock `moto_server` answers on threads and does not isolate TransactWriteItems from each other
(measured: concurrent conditional transactions sometimes both commit). Serving one request at a time
gives the isolation the design relies on in real DynamoDB.

It also makes moto's TransactWriteItems roll back only the items a transaction touches, instead of
deep-copying whole tables first (see `patch_transact_write_items`): with the stock rollback every
transaction costs O(table size), and issuing 100,000 coupons is quadratic.

Usage: python moto_server.py [PORT]   (0 or nothing: a free port). Prints the port on its first
line. Exits when its standard input closes, so a test process that dies cannot leave it behind.
MOTO_STOCK_ROLLBACK=1 leaves moto's rollback as it is.
"""

import copy
import os
import sys
import threading

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

# The moto the patch below was written against (requirements-dev.txt pins it).
PATCHED_MOTO = "5.2.5"


def patch_transact_write_items() -> None:
    """Makes moto's DynamoDB TransactWriteItems back up only the items it touches.

    moto 5.2.5 (`DynamoDBBackend.transact_write_items`) deep-copies each table the transaction
    names, once per element, then applies the elements one by one; when one fails it puts the copies
    in place of the tables. The patch still runs that code, so the condition checks, the order of
    the writes, the cancellation reasons and the errors stay moto's own, and changes two things:

    * while it runs, the `copy` module moto's code sees "copies" a table to itself: moto's backup
      costs nothing, and its rollback puts each table back where it already is;
    * before it runs, the item under each element's key is deep-copied (an Update changes the stored
      item in place), and where moto would have rolled back (a cancelled transaction, a validation
      error inside its loop) exactly those keys are put back as they were.

    That restores all a transaction can change. A table's items are `table.items`, `{hash: {range:
    Item}}` (`{hash: Item}` without a range key); item count, size and index queries are computed
    from it on each read. The only other state a write touches is the stream shard: tables with a
    stream are left to the stock code. A partition a read created empty (`items` is a defaultdict)
    goes again too; a restored item may sit elsewhere in the dict, which no read shows (reads sort).
    The tables moto leaves alone (those named by ARN) are left alone here too.

    Safe only because this server answers one request at a time: between backup and restore nothing
    else touches the tables or sees the swapped `copy`. A moto other than the pinned one, or one not
    shaped as the patch expects, keeps the stock behaviour, with a warning on stderr.
    tests/moto_rollback_check.py compares the two on random transactions.
    """
    try:
        import moto
        from moto.dynamodb import models
        from moto.dynamodb.exceptions import (
            MockValidationException,
            TransactionCanceledException,
            TransactWriteSingleOpException,
        )
        from moto.dynamodb.models.dynamo_type import DynamoType
        from moto.dynamodb.models.table import Table

        if moto.__version__ != PATCHED_MOTO:
            raise RuntimeError(f"moto is {moto.__version__}, the patch is for {PATCHED_MOTO}")
        if models.copy is not copy:
            raise RuntimeError("moto.dynamodb.models no longer imports `copy`")
        stock = models.DynamoDBBackend.transact_write_items
    except Exception as e:  # noqa: BLE001 — any surprise means: do not patch
        print(
            f"moto_server.py: WARNING: TransactWriteItems not patched ({e}); moto deep-copies "
            "whole tables for each transaction, so large tables are slow",
            file=sys.stderr,
            flush=True,
        )
        return

    class TablesByReference:
        """What moto's code sees as `copy` during a transaction: a table "copies" to itself."""

        def __getattr__(self, name):
            return getattr(copy, name)

        @staticmethod
        def deepcopy(x, memo=None):
            return x if isinstance(x, Table) else copy.deepcopy(x, memo)

    def backup(backend, transact_items):
        """{(table id, hash, range): (table, partition existed, copy of the item or None)} for the
        elements on a table moto would restore (named by name: moto's own backup skips ARNs). None,
        leaving it all to moto, if such a table has a stream or the request is too malformed for
        moto to write anything. An element whose key cannot be read is skipped: moto cannot write
        it either."""
        try:
            names = {next(iter(e.values())).get("TableName") for e in transact_items}
        except Exception:  # noqa: BLE001 — malformed: moto fails before writing anything
            return None
        by_name = {id(t): t for n, t in backend.tables.items() if n in names}
        if any(t.stream_shard is not None for t in by_name.values()):
            return None
        saved = {}
        for element in transact_items:
            try:
                op_type, op = next(iter(element.items()))
                table = backend.get_table(op["TableName"])
                if id(table) not in by_name:
                    continue
                key = op["Item"] if op_type == "Put" else op["Key"]
                h = DynamoType(key[table.hash_key_attr])
                r = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
            except Exception:  # noqa: BLE001
                continue
            if (id(table), h, r) in saved:
                continue
            if r is None:
                had, item = True, table.items.get(h)
            else:
                had = h in table.items
                item = table.items[h].get(r) if had else None
            saved[(id(table), h, r)] = (table, had, copy.deepcopy(item))
        return saved

    def restore(saved):
        for (_, h, r), (table, had, item) in saved.items():
            if r is None:
                if item is None:
                    table.items.pop(h, None)
                else:
                    table.items[h] = item
            elif item is not None:
                table.items[h][r] = item
            elif h in table.items:
                table.items[h].pop(r, None)
                if not had and not table.items[h]:
                    del table.items[h]

    def transact_write_items(self, transact_items):
        saved = backup(self, transact_items)
        if saved is None:
            return stock(self, transact_items)
        models.copy = TablesByReference()
        try:
            return stock(self, transact_items)
        except TransactWriteSingleOpException:
            raise  # raised outside moto's try: moto rolls nothing back
        except (TransactionCanceledException, MockValidationException):
            restore(saved)
            raise
        finally:
            models.copy = copy

    models.DynamoDBBackend.transact_write_items = transact_write_items


def main() -> None:
    if os.environ.get("MOTO_STOCK_ROLLBACK") != "1":
        patch_transact_write_items()
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server("127.0.0.1", port, app, threaded=False)
    print(server.server_port, flush=True)
    if os.environ.get("MOTO_WATCH_STDIN", "1") == "1":
        def watch() -> None:
            sys.stdin.read()
            os._exit(0)

        threading.Thread(target=watch, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
