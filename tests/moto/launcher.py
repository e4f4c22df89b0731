"""Starts moto's server for breakglass's tests, with the behaviour moto lacks registered first.

Emulated here (moto 5.2.5 does not implement them), so the real AWS SDK calls still run end to end:
- sts:AssumeRoot: returns short-lived credentials for the target member account, if the task
  policy is one of AWS's five root-task policies and DurationSeconds <= 900.
Everything else is moto as shipped. Usage: python launcher.py -H 127.0.0.1 -p 0
"""
import datetime
import random
import string
import sys

from moto.server import main
from moto.sts.responses import TokenResponse

ROOT_TASK_POLICIES = {
    "arn:aws:iam::aws:policy/root-task/IAMAuditRootUserCredentials",
    "arn:aws:iam::aws:policy/root-task/IAMCreateRootUserPassword",
    "arn:aws:iam::aws:policy/root-task/IAMDeleteRootUserCredentials",
    "arn:aws:iam::aws:policy/root-task/S3UnlockBucketPolicy",
    "arn:aws:iam::aws:policy/root-task/SQSUnlockQueuePolicy",
}


def _rand(n, alphabet=string.ascii_uppercase + string.digits):
    return "".join(random.choice(alphabet) for _ in range(n))


def assume_root(self):
    target = self._get_param("TargetPrincipal") or ""
    policy = self._get_param("TaskPolicyArn.arn") or ""
    duration = int(self._get_param("DurationSeconds") or 900)
    if policy not in ROOT_TASK_POLICIES:
        return self._error("ValidationError", f"TaskPolicyArn {policy} is not a root task policy")
    if not (len(target) == 12 and target.isdigit()):
        return self._error("ValidationError", f"TargetPrincipal {target} is not an account id")
    if duration > 900:
        return self._error("ValidationError", "DurationSeconds must be at most 900")
    expiration = (datetime.datetime.utcnow() + datetime.timedelta(seconds=duration)).strftime("%Y-%m-%dT%H:%M:%SZ")
    key_id = "ASIA" + _rand(16)
    secret = _rand(40, string.ascii_letters + string.digits)
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
    return 400, {}, body


TokenResponse.assume_root = assume_root
TokenResponse._error = _error

if __name__ == "__main__":
    main(sys.argv[1:])
