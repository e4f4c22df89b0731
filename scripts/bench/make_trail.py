"""Writes realistic CloudTrail log files (gzip JSON, the organization trail's layout) for the
trail benchmark: python make_trail.py OUT_DIR TOTAL_MB DAYS ACCOUNT
Records look like AWS's (management events of users, roles and services); one in 10,000 is a
root event."""
import datetime
import gzip
import json
import os
import random
import sys

out, total_mb, days, account = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rng = random.Random(7)
names = ["DescribeInstances", "GetObject", "PutObject", "AssumeRole", "ListBuckets", "GetCallerIdentity", "CreateTags", "Decrypt"]
now = datetime.datetime.now(datetime.timezone.utc)


def record(t):
    root = rng.random() < 1e-4
    ident = {"type": "Root", "principalId": account, "arn": f"arn:aws:iam::{account}:root", "accountId": account} if root else {
        "type": "AssumedRole", "principalId": "AROA" + "X" * 17 + ":session", "arn": f"arn:aws:sts::{account}:assumed-role/app/session",
        "accountId": account, "accessKeyId": "ASIA" + "Y" * 16,
        "sessionContext": {"sessionIssuer": {"type": "Role", "arn": f"arn:aws:iam::{account}:role/app", "userName": "app"},
                           "attributes": {"creationDate": t, "mfaAuthenticated": "false"}}}
    return {"eventVersion": "1.09", "userIdentity": ident, "eventTime": t, "eventSource": "ec2.amazonaws.com",
            "eventName": rng.choice(names), "awsRegion": "eu-west-1", "sourceIPAddress": f"198.51.100.{rng.randrange(256)}",
            "userAgent": "aws-sdk-go-v2/1.30.0 os/linux lang/go#1.22", "requestParameters": {"instancesSet": {"items": [{"instanceId": f"i-{rng.getrandbits(64):016x}"}]}},
            "responseElements": None, "requestID": f"{rng.getrandbits(128):032x}", "eventID": f"{rng.getrandbits(128):032x}",
            "readOnly": True, "eventType": "AwsApiCall", "managementEvent": True, "recipientAccountId": account,
            "eventCategory": "Management", "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256", "clientProvidedHostHeader": "ec2.eu-west-1.amazonaws.com"}}


written, n = 0, 0
while written < total_mb * 1_000_000:
    day = now - datetime.timedelta(days=rng.randrange(days), minutes=rng.randrange(1440))
    t = day.strftime("%Y-%m-%dT%H:%M:%SZ")
    recs = [record(t) for _ in range(1200)]
    body = json.dumps({"Records": recs}).encode()
    path = os.path.join(out, f"AWSLogs/o-bench12345/{account}/CloudTrail/eu-west-1/{day:%Y/%m/%d}/{account}_CloudTrail_eu-west-1_{day:%Y%m%dT%H%MZ}_{n:05d}.json.gz")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(gzip.compress(body, 6))
    written += len(body)
    n += 1
print(f"{n} files, {written / 1e6:.0f} MB of JSON")
