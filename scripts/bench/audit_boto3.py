"""The same AWS calls `breakglass audit` makes for one account, as a minimal boto3 script: the
baseline `scripts/bench-audit` compares against (the issue measured such a script at 0.52 s and
49 MB, and Prowler 5.46 at 23.5 s and 373 MB, on the same checks)."""
import time

import boto3

s = boto3.session.Session()
sts, iam = s.client("sts"), s.client("iam")
account = sts.get_caller_identity()["Account"]
summary = iam.get_account_summary()["SummaryMap"]
virtual = [d for d in iam.list_virtual_mfa_devices()["VirtualMFADevices"] if d.get("User", {}).get("Arn", "").endswith(":root")]
for _ in range(14):
    if iam.generate_credential_report()["State"] == "COMPLETE":
        break
    time.sleep(0.025)
report = iam.get_credential_report()["Content"].decode()
root = [l for l in report.splitlines() if l.startswith("<root_account>")]
try:
    iam.list_organizations_features()
except Exception:
    pass
admins = iam.list_entities_for_policy(PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
events = s.client("cloudtrail").lookup_events(LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": "root"}])
ev = s.client("events")
for r in ev.list_rules()["Rules"]:
    ev.list_targets_by_rule(Rule=r["Name"])
print(account, summary.get("AccountMFAEnabled"), len(virtual), len(root), len(admins["PolicyUsers"]), len(events["Events"]))
