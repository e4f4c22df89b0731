"""Starts moto's server for breakglass's tests, with the behaviour moto lacks registered first.

Emulated here (moto 5.2.5 does not implement them), so the real AWS SDK calls still run end to end:
- sts:AssumeRoot: returns credentials for the target member account, if the task policy is one of
  AWS's five root-task policies and DurationSeconds <= 900. The root user is emulated as the IAM
  user `<root_account>` of the target account (the way moto's credential report shows root); the
  session's credentials are an `ASIA...` access key of that user, so calls made with them act on
  the target account as root would.
- IAM calls that root makes without a UserName (GetLoginProfile, ListMFADevices, ...) apply to the
  calling user, as they do for root on AWS.
- cloudtrail:LookupEvents: returns the records a test wrote to
  /tmp/breakglass-moto-<port>-cloudtrail.json (a JSON list of CloudTrail records), filtered by
  time and by the Username lookup attribute as AWS does, and by region: a record's `awsRegion`
  (us-east-1 when it has none) is the region whose event history holds it. When
  /tmp/breakglass-moto-<port>-cloudtrail-denied exists, it answers AccessDeniedException.
- account:ListRegions: the regions listed in /tmp/breakglass-moto-<port>-regions.json (a JSON
  list), or us-east-1, us-west-2 and eu-west-1, all ENABLED_BY_DEFAULT.
- Faults for `audit --organization`, from /tmp/breakglass-moto-<port>-orgfaults.json
  (`{"unreachable": [ids], "throttle": {id: n}}`): AssumeRoot on an unreachable account is denied;
  on a throttled one it answers `Throttling` n times, then works.
- iam:ListOrganizationsFeatures: "OrganizationNotFoundException" unless a test wrote the enabled
  features to /tmp/breakglass-moto-<port>-orgfeatures.json (a JSON list).
- CloudFormation AWS::S3::Bucket: ObjectLockEnabled, ObjectLockConfiguration and
  VersioningConfiguration are applied (moto's CloudFormation ignores them), so
  docs/archive-bucket.yaml deploys a locked bucket. AWS::S3::BucketPolicy stays unsupported
  (moto warns and skips it): the policy is checked by the tests that read the template.
Everything else is moto as shipped. Usage: python launcher.py -H 127.0.0.1 -p 0
"""
import datetime
import json
import random
import string
import sys

from moto.iam.models import iam_backends
from moto.iam.responses import IamResponse
from moto.server import main
from moto.sts.responses import TokenResponse

ROOT_USER = "<root_account>"

ROOT_TASK_POLICIES = {
    "arn:aws:iam::aws:policy/root-task/IAMAuditRootUserCredentials",
    "arn:aws:iam::aws:policy/root-task/IAMCreateRootUserPassword",
    "arn:aws:iam::aws:policy/root-task/IAMDeleteRootUserCredentials",
    "arn:aws:iam::aws:policy/root-task/S3UnlockBucketPolicy",
    "arn:aws:iam::aws:policy/root-task/SQSUnlockQueuePolicy",
}


def _rand(n, alphabet=string.ascii_uppercase + string.digits):
    return "".join(random.choice(alphabet) for _ in range(n))


_THROTTLED = {}


def _org_faults(self):
    path = f"/tmp/breakglass-moto-{_port(self)}-orgfaults.json"
    try:
        return json.load(open(path))
    except (OSError, ValueError):
        return {}


def assume_root(self):
    target = self._get_param("TargetPrincipal") or ""
    faults = _org_faults(self)
    if target in faults.get("unreachable", []):
        return self._error("AccessDenied", f"emulated: {target} does not allow centralized root access")
    throttle = int(faults.get("throttle", {}).get(target, 0))
    if _THROTTLED.get(target, 0) < throttle:
        _THROTTLED[target] = _THROTTLED.get(target, 0) + 1
        return self._error("Throttling", "Rate exceeded (emulated)")
    policy = self._get_param("TaskPolicyArn.arn") or ""
    duration = int(self._get_param("DurationSeconds") or 900)
    if policy not in ROOT_TASK_POLICIES:
        return self._error("ValidationError", f"TaskPolicyArn {policy} is not a root task policy")
    if not (len(target) == 12 and target.isdigit()):
        return self._error("ValidationError", f"TargetPrincipal {target} is not an account id")
    if duration > 900:
        return self._error("ValidationError", "DurationSeconds must be at most 900")
    expiration = (datetime.datetime.utcnow() + datetime.timedelta(seconds=duration)).strftime("%Y-%m-%dT%H:%M:%SZ")
    backend = iam_backends[target]["aws"]
    if ROOT_USER not in backend.users:
        backend.create_user(region_name="us-east-1", user_name=ROOT_USER)
    # One session at a time: earlier emulated session keys go (AWS allows two keys per user).
    for k in list(backend.list_access_keys(ROOT_USER)):
        if k.access_key_id.startswith("ASIA"):
            backend.delete_access_key(k.access_key_id, ROOT_USER)
    key = backend.create_access_key(ROOT_USER, prefix="ASIA")
    key_id, secret = key.access_key_id, key.secret_access_key
    token = "FQoGZXIvYXdzE" + _rand(60, string.ascii_letters + string.digits)
    return f"""<AssumeRootResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRootResult>
    <Credentials>
      <AccessKeyId>{key_id}</AccessKeyId>
      <SecretAccessKey>{secret}</SecretAccessKey>
      <SessionToken>{token}</SessionToken>
      <Expiration>{expiration}</Expiration>
    </Credentials>
    <SourceIdentity></SourceIdentity>
  </AssumeRootResult>
  <ResponseMetadata><RequestId>{_rand(8).lower()}-emulated-assume-root</RequestId></ResponseMetadata>
</AssumeRootResponse>"""


def _error(self, code, message):
    body = f"""<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>emulated</RequestId></ErrorResponse>"""
    # moto takes the status from the headers ("status"), not from the first element.
    return 400, {"status": 400, "Content-Type": "text/xml"}, body


def _as_calling_user(method):
    def wrapper(self):
        if not self._get_param("UserName"):
            try:
                user = self.backend.get_access_key_last_used(self.get_access_key())["user_name"]
                self.querystring["UserName"] = [user]
                if getattr(self, "params", None) is not None:
                    self.params["UserName"] = user
            except Exception:
                pass
        return method(self)

    return wrapper


for _name in [
    "get_login_profile",
    "create_login_profile",
    "delete_login_profile",
    "list_mfa_devices",
    "deactivate_mfa_device",
    "list_signing_certificates",
    "delete_signing_certificate",
]:
    setattr(IamResponse, _name, _as_calling_user(getattr(IamResponse, _name)))

TokenResponse.assume_root = assume_root
TokenResponse._error = _error


def _port(self):
    return (self.headers.get("Host") or "").rsplit(":", 1)[-1]


def _request_region(self):
    # The region is in the signature's credential scope: Credential=AKID/DATE/REGION/SERVICE/...
    auth = self.headers.get("Authorization") or ""
    try:
        return auth.split("Credential=", 1)[1].split("/")[2]
    except IndexError:
        return "us-east-1"


def lookup_events(self):
    import json
    import os

    if os.path.exists(f"/tmp/breakglass-moto-{_port(self)}-cloudtrail-denied"):
        from moto.core.exceptions import JsonRESTError

        raise JsonRESTError("AccessDeniedException", "User is not authorized to perform: cloudtrail:LookupEvents (emulated)")
    path = f"/tmp/breakglass-moto-{_port(self)}-cloudtrail.json"
    records = json.load(open(path)) if os.path.exists(path) else []
    region = _request_region(self)
    records = [r for r in records if r.get("awsRegion", "us-east-1") == region]
    params = json.loads(self.body or "{}")
    start = params.get("StartTime")
    end = params.get("EndTime")
    user = None
    for a in params.get("LookupAttributes") or []:
        if a.get("AttributeKey") == "Username":
            user = a.get("AttributeValue")
    events = []
    for r in records:
        t = datetime.datetime.strptime(r["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()
        if start is not None and t < float(start):
            continue
        if end is not None and t > float(end):
            continue
        name = "root" if r.get("userIdentity", {}).get("type") == "Root" else r.get("userIdentity", {}).get("userName", "")
        if user is not None and name != user:
            continue
        events.append({"EventId": r.get("eventID", _rand(8)), "EventName": r["eventName"], "EventTime": t, "Username": name, "CloudTrailEvent": json.dumps(r)})
    return json.dumps({"Events": events})


def list_organizations_features(self):
    import json
    import os

    path = f"/tmp/breakglass-moto-{_port(self)}-orgfeatures.json"
    if not os.path.exists(path):
        from moto.iam.exceptions import IAMException

        raise IAMException("OrganizationNotFoundException", "not in an organization (emulated)")
    members = "".join(f"<member>{f}</member>" for f in json.load(open(path)))
    return f"""<ListOrganizationsFeaturesResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><ListOrganizationsFeaturesResult><OrganizationId>o-emulated</OrganizationId><EnabledFeatures>{members}</EnabledFeatures></ListOrganizationsFeaturesResult><ResponseMetadata><RequestId>emulated</RequestId></ResponseMetadata></ListOrganizationsFeaturesResponse>"""


def list_regions(self):
    import json
    import os

    path = f"/tmp/breakglass-moto-{_port(self)}-regions.json"
    names = json.load(open(path)) if os.path.exists(path) else ["us-east-1", "us-west-2", "eu-west-1"]
    return json.dumps({"Regions": [{"RegionName": n, "RegionOptStatus": "ENABLED_BY_DEFAULT"} for n in names]})


from moto.account import urls as account_urls  # noqa: E402
from moto.account.responses import AccountResponse  # noqa: E402
from moto.cloudtrail.responses import CloudTrailResponse  # noqa: E402
from moto.s3.models import FakeBucket, s3_backends  # noqa: E402

_create_bucket_from_cfn = FakeBucket.create_from_cloudformation_json.__func__


def create_bucket_from_cfn(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    bucket = _create_bucket_from_cfn(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
    props = cloudformation_json.get("Properties", {})
    backend = s3_backends[account_id]["aws"]
    if props.get("VersioningConfiguration", {}).get("Status") == "Enabled" or props.get("ObjectLockEnabled"):
        bucket.versioning_status = "Enabled"
    lock = props.get("ObjectLockConfiguration", {})
    if str(props.get("ObjectLockEnabled", "")).lower() == "true" or lock.get("ObjectLockEnabled") == "Enabled":
        retention = lock.get("Rule", {}).get("DefaultRetention", {})
        backend.put_object_lock_configuration(
            bucket.name,
            True,
            retention.get("Mode"),
            int(retention["Days"]) if "Days" in retention else None,
            int(retention["Years"]) if "Years" in retention else None,
        )
    return bucket


FakeBucket.create_from_cloudformation_json = classmethod(create_bucket_from_cfn)

CloudTrailResponse.lookup_events = lookup_events
AccountResponse.list_regions = list_regions
account_urls.url_paths["{0}/listRegions$"] = AccountResponse.dispatch
IamResponse.list_organizations_features = list_organizations_features

if __name__ == "__main__":
    main(sys.argv[1:])
