"""What the SQS event source mapping does on AWS, for the demo on moto (which cannot invoke Lambda):
several workers receive the churn scan's jobs, invoke the churn-scan function through the Lambda
emulator (`cargo lambda watch`), delete the messages it did not report failed, and leave the rest
for redelivery. Stops when the queue stays empty. Standard library plus boto3 (moto's dependency)."""
import json
import os
import sys
import threading
import time
import urllib.request

import boto3

queue_url, lambda_port, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
sqs = boto3.client("sqs", region_name=os.environ.get("AWS_REGION", "us-east-1"))
invoke_url = f"http://127.0.0.1:{lambda_port}/2015-03-31/functions/churn-scan/invocations"
lock = threading.Lock()
idle = {"since": None}
done = {"invocations": 0, "deleted": 0, "failed": 0}


def invoke(event):
    req = urllib.request.Request(invoke_url, data=json.dumps(event).encode(), method="POST")
    return json.load(urllib.request.urlopen(req, timeout=300))


def worker():
    while True:
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1, VisibilityTimeout=60)
        messages = got.get("Messages", [])
        if not messages:
            with lock:
                idle["since"] = idle["since"] or time.time()
                if time.time() - idle["since"] > 1.5:
                    return
            time.sleep(0.2)
            continue
        with lock:
            idle["since"] = None
        records = [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"], "eventSource": "aws:sqs"} for m in messages]
        answer = invoke({"Records": records})
        failed = {f["itemIdentifier"] for f in answer.get("batchItemFailures", [])}
        for m in messages:
            if m["MessageId"] in failed:
                continue
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
        with lock:
            done["invocations"] += 1
            done["deleted"] += len(messages) - len(failed)
            done["failed"] += len(failed)
            job = json.loads(messages[0]["Body"])
            print(f"  job {job['phase']:<6} segment {job['segment']:>2}  -> "
                  f"{'failed, left for redelivery' if failed else 'done'}", flush=True)


threads = [threading.Thread(target=worker) for _ in range(workers)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(f"poller: {done['invocations']} invocations by {workers} workers, {done['deleted']} jobs done, "
      f"{done['failed']} reported failed")
