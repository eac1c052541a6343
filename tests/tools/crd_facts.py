r"""Derive policies/crds.json: the upstream CRD schemas socle checks manifests against.

Reads apiextensions.k8s.io/v1 CustomResourceDefinition documents from local
YAML files, keeps only the kinds in WANTED, and writes, for every served
version of each, the openAPIV3Schema with the documentation-only keywords
(`description`, `example`, `examples`) and the CEL rules
(`x-kubernetes-validations`) taken out, plus the CRD's scope. The walk knows
the structure of a schema, so a property that happens to be called
`description` (or `example`) is kept, and values under `default` and `enum`
are copied untouched. The output is deterministic (sorted keys, compact
separators, one trailing newline):

    {"sources": {"<group>": "<label>"},
     "schemas": {"<group>/<version>/<Kind>": {"scope": "...", "schema": {...}}}}

Usage:

    crd_facts.py --out FILE [--optional GROUP/KIND ...] LABEL=PATH [LABEL=PATH ...]

LABEL names the upstream release (e.g. cert-manager@v1.21.1) and is recorded
per API group; PATH is a CRD YAML file, possibly holding several documents.
Every kind of WANTED must be found unless it is named with --optional (the
Mayastor DiskPool CRD has no YAML upstream: its operator builds it at run time
from Rust types, so it is passed as optional).

Regenerating policies/crds.json (from the repository root; M points at bare
git clones of the upstream repositories, named owner+name):

    M=${M:?a folder of bare clones, owner+name/repo}; mkdir -p /tmp/crds; cd /tmp/crds
    x() { git --git-dir="$M/$1/repo" show "$2:$3" > "$4"; }
    for k in externalsecrets secretstores clustersecretstores clusterexternalsecrets; do
      x external-secrets+external-secrets v2.9.0 config/crds/bases/external-secrets.io_$k.yaml eso_$k.yaml; done
    for k in servicemonitors podmonitors prometheusrules; do
      x prometheus-operator+prometheus-operator v0.93.0 example/prometheus-operator-crd/monitoring.coreos.com_$k.yaml promop_$k.yaml; done
    for k in certificates issuers clusterissuers; do
      x cert-manager+cert-manager v1.21.1 deploy/crds/cert-manager.io_$k.yaml certmanager_$k.yaml; done
    x cert-manager+trust-manager v0.24.0 deploy/crds/trust.cert-manager.io_bundles.yaml trustmanager_bundles.yaml
    for k in clusters databases scheduledbackups poolers; do
      x cloudnative-pg+cloudnative-pg v1.30.0 config/crd/bases/postgresql.cnpg.io_$k.yaml cnpg_$k.yaml; done
    for k in sparkapplications scheduledsparkapplications; do
      x kubeflow+spark-operator v2.5.2 config/crd/bases/sparkoperator.k8s.io_$k.yaml spark_$k.yaml; done
    for k in nificlusters nifiusers nifiusergroups nifiregistryclients nifiparametercontexts nifidataflows; do
      x konpyutaika+nifikop v1.17.0-release config/crd/bases/nifi.konpyutaika.com_$k.yaml nifikop_$k.yaml; done
    for k in schedules backupstoragelocations volumesnapshotlocations; do
      x vmware-tanzu+velero v1.18.1 config/crd/v1/bases/velero.io_$k.yaml velero_$k.yaml; done
    x minio+operator v7.1.1 resources/base/crds/minio.min.io_tenants.yaml minio_tenants.yaml
    x fluxcd+helm-controller v1.6.3 config/crd/bases/helm.toolkit.fluxcd.io_helmreleases.yaml flux_helmreleases.yaml
    x fluxcd+kustomize-controller v1.9.4 config/crd/bases/kustomize.toolkit.fluxcd.io_kustomizations.yaml flux_kustomizations.yaml
    for k in gitrepositories helmrepositories ocirepositories helmcharts buckets; do
      x fluxcd+source-controller v1.9.1 config/crd/bases/source.toolkit.fluxcd.io_$k.yaml flux_$k.yaml; done
    cd -
    C=/tmp/crds
    .ci/venv/bin/python tests/tools/crd_facts.py --out policies/crds.json \
      --optional openebs.io/DiskPool \
      $(for f in $C/eso_*.yaml; do echo external-secrets@v2.9.0=$f; done) \
      $(for f in $C/promop_*.yaml; do echo prometheus-operator@v0.93.0=$f; done) \
      $(for f in $C/certmanager_*.yaml; do echo cert-manager@v1.21.1=$f; done) \
      trust-manager@v0.24.0=$C/trustmanager_bundles.yaml \
      $(for f in $C/cnpg_*.yaml; do echo cloudnative-pg@v1.30.0=$f; done) \
      $(for f in $C/spark_*.yaml; do echo spark-operator@v2.5.2=$f; done) \
      $(for f in $C/nifikop_*.yaml; do echo nifikop@v1.17.0=$f; done) \
      $(for f in $C/velero_*.yaml; do echo velero@v1.18.1=$f; done) \
      minio-operator@v7.1.1=$C/minio_tenants.yaml \
      helm-controller@v1.6.3=$C/flux_helmreleases.yaml \
      kustomize-controller@v1.9.4=$C/flux_kustomizations.yaml \
      $(for f in $C/flux_{git,helm,oci}repositories.yaml $C/flux_helmcharts.yaml $C/flux_buckets.yaml; do echo source-controller@v1.9.1=$f; done)

Documents carrying Helm template syntax are handled line-wise: lines that are
only a template action are dropped and `{{ ... }}` inside a line is replaced
by a placeholder; a document that still does not parse is reported and
skipped (prefer the plain CRD files, as above, which need none of this).
"""

import argparse
import json
import re
import sys

import yaml

WANTED = {
    "external-secrets.io": [
        "ExternalSecret",
        "SecretStore",
        "ClusterSecretStore",
        "ClusterExternalSecret",
    ],
    "monitoring.coreos.com": ["ServiceMonitor", "PodMonitor", "PrometheusRule"],
    "cert-manager.io": ["Certificate", "Issuer", "ClusterIssuer"],
    "trust.cert-manager.io": ["Bundle"],
    "postgresql.cnpg.io": ["Cluster", "Database", "ScheduledBackup", "Pooler"],
    "sparkoperator.k8s.io": ["SparkApplication", "ScheduledSparkApplication"],
    "nifi.konpyutaika.com": [
        "NifiCluster",
        "NifiUser",
        "NifiUserGroup",
        "NifiRegistryClient",
        "NifiParameterContext",
        "NifiDataflow",
    ],
    "velero.io": ["Schedule", "BackupStorageLocation", "VolumeSnapshotLocation"],
    "minio.min.io": ["Tenant"],
    "openebs.io": ["DiskPool"],
    # Flux: the repositories `socle check` meets that socle did not write.
    "helm.toolkit.fluxcd.io": ["HelmRelease"],
    "kustomize.toolkit.fluxcd.io": ["Kustomization"],
    "source.toolkit.fluxcd.io": [
        "GitRepository",
        "HelmRepository",
        "OCIRepository",
        "HelmChart",
        "Bucket",
    ],
}

# Keywords dropped wherever they appear as a keyword of a schema node.
DROPPED = {"description", "example", "examples", "x-kubernetes-validations"}
# Keywords whose value is a map from a name to a schema.
SCHEMA_MAPS = {"properties", "patternProperties", "definitions", "dependencies"}
# Keywords whose value is a list of schemas.
SCHEMA_LISTS = {"anyOf", "oneOf", "allOf"}
# Keywords whose value is one schema (or, for some, a boolean / list).
SCHEMA_ONE = {"items", "additionalProperties", "not", "additionalItems"}


def strip(node):
    """Return a copy of a schema node without documentation and CEL keywords."""
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in DROPPED and (key != "description" or isinstance(value, str)):
            continue
        if key in SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {
                name: strip(sub) if isinstance(sub, dict) else sub
                for name, sub in value.items()
            }
        elif key in SCHEMA_LISTS and isinstance(value, list):
            out[key] = [strip(sub) for sub in value]
        elif key in SCHEMA_ONE:
            if isinstance(value, list):
                out[key] = [strip(sub) for sub in value]
            else:
                out[key] = strip(value)
        else:
            # default, enum, type, pattern, x-kubernetes-* ... : data, verbatim.
            out[key] = value
    return out


HELM_LINE = re.compile(r"^\s*\{\{-?.*-?\}\}\s*$")
HELM_INLINE = re.compile(r"\{\{-?.*?-?\}\}")


def load_documents(path):
    """Yield the YAML documents of a file, tolerating Helm-templated ones."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    if "{{" not in text:
        for doc in yaml.load_all(text, Loader=loader):
            if isinstance(doc, dict):
                yield doc
        return
    chunks = re.split(r"^---[ \t]*$", text, flags=re.M)
    for index, chunk in enumerate(chunks):
        if not chunk.strip():
            continue
        if "{{" in chunk:
            lines = [l for l in chunk.splitlines() if not HELM_LINE.match(l)]
            chunk = HELM_INLINE.sub("helm-template", "\n".join(lines))
        try:
            doc = yaml.load(chunk, Loader=loader)
        except yaml.YAMLError as err:
            print(f"{path}: document {index} does not parse, skipped: {err}", file=sys.stderr)
            continue
        if isinstance(doc, dict):
            yield doc


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output JSON file")
    parser.add_argument(
        "--optional",
        action="append",
        default=[],
        metavar="GROUP/KIND",
        help="a wanted kind whose absence is not an error (repeatable)",
    )
    parser.add_argument("inputs", nargs="+", metavar="LABEL=PATH")
    args = parser.parse_args()

    sources = {}
    schemas = {}
    found = set()
    for item in args.inputs:
        label, sep, path = item.partition("=")
        if not sep or not label or not path:
            parser.error(f"expected LABEL=PATH, got {item!r}")
        for doc in load_documents(path):
            if (
                doc.get("apiVersion") != "apiextensions.k8s.io/v1"
                or doc.get("kind") != "CustomResourceDefinition"
            ):
                continue
            spec = doc.get("spec") or {}
            group = spec.get("group")
            kind = (spec.get("names") or {}).get("kind")
            if kind not in WANTED.get(group, ()):
                continue
            scope = spec.get("scope")
            if scope not in ("Namespaced", "Cluster"):
                sys.exit(f"{path}: {group}/{kind} has scope {scope!r}")
            if sources.setdefault(group, label) != label:
                sys.exit(f"{group} comes from both {sources[group]} and {label}")
            for version in spec.get("versions") or []:
                if not version.get("served"):
                    continue
                schema = (version.get("schema") or {}).get("openAPIV3Schema")
                if not isinstance(schema, dict):
                    sys.exit(f"{path}: {group}/{version.get('name')}/{kind} has no schema")
                key = f"{group}/{version['name']}/{kind}"
                if key in schemas:
                    sys.exit(f"{key} given twice")
                schemas[key] = {"scope": scope, "schema": strip(schema)}
                found.add(f"{group}/{kind}")

    optional = set(args.optional)
    missing = [
        f"{group}/{kind}"
        for group, kinds in sorted(WANTED.items())
        for kind in kinds
        if f"{group}/{kind}" not in found and f"{group}/{kind}" not in optional
    ]
    skipped = [k for k in sorted(optional) if k not in found]

    text = json.dumps(
        {"sources": sources, "schemas": schemas},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ) + "\n"
    data = text.encode("utf-8")
    if missing:
        sys.exit("missing kinds: " + ", ".join(missing))
    with open(args.out, "wb") as handle:
        handle.write(data)
    print(
        f"{args.out}: {len(data)} bytes, {len(schemas)} schemas"
        + (f" (absent, optional: {', '.join(skipped)})" if skipped else ""),
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
