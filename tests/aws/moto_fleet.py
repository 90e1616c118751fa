#!/usr/bin/env python3
"""Seeded moto AWS "fleet" for kq's AWS provider tests.

    python3 tests/aws/moto_fleet.py --dir DIR [--seed N] [--no-auth]

Starts moto 5 in server mode inside this process on 127.0.0.1 with an
ephemeral port, seeds a small but realistic estate (EC2, ELBv2, EKS, ECR,
IAM, S3, RDS) in us-east-1 and eu-west-1 of account 123456789012 plus a VPC
and an instance in a second account (111111111111), writes `DIR/config` and
`DIR/credentials` for the AWS SDKs, prints ONE line of JSON describing what
was created (ids, ARNs, DNS names, which groups are open to the world...),
then serves until stdin reaches EOF and exits 0.

Profiles written (every profile carries `endpoint_url`, so an SDK that reads
the shared config talks to moto without any code change):

  default, fleet  IAM user fleet-admin in 123456789012, region us-east-1
  second          IAM user fleet-admin in 111111111111, region us-east-1
  denied          IAM user fleet-no-ecr in 123456789012: every ecr:* call is
                  answered 403 AccessDeniedException, everything else works
  noregion        fleet-admin's keys in 123456789012, no region

The `denied` profile needs moto's IAM enforcement, which is global: once it
is on (after seeding), moto rejects any access key it did not issue
(AuthFailure from EC2, InvalidClientTokenId from the other XML services,
UnrecognizedClientException from ECR/EKS, InvalidAccessKeyId from S3), so
clients must use the profiles above, not made-up keys. Making enforcement
work needs two small fixes to moto, applied in-process below (see
_signed_over_wire_body and _Middleware). `--no-auth` leaves enforcement off: then
any key works (and maps to 123456789012 unless moto issued it) and the
`denied` profile is not denied; the JSON says which mode is in effect.

Only moto[server] and boto3 are needed. Ids are deterministic for a given
moto version because moto's random source is seeded (`/moto-api/seed`)
before anything is created; timestamps are not.
"""

import argparse
import io
import json
import logging
import os
import re
import sys
import threading
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

# moto reads some settings from the environment at import time, and boto3
# would happily pick up a developer's real profile or endpoint override.
# MOTO_ACCOUNT_ID in particular overrides the per-access-key account mapping
# that the `second` profile relies on, so scrub all of it before importing.
for _name in list(os.environ):
    if _name.startswith("AWS_") or _name in (
        "MOTO_ACCOUNT_ID",
        "INITIAL_NO_AUTH_ACTION_COUNT",
        "MOTO_IAM_LOAD_MANAGED_POLICIES",
    ):
        del os.environ[_name]
# Point the SDK's file lookups at nothing, so no ~/.aws leaks into seeding.
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull

import boto3  # noqa: E402
import moto  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402
from moto.iam import access_control  # noqa: E402
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

ACCOUNT = "123456789012"  # moto's default account
SECOND_ACCOUNT = "111111111111"
TRUSTED_ACCOUNT = "999999999999"  # only ever named in a trust policy
REGIONS = ("us-east-1", "eu-west-1")
HOME_REGION = "us-east-1"
# One of moto's built-in default AMIs: present in every region without
# MOTO_EC2_LOAD_DEFAULT_AMIS tweaks, so run_instances never warns.
AMI = "ami-1e749f67"

# Credentials for the seeding phase only. While enforcement is off, moto
# maps any key it did not issue to ACCOUNT; after enforcement these stop
# working, which is fine because seeding is over by then.
SEED_KEY = ("AKIAFAKESEEDER000000", "fake-secret-for-seeding-only")

# Fail fast: a retry would only hide a moto error and slow start-up down.
# Path-style S3 because virtual-hosted style would need DNS for
# BUCKET.127.0.0.1.
BOTO_CONFIG = Config(retries={"max_attempts": 1, "mode": "standard"}, s3={"addressing_style": "path"})

ADMIN_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}
# Explicit Deny wins over the Allow, which is how moto (and AWS) evaluate it.
NO_ECR_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Action": "ecr:*", "Resource": "*"},
    ],
}


def trust(principal):
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}
            ],
        }
    )


def tags(d):
    """EC2/ELBv2/RDS/IAM-style tag list, sorted so request order is stable."""
    return [{"Key": k, "Value": v} for k, v in sorted(d.items())]


def tag_dict(tag_list):
    return {t["Key"]: t["Value"] for t in tag_list or []}


class Account:
    """boto3 clients for one set of credentials, keyed by (service, region)."""

    # One session for everyone: it caches the parsed service models, which
    # would otherwise be re-read from disk for each of the ~35 clients and
    # cost a couple of seconds of start-up.
    SESSION = None

    def __init__(self, endpoint, key_id, secret, token=None):
        if Account.SESSION is None:
            Account.SESSION = boto3.Session()
        self.creds = {"aws_access_key_id": key_id, "aws_secret_access_key": secret, "aws_session_token": token}
        self.endpoint = endpoint
        self._clients = {}

    def __call__(self, service, region=HOME_REGION):
        key = (service, region)
        if key not in self._clients:
            self._clients[key] = Account.SESSION.client(
                service, region_name=region, endpoint_url=self.endpoint, config=BOTO_CONFIG, **self.creds
            )
        return self._clients[key]


def moto_api(endpoint, path, body=b""):
    """POST to moto's own control API (not an AWS API, never authenticated)."""
    # text/plain: with urllib's default form content type werkzeug would
    # consume the body as form fields and moto would see an empty body.
    req = urllib.request.Request(endpoint + path, data=body, method="POST", headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(req) as resp:
        return resp.read()


# --------------------------------------------------------------------------
# The server, and two fixes that make moto's IAM enforcement usable
# --------------------------------------------------------------------------

# The body of the request being handled by this thread, exactly as received.
_wire = threading.local()


def _signed_over_wire_body(original):
    """Make moto verify SigV4 against the bytes the client actually sent.

    moto (5.x, moto/iam/access_control.py) rebuilds the request it checks
    the signature of from `raw_body or data`. Two cases go wrong:
      * no body at all (every EKS read is a GET): `data` then falls back to
        the query string or even the request *headers*, form-encoded, so the
        payload hash never matches and every EKS call fails with
        SignatureDoesNotMatch even for an administrator;
      * form-encoded query-protocol POSTs (EC2, IAM, STS, ELBv2, RDS):
        werkzeug has already parsed the form, so moto re-encodes the fields
        with Python's urlencode, which only matches when the client encodes
        exactly like botocore does.
    S3 is unaffected (it signs the x-amz-content-sha256 header instead).
    """

    def create(self):
        request = original(self)
        body = getattr(_wire, "body", None)
        if body is not None:
            request.data = body
        return request

    return create


class _Middleware:
    """WSGI wrapper around moto: keeps the wire body, and speaks JSON errors.

    moto answers auth failures (AccessDenied, InvalidClientTokenId,
    SignatureDoesNotMatch) with an XML <ErrorResponse> whatever the protocol.
    For the JSON protocols (ECR's awsJson1_1, EKS's restJson1) SDKs then
    cannot read an error code at all: boto3 reports the code as "403", the
    Rust SDK an unhandled error. Real AWS answers those services in JSON, with
    the `...Exception` names below, so that is what we send.
    """

    JSON_NAMES = {
        "AccessDenied": "AccessDeniedException",
        "InvalidClientTokenId": "UnrecognizedClientException",
        "SignatureDoesNotMatch": "InvalidSignatureException",
    }
    # restJson1 services we seed: they have no X-Amz-Target to recognise them by.
    REST_JSON_SIGNING_NAMES = {"eks"}

    def __init__(self, app):
        self.app = app
        # Every AWS request served, so tests can assert what a client asked
        # for (which regions, which actions, which filters): GET
        # /_fleet/requests reads it, DELETE empties it.
        self.journal = []

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == "/_fleet/requests":
            if environ.get("REQUEST_METHOD") == "DELETE":
                self.journal.clear()
            payload = json.dumps(list(self.journal)).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
            return [payload]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length:
            body = environ["wsgi.input"].read(length)
        elif environ.get("wsgi.input_terminated"):  # chunked: werkzeug de-chunks
            body = environ["wsgi.input"].read()
        else:
            body = b""
        environ["wsgi.input"] = io.BytesIO(body)
        self.journal.append(self._describe(environ, body))
        _wire.body = body
        try:
            if self._is_s3_versioning_read(environ):
                return self._fix_versioning_root(environ, start_response)
            if not self._is_json_protocol(environ):
                return self.app(environ, start_response)
            status, headers, payload = self._call(environ)
            if int(status.split()[0]) >= 400 and payload.lstrip().startswith(b"<"):
                payload, headers = self._as_json(payload, headers)
            start_response(status, headers)
            return [payload]
        finally:
            _wire.body = None

    @staticmethod
    def _describe(environ, body):
        """One journal entry: service and region (from the signature's
        credential scope), the action, and the request's parameters."""
        scope = re.search(r"Credential=[^/]+/[^/]+/([^/]+)/([^/]+)/", environ.get("HTTP_AUTHORIZATION", ""))
        params = dict(urllib.parse.parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        content_type = environ.get("CONTENT_TYPE", "")
        if body and "x-www-form-urlencoded" in content_type:
            params.update(urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if body and target:
            try:
                params.update({k: json.dumps(v) for k, v in json.loads(body).items()})
            except ValueError:
                pass
        action = params.get("Action") or target.rsplit(".", 1)[-1] or f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}"
        return {
            "region": scope.group(1) if scope else None,
            "service": scope.group(2) if scope else None,
            "action": action,
            "params": params,
        }

    @staticmethod
    def _is_s3_versioning_read(environ):
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        return environ.get("REQUEST_METHOD") == "GET" and "versioning" in query and "s3" in environ.get("HTTP_AUTHORIZATION", "")

    def _fix_versioning_root(self, environ, start_response):
        """moto 5.2.1 answers GetBucketVersioning with root element
        <GetBucketVersioningResponse>; S3 (and the Rust SDK's strict parser)
        use <VersioningConfiguration>. boto3 does not check the root."""
        status, headers, payload = self._call(environ)
        payload = payload.replace(b"GetBucketVersioningResponse", b"VersioningConfiguration")
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(payload))))
        start_response(status, headers)
        return [payload]

    def _call(self, environ):
        """Runs moto on the request; (status, headers, whole body), so a
        response can be rewritten before it is sent."""
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda data: None  # moto never uses write()

        chunks = self.app(environ, capture)
        try:
            payload = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        return captured["status"], captured["headers"], payload

    def _is_json_protocol(self, environ):
        if environ.get("HTTP_X_AMZ_TARGET"):
            return True
        m = re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/", environ.get("HTTP_AUTHORIZATION", ""))
        return bool(m) and m.group(1) in self.REST_JSON_SIGNING_NAMES

    def _as_json(self, payload, headers):
        try:
            root = ET.fromstring(payload)
        except ET.ParseError:
            return payload, headers
        code = root.findtext(".//Code")
        if not code:  # not an AWS error document (e.g. werkzeug's 500 page)
            return payload, headers
        code = self.JSON_NAMES.get(code, code)
        body = json.dumps({"__type": code, "message": root.findtext(".//Message") or ""}).encode()
        headers = [(k, v) for k, v in headers if k.lower() not in ("content-type", "content-length")]
        headers += [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(body))), ("x-amzn-ErrorType", code)]
        return body, headers


def start_server():
    """moto's server on 127.0.0.1, port chosen by the OS, in a daemon thread.

    This is what moto.server.ThreadedMotoServer does, minus the fixed port
    and plus the middleware. werkzeug binds in make_server(), so the real
    port is known before the thread starts and no readiness wait is needed.
    """
    access_control.IAMRequestBase._create_aws_request = _signed_over_wire_body(
        access_control.IAMRequestBase._create_aws_request
    )
    app = _Middleware(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    # A short poll interval only makes shutdown() return sooner.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    return server, thread


# --------------------------------------------------------------------------
# EC2: VPCs, subnets, security groups, instances
# --------------------------------------------------------------------------

# Per region: the VPC CIDR, then (suffix, cidr, az suffix, public?) subnets.
# Two AZs per region because ALBs and EKS want subnets in two zones on AWS.
NETWORKS = {
    "us-east-1": ("10.0.0.0/16", [("public-a", "10.0.1.0/24", "a", True), ("private-b", "10.0.2.0/24", "b", False)]),
    "eu-west-1": ("10.1.0.0/16", [("public-a", "10.1.1.0/24", "a", True), ("private-b", "10.1.2.0/24", "b", False)]),
}

# name -> (description, tags, ingress builder). The builder gets the ids of
# groups already created in the same VPC so `internal` can reference
# `web-open` by group id instead of by CIDR.
SECURITY_GROUPS = [
    (
        "ssh-open",
        "SSH from anywhere",
        {"purpose": "bastion", "risk": "high"},
        lambda ids: [
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "ssh anywhere"}]}
        ],
    ),
    (
        "web-open",
        "HTTPS v4 and HTTP v6 from anywhere",
        {"purpose": "web", "risk": "medium"},
        lambda ids: [
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
            {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
        ],
    ),
    (
        "internal",
        "All TCP from web-open, DNS from the corporate range",
        {"purpose": "backend", "risk": "low"},
        lambda ids: [
            {"IpProtocol": "tcp", "FromPort": 0, "ToPort": 65535, "UserIdGroupPairs": [{"GroupId": ids["web-open"]}]},
            {"IpProtocol": "udp", "FromPort": 53, "ToPort": 53, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
        ],
    ),
    (
        "lb-private",
        "HTTPS from the corporate range only",
        {"purpose": "internal-lb", "risk": "low"},
        lambda ids: [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}],
    ),
]

# (region, Name, subnet suffix, security group names, IMDSv2 required, extra tags)
INSTANCES = [
    ("us-east-1", "web-1", "public-a", ["web-open", "ssh-open"], False, {"env": "prod", "team": "web", "role": "frontend"}),
    ("us-east-1", "web-2", "public-a", ["web-open"], False, {"env": "prod", "team": "web", "role": "frontend"}),
    ("us-east-1", "api-1", "private-b", ["internal"], True, {"env": "prod", "team": "api", "role": "backend"}),
    ("eu-west-1", "bastion-1", "public-a", ["ssh-open"], False, {"env": "staging", "team": "ops", "role": "bastion"}),
    ("eu-west-1", "worker-1", "private-b", ["internal"], False, {"env": "staging", "team": "data", "role": "worker"}),
]


def seed_networks(aws, region, vpc_cidr, subnets, prefix="fleet"):
    ec2 = aws("ec2", region)
    vpc_id = ec2.create_vpc(
        CidrBlock=vpc_cidr,
        TagSpecifications=[{"ResourceType": "vpc", "Tags": tags({"Name": f"{prefix}-{region}", "env": "prod"})}],
    )["Vpc"]["VpcId"]
    subnet_ids = {}
    for suffix, cidr, az, public in subnets:
        sid = ec2.create_subnet(
            VpcId=vpc_id,
            CidrBlock=cidr,
            AvailabilityZone=region + az,
            TagSpecifications=[
                {"ResourceType": "subnet", "Tags": tags({"Name": f"{prefix}-{suffix}", "tier": "public" if public else "private"})}
            ],
        )["Subnet"]["SubnetId"]
        if public:
            ec2.modify_subnet_attribute(SubnetId=sid, MapPublicIpOnLaunch={"Value": True})
        subnet_ids[suffix] = sid
    return vpc_id, subnet_ids


def seed_security_groups(aws, region, vpc_id, which=None):
    ec2 = aws("ec2", region)
    ids = {}
    for name, desc, tg, ingress in SECURITY_GROUPS:
        if which is not None and name not in which:
            continue
        gid = ec2.create_security_group(
            GroupName=name,
            Description=desc,
            VpcId=vpc_id,
            TagSpecifications=[{"ResourceType": "security-group", "Tags": tags({"Name": name, **tg})}],
        )["GroupId"]
        ids[name] = gid
        ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=ingress(ids))
    return ids


def run_instance(aws, region, name, subnet_id, group_ids, imdsv2, extra_tags):
    kwargs = {}
    if imdsv2:
        kwargs["MetadataOptions"] = {"HttpTokens": "required", "HttpEndpoint": "enabled"}
    return aws("ec2", region).run_instances(
        ImageId=AMI,
        InstanceType="t3.micro",
        MinCount=1,
        MaxCount=1,
        SubnetId=subnet_id,
        SecurityGroupIds=group_ids,
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags({"Name": name, **extra_tags})}],
        **kwargs,
    )["Instances"][0]["InstanceId"]


# --------------------------------------------------------------------------
# Everything else in the home account
# --------------------------------------------------------------------------


def seed_iam(aws):
    iam = aws("iam")
    # Customer-managed rather than an AWS-managed policy: moto only knows
    # the AWS-managed ones with MOTO_IAM_LOAD_MANAGED_POLICIES=true, and a
    # test is easier to reason about when the policy is ours.
    policy_arn = iam.create_policy(
        PolicyName="fleet-read-logs",
        Description="Read the secure log bucket",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["s3:GetObject", "s3:ListBucket"],
                        "Resource": ["arn:aws:s3:::fleet-secure-logs", "arn:aws:s3:::fleet-secure-logs/*"],
                    }
                ],
            }
        ),
        Tags=tags({"team": "platform"}),
    )["Policy"]["Arn"]

    iam.create_role(
        RoleName="fleet-node",
        Path="/fleet/",
        Description="EC2 and EKS worker nodes",
        AssumeRolePolicyDocument=trust({"Service": "ec2.amazonaws.com"}),
        Tags=tags({"team": "platform", "env": "prod"}),
    )
    iam.attach_role_policy(RoleName="fleet-node", PolicyArn=policy_arn)
    iam.put_role_policy(
        RoleName="fleet-node",
        PolicyName="fleet-node-ecr-pull",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": ["ecr:GetAuthorizationToken", "ecr:BatchGetImage"], "Resource": "*"}],
            }
        ),
    )
    iam.create_role(
        RoleName="fleet-cross-account",
        Description="Assumable from the audit account",
        AssumeRolePolicyDocument=trust({"AWS": f"arn:aws:iam::{TRUSTED_ACCOUNT}:root"}),
        Tags=tags({"team": "security", "external": "true"}),
    )
    # The EKS clusters need a role ARN; give them a correct-looking one.
    iam.create_role(
        RoleName="fleet-eks-cluster",
        Description="EKS control plane",
        AssumeRolePolicyDocument=trust({"Service": "eks.amazonaws.com"}),
    )
    return policy_arn


def seed_elbv2(aws, net, groups, cert_arn):
    out = []
    specs = [
        # region, name, scheme, security group, listeners, tags
        ("us-east-1", "fleet-public-alb", "internet-facing", "web-open", [("HTTP", 80), ("HTTPS", 443)],
         {"env": "prod", "exposure": "public"}),
        ("eu-west-1", "fleet-internal-alb", "internal", "lb-private", [("HTTP", 80), ("HTTP", 8080)],
         {"env": "staging", "exposure": "internal"}),
    ]
    for region, name, scheme, group, listeners, tg in specs:
        elb = aws("elbv2", region)
        vpc_id, subnets = net[region]
        lb = elb.create_load_balancer(
            Name=name,
            Subnets=[subnets["public-a"], subnets["private-b"]],
            SecurityGroups=[groups[region][group]],
            Scheme=scheme,
            Type="application",
            IpAddressType="ipv4",
            Tags=tags(tg),
        )["LoadBalancers"][0]
        target_group = elb.create_target_group(
            Name=f"{name}-tg", Protocol="HTTP", Port=8080, VpcId=vpc_id, TargetType="instance"
        )["TargetGroups"][0]["TargetGroupArn"]
        listener_out = []
        for protocol, port in listeners:
            kwargs = {}
            if protocol == "HTTPS":
                kwargs["Certificates"] = [{"CertificateArn": cert_arn}]
                kwargs["SslPolicy"] = "ELBSecurityPolicy-TLS13-1-2-2021-06"
            listener = elb.create_listener(
                LoadBalancerArn=lb["LoadBalancerArn"],
                Protocol=protocol,
                Port=port,
                DefaultActions=[{"Type": "forward", "TargetGroupArn": target_group}],
                **kwargs,
            )["Listeners"][0]
            listener_out.append({"arn": listener["ListenerArn"], "protocol": protocol, "port": port})
        out.append(
            {
                "name": name,
                "arn": lb["LoadBalancerArn"],
                "dns_name": lb["DNSName"],
                "scheme": scheme,
                "type": "application",
                "region": region,
                "account_id": ACCOUNT,
                "vpc_id": vpc_id,
                "security_groups": [groups[region][group]],
                "security_group_names": [group],
                "target_group_arn": target_group,
                "listeners": listener_out,
                "tags": tg,
            }
        )
    return out


def seed_eks(aws, net, node_role, cluster_role):
    out = []
    specs = [
        (
            "us-east-1",
            "fleet-public",
            {"endpointPublicAccess": True, "endpointPrivateAccess": False, "publicAccessCidrs": ["0.0.0.0/0"]},
            {
                "clusterLogging": [
                    {"types": ["api", "audit"], "enabled": True},
                    {"types": ["authenticator", "controllerManager", "scheduler"], "enabled": False},
                ]
            },
            {"env": "prod"},
        ),
        (
            "eu-west-1",
            "fleet-private",
            {"endpointPublicAccess": False, "endpointPrivateAccess": True},
            None,
            {"env": "staging"},
        ),
    ]
    for region, name, access, logging_cfg, tg in specs:
        eks = aws("eks", region)
        _, subnets = net[region]
        subnet_ids = [subnets["public-a"], subnets["private-b"]]
        kwargs = {"logging": logging_cfg} if logging_cfg else {}
        cluster = eks.create_cluster(
            name=name,
            version="1.29",
            roleArn=cluster_role,
            resourcesVpcConfig={"subnetIds": subnet_ids, **access},
            tags=tg,
            **kwargs,
        )["cluster"]
        ng_name = f"{name}-ng"
        ng = eks.create_nodegroup(
            clusterName=name,
            nodegroupName=ng_name,
            version="1.29",  # moto's default would be 1.19, whatever the cluster runs
            nodeRole=node_role,
            subnets=[subnets["private-b"]],
            scalingConfig={"minSize": 1, "maxSize": 3, "desiredSize": 2},
            instanceTypes=["t3.large"],
            tags=tg,
        )["nodegroup"]
        # Reported as moto stored it. moto echoes resourcesVpcConfig verbatim:
        # no vpcId or clusterSecurityGroupId, and no publicAccessCidrs unless
        # sent (AWS would default it to ["0.0.0.0/0"] even on a private
        # cluster). Without `logging` moto lists all five types as disabled.
        vpc_config = cluster["resourcesVpcConfig"]
        enabled = sorted(t for entry in cluster["logging"]["clusterLogging"] if entry.get("enabled") for t in entry["types"])
        out.append(
            {
                "name": name,
                "arn": cluster["arn"],
                "endpoint": cluster["endpoint"],
                "region": region,
                "account_id": ACCOUNT,
                "version": cluster["version"],
                "endpoint_public_access": vpc_config.get("endpointPublicAccess"),
                "endpoint_private_access": vpc_config.get("endpointPrivateAccess"),
                "public_access_cidrs": vpc_config.get("publicAccessCidrs"),
                "logging_enabled_types": enabled,
                "tags": tg,
                "nodegroups": [
                    {
                        "name": ng_name,
                        "arn": ng["nodegroupArn"],
                        "version": ng["version"],
                        "instance_types": ng["instanceTypes"],
                        "desired_size": ng["scalingConfig"]["desiredSize"],
                        # moto invents {"ec2SshKey": "eksKeypair"} when none is
                        # given; report it so SSH-access checks expect it.
                        "remote_access": ng.get("remoteAccess"),
                    }
                ],
            }
        )
    return out


def seed_ecr(aws):
    out = []
    specs = [
        ("us-east-1", "fleet/api", True, "IMMUTABLE", {"team": "api", "env": "prod"}),
        ("eu-west-1", "fleet/web", False, "MUTABLE", {"team": "web", "env": "staging"}),
    ]
    for region, name, scan, mutability, tg in specs:
        repo = aws("ecr", region).create_repository(
            repositoryName=name,
            imageScanningConfiguration={"scanOnPush": scan},
            imageTagMutability=mutability,
            tags=tags(tg),
        )["repository"]
        out.append(
            {
                "name": name,
                "arn": repo["repositoryArn"],
                "uri": repo["repositoryUri"],
                "region": region,
                "account_id": ACCOUNT,
                "scan_on_push": repo["imageScanningConfiguration"]["scanOnPush"],
                "image_tag_mutability": repo["imageTagMutability"],
                "encryption_type": repo["encryptionConfiguration"]["encryptionType"],
                "tags": tg,
            }
        )
    return out


FULL_BLOCK = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}


def seed_s3(aws):
    # Bucket names are global, in moto as on AWS; the buckets belong to
    # ACCOUNT, so the `second` profile's ListBuckets is empty.
    secure, open_ = "fleet-secure-logs", "fleet-open-assets"
    s3 = aws("s3", "us-east-1")
    s3.create_bucket(Bucket=secure)  # us-east-1 must NOT send a LocationConstraint
    s3.put_public_access_block(
        Bucket=secure,
        PublicAccessBlockConfiguration=FULL_BLOCK,
    )
    s3.put_bucket_encryption(
        Bucket=secure,
        ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
    )
    s3.put_bucket_versioning(Bucket=secure, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_tagging(Bucket=secure, Tagging={"TagSet": tags({"team": "security", "data": "logs"})})

    aws("s3", "eu-west-1").create_bucket(Bucket=open_, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    return [
        {
            "name": secure,
            "region": "us-east-1",
            "account_id": ACCOUNT,
            "public_access_block": FULL_BLOCK,
            "encryption": "AES256",
            "versioning": "Enabled",
            "tags": {"team": "security", "data": "logs"},
        },
        {
            "name": open_,
            "region": "eu-west-1",
            "account_id": ACCOUNT,
            "public_access_block": None,
            "encryption": None,
            "versioning": None,
            "tags": {},
        },
    ]


def seed_rds(aws, net, groups):
    out = []
    specs = [
        # region, id, public?, encrypted?, engine, security group, tags
        ("us-east-1", "fleet-public-db", True, False, "postgres", "web-open", {"env": "prod", "team": "api"}),
        ("eu-west-1", "fleet-private-db", False, True, "mysql", "internal", {"env": "staging", "team": "data"}),
    ]
    for region, ident, public, encrypted, engine, group, tg in specs:
        rds = aws("rds", region)
        _, subnets = net[region]
        # Without a subnet group moto files the instance under the default
        # VPC and its default group, which no test would expect.
        rds.create_db_subnet_group(
            DBSubnetGroupName=f"{ident}-subnets",
            DBSubnetGroupDescription=f"subnets of {ident}",
            SubnetIds=[subnets["public-a"], subnets["private-b"]],
        )
        kwargs = {}
        if encrypted:
            # moto would otherwise report KmsKeyId "default_kms_key_id",
            # which is not an ARN and would trip any ARN parsing.
            kwargs["KmsKeyId"] = aws("kms", region).create_key(Description=f"{ident} storage")["KeyMetadata"]["Arn"]
        db = rds.create_db_instance(
            DBInstanceIdentifier=ident,
            DBInstanceClass="db.t3.micro",
            Engine=engine,
            AllocatedStorage=20,
            MasterUsername="fleetadmin",
            MasterUserPassword="not-a-real-password",
            PubliclyAccessible=public,
            StorageEncrypted=encrypted,
            DBSubnetGroupName=f"{ident}-subnets",
            VpcSecurityGroupIds=[groups[region][group]],
            Tags=tags(tg),
            **kwargs,
        )["DBInstance"]
        out.append(
            {
                "identifier": ident,
                "arn": db["DBInstanceArn"],
                "region": region,
                "account_id": ACCOUNT,
                "engine": engine,
                "publicly_accessible": db["PubliclyAccessible"],
                "storage_encrypted": db["StorageEncrypted"],
                "kms_key_id": db.get("KmsKeyId"),
                "vpc_security_groups": [g["VpcSecurityGroupId"] for g in db.get("VpcSecurityGroups", [])],
                "endpoint": db.get("Endpoint", {}).get("Address"),
                "tags": tg,
            }
        )
    return out


def create_user(aws, name, policy):
    """An IAM user with an inline policy and one access key.

    With enforcement on, moto only accepts keys it issued, and it attributes
    a request to the account whose IAM backend holds the key: that is what
    makes `second` land in the second account.
    """
    iam = aws("iam")
    arn = iam.create_user(UserName=name, Tags=tags({"purpose": "kq-tests"}))["User"]["Arn"]
    iam.put_user_policy(UserName=name, PolicyName=f"{name}-policy", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {"user_arn": arn, "access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]}


# --------------------------------------------------------------------------
# Reading back: report what moto actually stored, not what we asked for, so a
# moto quirk shows up in the JSON rather than as a mystery test failure.
# --------------------------------------------------------------------------


def describe_ec2(aws, account_id, region, names_by_group):
    ec2 = aws("ec2", region)
    vpcs = [
        {
            "vpc_id": v["VpcId"],
            "region": region,
            "account_id": account_id,
            "cidr_block": v["CidrBlock"],
            "is_default": v["IsDefault"],
            "name": tag_dict(v.get("Tags")).get("Name"),
        }
        for v in ec2.describe_vpcs()["Vpcs"]
    ]
    subnets = [
        {
            "subnet_id": s["SubnetId"],
            "vpc_id": s["VpcId"],
            "region": region,
            "account_id": account_id,
            "cidr_block": s["CidrBlock"],
            "availability_zone": s["AvailabilityZone"],
            "map_public_ip_on_launch": s["MapPublicIpOnLaunch"],
            "name": tag_dict(s.get("Tags")).get("Name"),
        }
        for s in ec2.describe_subnets()["Subnets"]
        if not s.get("DefaultForAz")
    ]
    groups = []
    for g in ec2.describe_security_groups()["SecurityGroups"]:
        ingress = []
        for p in g["IpPermissions"]:
            base = {"protocol": p["IpProtocol"], "from_port": p.get("FromPort"), "to_port": p.get("ToPort")}
            ingress += [{**base, "cidr": r["CidrIp"]} for r in p.get("IpRanges", [])]
            ingress += [{**base, "cidr": r["CidrIpv6"]} for r in p.get("Ipv6Ranges", [])]
            ingress += [{**base, "group_id": r["GroupId"]} for r in p.get("UserIdGroupPairs", [])]
        groups.append(
            {
                "group_id": g["GroupId"],
                "group_name": g["GroupName"],
                "vpc_id": g.get("VpcId"),
                "region": region,
                "account_id": account_id,
                "tags": tag_dict(g.get("Tags")),
                "ingress": ingress,
                # Port 22 open to any IPv4/IPv6 address, by any rule covering it.
                "ssh_from_anywhere": any(
                    r.get("cidr") in ("0.0.0.0/0", "::/0")
                    and (r["protocol"] == "-1" or (r["protocol"] == "tcp" and r["from_port"] <= 22 <= r["to_port"]))
                    for r in ingress
                ),
            }
        )
    instances = []
    for res in ec2.describe_instances()["Reservations"]:
        for i in res["Instances"]:
            t = tag_dict(i.get("Tags"))
            instances.append(
                {
                    "instance_id": i["InstanceId"],
                    "region": region,
                    "account_id": account_id,
                    "name": t.get("Name"),
                    "availability_zone": i["Placement"]["AvailabilityZone"],
                    "vpc_id": i.get("VpcId"),
                    "subnet_id": i.get("SubnetId"),
                    "private_ip": i.get("PrivateIpAddress"),
                    "public_ip": i.get("PublicIpAddress"),
                    "instance_type": i["InstanceType"],
                    "image_id": i["ImageId"],
                    "state": i["State"]["Name"],
                    "security_groups": [sg["GroupId"] for sg in i.get("SecurityGroups", [])],
                    "security_group_names": [names_by_group.get(sg["GroupId"], sg.get("GroupName")) for sg in i.get("SecurityGroups", [])],
                    "http_tokens": i.get("MetadataOptions", {}).get("HttpTokens"),
                    "tags": t,
                }
            )
    return vpcs, subnets, groups, instances


def describe_roles(aws):
    iam = aws("iam")
    out = []
    for r in iam.list_roles()["Roles"]:
        name = r["RoleName"]
        out.append(
            {
                "name": name,
                "arn": r["Arn"],
                "path": r["Path"],
                "trust_policy": r["AssumeRolePolicyDocument"],
                "attached_policies": [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]],
                "inline_policies": iam.list_role_policies(RoleName=name)["PolicyNames"],
                "tags": tag_dict(iam.list_role_tags(RoleName=name)["Tags"]),
            }
        )
    return out


def write_aws_files(directory, endpoint, creds, auth):
    """Shared config/credentials in the format every AWS SDK reads."""
    profiles = [
        # name, credentials, region
        ("default", creds["admin"], HOME_REGION),
        ("fleet", creds["admin"], HOME_REGION),
        ("second", creds["second"], HOME_REGION),
        ("denied", creds["denied"], HOME_REGION),
        ("noregion", creds["admin"], None),
    ]
    cred_lines, conf_lines = [], []
    for name, c, region in profiles:
        cred_lines += [f"[{name}]", f"aws_access_key_id = {c['access_key_id']}", f"aws_secret_access_key = {c['secret_access_key']}", ""]
        # In the config file every profile but `default` is `[profile NAME]`.
        conf_lines.append("[default]" if name == "default" else f"[profile {name}]")
        if region:
            conf_lines.append(f"region = {region}")
        conf_lines += [f"endpoint_url = {endpoint}", ""]
    os.makedirs(directory, exist_ok=True)
    paths = {"credentials": os.path.join(directory, "credentials"), "config": os.path.join(directory, "config")}
    with open(paths["credentials"], "w") as f:
        f.write("\n".join(cred_lines))
    with open(paths["config"], "w") as f:
        f.write("\n".join(conf_lines))
    return paths, {
        name: {
            "account_id": c["account_id"],
            "region": region,
            "user_arn": c["user_arn"],
            "access_key_id": c["access_key_id"],
            "denied_services": ["ecr"] if (name == "denied" and auth) else [],
        }
        for name, c, region in profiles
    }


def self_check(endpoint, creds, auth):
    """Prove the profiles behave as advertised before telling anyone.

    Touches one call of each protocol moto's signature check handles
    differently (query POST, awsJson POST, restJson GET, S3 REST).
    """
    for which, expected_account in (("admin", ACCOUNT), ("second", SECOND_ACCOUNT), ("denied", ACCOUNT)):
        c = creds[which]
        aws = Account(endpoint, c["access_key_id"], c["secret_access_key"])
        got = aws("sts").get_caller_identity()["Account"]
        if got != expected_account:
            raise SystemExit(f"moto_fleet: profile {which} maps to account {got}, expected {expected_account}")
        aws("ec2", "eu-west-1").describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.1.0.0/16"]}])
        aws("eks").list_clusters(maxResults=10)
        aws("s3").list_buckets()
        aws("iam").list_roles()
        try:
            aws("ecr").describe_repositories()
            ecr_denied = False
        except ClientError as e:
            if e.response["Error"]["Code"] != "AccessDeniedException":
                raise
            ecr_denied = True
        if ecr_denied != (auth and which == "denied"):
            raise SystemExit(f"moto_fleet: ecr for profile {which}: denied={ecr_denied}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", required=True, help="where to write config and credentials")
    ap.add_argument("--seed", type=int, default=1234, help="seed for moto's id generator")
    ap.add_argument("--no-auth", action="store_true", help="do not enforce IAM (the denied profile is then allowed)")
    args = ap.parse_args()
    auth = not args.no_auth

    # Request logs would go to stderr through werkzeug; the test only wants
    # our JSON line on stdout and real errors on stderr.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    server, thread = start_server()
    port = server.server_port
    endpoint = f"http://127.0.0.1:{port}"

    # Every moto id (vpc-, i-, sg-, access keys, ...) comes from one Random;
    # seeding it makes the whole output reproducible for this moto version.
    moto_api(endpoint, f"/moto-api/seed?a={args.seed}")
    # Enforcement off while seeding. The environment was scrubbed already;
    # this also pins it should moto ever change its default.
    moto_api(endpoint, "/moto-api/reset-auth", b"inf")

    aws = Account(endpoint, *SEED_KEY)

    net, groups = {}, {}
    for region, (cidr, subnets) in NETWORKS.items():
        net[region] = seed_networks(aws, region, cidr, subnets)
        groups[region] = seed_security_groups(aws, region, net[region][0])
    for region, name, subnet, sg_names, imdsv2, tg in INSTANCES:
        run_instance(aws, region, name, net[region][1][subnet], [groups[region][g] for g in sg_names], imdsv2, tg)

    policy_arn = seed_iam(aws)
    node_role = f"arn:aws:iam::{ACCOUNT}:role/fleet/fleet-node"
    cluster_role = f"arn:aws:iam::{ACCOUNT}:role/fleet-eks-cluster"
    # ELBv2 never validates the certificate, but an ACM ARN that exists keeps
    # the estate self-consistent (acm ListCertificates shows it).
    cert_arn = aws("acm").request_certificate(DomainName="www.fleet.example", ValidationMethod="DNS")["CertificateArn"]
    load_balancers = seed_elbv2(aws, net, groups, cert_arn)
    eks_clusters = seed_eks(aws, net, node_role, cluster_role)
    ecr_repos = seed_ecr(aws)
    buckets = seed_s3(aws)
    rds = seed_rds(aws, net, groups)

    creds = {
        "admin": {**create_user(aws, "fleet-admin", ADMIN_POLICY), "account_id": ACCOUNT},
        "denied": {**create_user(aws, "fleet-no-ecr", NO_ECR_POLICY), "account_id": ACCOUNT},
    }

    # Second account: moto switches accounts on AssumeRole into a role ARN of
    # another account (the role need not exist); the temporary keys it hands
    # out belong to that account, so everything done with them lands there.
    assumed = aws("sts").assume_role(
        RoleArn=f"arn:aws:iam::{SECOND_ACCOUNT}:role/OrganizationAccountAccessRole", RoleSessionName="fleet-seed"
    )["Credentials"]
    aws2 = Account(endpoint, assumed["AccessKeyId"], assumed["SecretAccessKey"], assumed["SessionToken"])
    net2 = seed_networks(aws2, HOME_REGION, "10.9.0.0/16", [("public-a", "10.9.1.0/24", "a", True)], prefix="second")
    groups2 = seed_security_groups(aws2, HOME_REGION, net2[0], which={"ssh-open"})
    run_instance(aws2, HOME_REGION, "second-1", net2[1]["public-a"], [groups2["ssh-open"]], False, {"env": "prod", "team": "other"})
    creds["second"] = {**create_user(aws2, "fleet-admin", ADMIN_POLICY), "account_id": SECOND_ACCOUNT}

    # Everything is read back before enforcement starts, with the seeding
    # keys, because those stop working afterwards.
    ec2_state = {"vpcs": [], "subnets": [], "security_groups": [], "instances": []}
    for account_id, acct, groups_by_region in ((ACCOUNT, aws, groups), (SECOND_ACCOUNT, aws2, {HOME_REGION: groups2})):
        for region, by_name in groups_by_region.items():
            names = {gid: name for name, gid in by_name.items()}
            for k, v in zip(ec2_state, describe_ec2(acct, account_id, region, names)):
                ec2_state[k] += v
    roles = describe_roles(aws)

    if auth:
        moto_api(endpoint, "/moto-api/reset-auth", b"0")
    self_check(endpoint, creds, auth)

    paths, profiles = write_aws_files(args.dir, endpoint, creds, auth)

    report = {
        "moto_version": moto.__version__,
        "endpoint": endpoint,
        "port": port,
        "config_file": paths["config"],
        "credentials_file": paths["credentials"],
        "auth_enforced": auth,
        "regions": list(REGIONS),
        "accounts": {
            ACCOUNT: {"profiles": ["default", "fleet", "denied", "noregion"], "regions": list(REGIONS)},
            SECOND_ACCOUNT: {"profiles": ["second"], "regions": [HOME_REGION]},
        },
        "profiles": profiles,
        **ec2_state,
        "ssh_open_group_ids": sorted(g["group_id"] for g in ec2_state["security_groups"] if g["ssh_from_anywhere"]),
        "load_balancers": load_balancers,
        "acm_certificate_arn": cert_arn,
        "eks_clusters": eks_clusters,
        "ecr_repositories": ecr_repos,
        "iam_roles": roles,
        "iam_customer_policy_arn": policy_arn,
        "iam_users": [
            {"name": "fleet-admin", "account_id": ACCOUNT, "arn": creds["admin"]["user_arn"]},
            {"name": "fleet-no-ecr", "account_id": ACCOUNT, "arn": creds["denied"]["user_arn"]},
            {"name": "fleet-admin", "account_id": SECOND_ACCOUNT, "arn": creds["second"]["user_arn"]},
        ],
        "s3_buckets": buckets,
        "rds_instances": rds,
    }
    sys.stdout.write(json.dumps(report, sort_keys=True) + "\n")
    sys.stdout.flush()

    # The test owns our stdin; when it closes it (or dies) read() returns and
    # we shut down. Anything written to stdin in the meantime is ignored.
    try:
        while sys.stdin.buffer.read(65536):
            pass
    except KeyboardInterrupt:  # run by hand and stopped with ^C
        pass
    server.shutdown()
    server.server_close()
    thread.join()
    return 0


if __name__ == "__main__":
    status = main()
    # Skip interpreter teardown: garbage-collecting moto's backends takes
    # about a second and there is nothing left to save; just flush.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
