# Log shipping: the control plane's logs (API server, audit, authenticator,
# controller manager, scheduler) and the network's flow logs go to
# CloudWatch, encrypted with the environment's key. The workloads' logs stay
# in the platform's Loki (components/loki), as on the other clusters.

resource "aws_cloudwatch_log_group" "cluster" {
  # The name EKS writes to: created here first, so retention and encryption
  # are ours rather than EKS's defaults (kept forever, unencrypted).
  name              = "/aws/eks/${local.name}/cluster"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.platform.arn
}

resource "aws_cloudwatch_log_group" "flow" {
  name              = "/aws/vpc/${local.name}/flow"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.platform.arn
}
