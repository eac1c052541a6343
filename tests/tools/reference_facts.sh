#!/usr/bin/env sh
# Derive tests/fixtures/facts/ (pinned charts' default values and values
# schemas, Argo CD's CRD schemas) from the reference set beside the
# repository (../shared/reference, or SOCLE_REFERENCE=DIR). Run it after
# pinning another chart version; the tests read only the derived files, and
# `reference_facts_are_current` fails while they disagree with the set.
#
# Charts the reference set lacks are read from SOCLE_CHART_SOURCES=DIR
# (DIR/<chart>/<version>/values.yaml), e.g. the Cluster Autoscaler's:
#   mkdir -p DIR/cluster-autoscaler/9.51.0
#   git -C autoscaler show cluster-autoscaler-chart-9.51.0:charts/cluster-autoscaler/values.yaml \
#     > DIR/cluster-autoscaler/9.51.0/values.yaml
set -eu
cd "$(dirname "$0")/../.."
SOCLE_UPDATE_FACTS=1 exec cargo test --quiet --test integration -- facts::reference_facts_are_current
