# One customer-managed key for the environment: Kubernetes Secrets in etcd,
# the secret store's entries, the logs, the registry and the backups.
# Rotated yearly by KMS. (Volumes use the account's EBS key: EC2 Auto
# Scaling and the EBS CSI driver need no grant on this one.)

resource "aws_kms_key" "platform" {
  description             = "${local.name}: secrets, volumes, logs, images and backups"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "platform" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.platform.key_id
}

data "aws_iam_policy_document" "kms" {
  # checkov:skip=CKV_AWS_109:A key policy's resource "*" is the key itself, not every resource.
  # checkov:skip=CKV_AWS_111:A key policy's resource "*" is the key itself, not every resource.
  # checkov:skip=CKV_AWS_356:A key policy's resource "*" is the key itself, not every resource.
  # The account administers the key through IAM (the default key policy).
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  # CloudWatch Logs encrypts the control plane's and the flow logs' groups;
  # it calls KMS as its regional service principal (logs.<region>.amazonaws.com).
  statement {
    sid = "CloudWatchLogs"
    actions = [
      "kms:Encrypt*",
      "kms:Decrypt*",
      "kms:ReEncrypt*",
      "kms:GenerateDataKey*",
      "kms:Describe*",
    ]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.${data.aws_partition.current.dns_suffix}"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:*:${local.account_id}:log-group:*"]
    }
  }
}
