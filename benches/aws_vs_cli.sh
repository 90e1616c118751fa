#!/usr/bin/env bash
# kq's AWS provider against the AWS CLI + jq, same question, same moto
# fleet, same run: EC2 instances (two regions) with a security group that
# allows SSH (tcp/22 or all traffic) from 0.0.0.0/0 or ::/0. Both answers
# are checked to be equal before timing.
#
#   cargo build -p kq-cli --features aws && benches/aws_vs_cli.sh [ROUNDS]
#
# Needs python3 with moto[server] (.ci/setup), the AWS CLI (`pip install
# awscli`) and jq. Against moto the estate is small, so this measures what
# a user waits for on a handful of resources: process start-up, requests
# and joining, not bulk decoding.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
kq_bin="${KQ_BIN:-target/debug/kq}"
dir="$(mktemp -d)"
fifo="$dir/hold"
mkfifo "$fifo"
sleep 100000 > "$fifo" &
holder=$!
python3 tests/aws/moto_fleet.py --dir "$dir" < "$fifo" > "$dir/fleet.json" &
fleet=$!
trap 'kill $holder 2>/dev/null; wait $fleet 2>/dev/null; rm -rf "$dir"' EXIT
until [ -s "$dir/fleet.json" ]; do sleep 0.2; done
export AWS_CONFIG_FILE="$dir/config" AWS_SHARED_CREDENTIALS_FILE="$dir/credentials" AWS_EC2_METADATA_DISABLED=true

kq() {
    "$kq_bin" --aws-region us-east-1,eu-west-1 -o csv --no-header "SELECT DISTINCT i.region, i.instance_id FROM aws.ec2_instances i JOIN (SELECT instance_id, unnest(security_group_ids) AS g FROM aws.ec2_instances) x ON x.instance_id = i.instance_id JOIN aws.security_group_rules r ON r.group_id = x.g AND r.region = i.region WHERE r.direction = 'ingress' AND r.open_to_world AND r.protocol IN ('tcp', 'all') AND 22 BETWEEN r.from_port AND r.to_port ORDER BY 1, 2"
}

cli() {
    for region in us-east-1 eu-west-1; do
        groups=$(aws ec2 describe-security-groups --region "$region" --output json | jq -c '[.SecurityGroups[] | select(any(.IpPermissions[]; (.IpProtocol == "-1" or (.IpProtocol == "tcp" and .FromPort <= 22 and .ToPort >= 22)) and (any(.IpRanges[]?; .CidrIp == "0.0.0.0/0") or any(.Ipv6Ranges[]?; .CidrIpv6 == "::/0")))) | .GroupId]')
        aws ec2 describe-instances --region "$region" --output json | jq -r --argjson g "$groups" --arg r "$region" '.Reservations[].Instances[] | select(any(.SecurityGroups[]; .GroupId as $id | $g | index($id))) | "\($r),\(.InstanceId)"'
    done | sort -u
}

if ! diff <(kq) <(cli) > /dev/null; then
    echo "kq and the AWS CLI + jq disagree" >&2
    exit 1
fi
echo "same answer: $(kq | wc -l) instances"
for _ in $(seq "$rounds"); do
    /usr/bin/time -f "kq           %e s  %M KB peak RSS" bash -c "$(declare -f kq); kq_bin=$kq_bin; kq" > /dev/null
    /usr/bin/time -f "aws cli + jq %e s  %M KB peak RSS (largest process)" bash -c "$(declare -f cli); cli" > /dev/null
done
