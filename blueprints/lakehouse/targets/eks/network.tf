# The network: per zone, a private subnet (nodes, pods, the database, the
# service endpoints) and a small public one (the load balancer in front of
# Traefik, a NAT gateway). The AWS services the pods call answer inside it
# (interface endpoints), so the NetworkPolicies open egress to the VPC's
# range for them, not to the internet.

resource "aws_vpc" "this" {
  cidr_block           = local.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = { Name = local.name }
}

# Nothing may use the default security group: it admits no traffic.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id
}

# A quarter of the range per zone for nodes and pods (the VPC CNI gives
# pods addresses of their node's subnet).
resource "aws_subnet" "private" {
  count             = 3
  vpc_id            = aws_vpc.this.id
  availability_zone = local.zones[count.index]
  cidr_block        = cidrsubnet(local.vpc_cidr, 2, count.index)
  tags = {
    Name                              = "${local.name}-private-${count.index}"
    "kubernetes.io/role/internal-elb" = "1"
  }
}

resource "aws_subnet" "public" {
  count             = 3
  vpc_id            = aws_vpc.this.id
  availability_zone = local.zones[count.index]
  cidr_block        = cidrsubnet(local.vpc_cidr, 6, 48 + count.index)
  # Only the load balancer and the NAT gateways live here, with addresses
  # of their own.
  map_public_ip_on_launch = false
  tags = {
    Name                     = "${local.name}-public-${count.index}"
    "kubernetes.io/role/elb" = "1"
  }
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id
  tags   = { Name = local.name }
}

# A NAT gateway per zone: losing a zone leaves the others their way out
# (the connectors' sources, the package index, the alert receivers).
resource "aws_eip" "nat" {
  count  = 3
  domain = "vpc"
  tags   = { Name = "${local.name}-nat-${count.index}" }
}

resource "aws_nat_gateway" "this" {
  count         = 3
  allocation_id = aws_eip.nat[count.index].id
  subnet_id     = aws_subnet.public[count.index].id
  tags          = { Name = "${local.name}-${count.index}" }
  depends_on    = [aws_internet_gateway.this]
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id
  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.this.id
  }
  tags = { Name = "${local.name}-public" }
}

resource "aws_route_table_association" "public" {
  count          = 3
  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}

resource "aws_route_table" "private" {
  count  = 3
  vpc_id = aws_vpc.this.id
  route {
    cidr_block     = "0.0.0.0/0"
    nat_gateway_id = aws_nat_gateway.this[count.index].id
  }
  tags = { Name = "${local.name}-private-${count.index}" }
}

resource "aws_route_table_association" "private" {
  count          = 3
  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private[count.index].id
}

# S3 (Dremio's storage, the backups), Secrets Manager (External Secrets),
# STS (where Dremio exchanges its token for its role), and EC2 Auto
# Scaling, EC2 and EKS (the Cluster Autoscaler), each answering at
# addresses of the private subnets under its usual name.
resource "aws_vpc_endpoint" "service" {
  for_each            = toset(["s3", "secretsmanager", "sts", "autoscaling", "ec2", "eks"])
  vpc_id              = aws_vpc.this.id
  service_name        = "com.amazonaws.${local.region}.${each.key}"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = aws_subnet.private[*].id
  security_group_ids  = [aws_security_group.service_endpoints.id]
  private_dns_enabled = true
  tags                = { Name = "${local.name}-${each.key}" }

  # S3's private name must answer the pods too, not only resolvers coming
  # in from outside the VPC (the default, which AWS allows only beside a
  # gateway endpoint, whose public addresses the NetworkPolicies refuse).
  dynamic "dns_options" {
    for_each = each.key == "s3" ? [false] : []
    content {
      private_dns_only_for_inbound_resolver_endpoint = dns_options.value
    }
  }
}

resource "aws_security_group" "service_endpoints" {
  name        = "${local.name}-service-endpoints"
  description = "HTTPS from the VPC to the AWS service endpoints"
  vpc_id      = aws_vpc.this.id

  ingress {
    description = "HTTPS from the nodes and pods"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = [local.vpc_cidr]
  }

  tags = { Name = "${local.name}-service-endpoints" }
}

# Every flow, accepted or rejected, to CloudWatch (logging.tf).
resource "aws_flow_log" "vpc" {
  vpc_id               = aws_vpc.this.id
  traffic_type         = "ALL"
  log_destination_type = "cloud-watch-logs"
  log_destination      = aws_cloudwatch_log_group.flows.arn
  iam_role_arn         = aws_iam_role.flow_log.arn
}

resource "aws_iam_role" "flow_log" {
  name               = "${local.name}-flow-log"
  assume_role_policy = data.aws_iam_policy_document.flow_log_trust.json
}

data "aws_iam_policy_document" "flow_log_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["vpc-flow-logs.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role_policy" "flow_log" {
  name   = "deliver-flow-logs"
  role   = aws_iam_role.flow_log.id
  policy = data.aws_iam_policy_document.flow_log.json
}

data "aws_iam_policy_document" "flow_log" {
  statement {
    actions = [
      "logs:CreateLogStream",
      "logs:DescribeLogStreams",
      "logs:PutLogEvents",
    ]
    resources = ["${aws_cloudwatch_log_group.flows.arn}:*"]
  }
}
