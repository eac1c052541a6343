# The environment's key, rotated every year by KMS: Kubernetes Secrets in
# etcd, the secret store's entries, the database, the logs, the images and
# the buckets. (Node and pod volumes use the account's EBS key, which EC2
# Auto Scaling and the EBS CSI driver may use without a grant.)

resource "aws_kms_key" "lakehouse" {
  description             = "${local.name}: secrets, database, logs, images and buckets of the lakehouse"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.key.json
}

resource "aws_kms_alias" "lakehouse" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.lakehouse.key_id
}

data "aws_iam_policy_document" "key" {
  # checkov:skip=CKV_AWS_109:In a key policy, the resource "*" is this key.
  # checkov:skip=CKV_AWS_111:In a key policy, the resource "*" is this key.
  # checkov:skip=CKV_AWS_356:In a key policy, the resource "*" is this key.

  # IAM policies of the account decide who uses the key (the default key
  # policy).
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  # CloudWatch Logs encrypts the log groups (logging.tf) as its regional
  # service principal, for this account's groups only.
  statement {
    sid = "CloudWatchLogsEncrypts"
    actions = [
      "kms:Decrypt*",
      "kms:Describe*",
      "kms:Encrypt*",
      "kms:GenerateDataKey*",
      "kms:ReEncrypt*",
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
