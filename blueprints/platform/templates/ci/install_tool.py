"""Installs a pinned command-line tool of the CI, verified by its checksum.

    python3 ci/install_tool.py kustomize|promtool|terraform DIR

Downloads the exact release below, refuses it unless its SHA-256 is the one
recorded here, and writes the executable to DIR/<tool>. Only the standard
library is used, so it runs on any CI image with a Python (GitHub's runners,
GitLab's python images). Upgrading a tool means changing its version, URL and
checksum together, from the upstream release's published checksums.
"""

import hashlib
import io
import os
import platform
import sys
import tarfile
import urllib.request
import zipfile

TOOLS = {
    # The kustomize Argo CD 3.4.4 (argo-cd chart 10.1.1) renders
    # kustomizations with: CI renders the overlays as Argo CD will.
    "kustomize": {
        "version": "5.8.1",
        "url": "https://github.com/kubernetes-sigs/kustomize/releases/download/kustomize/v5.8.1/kustomize_v5.8.1_linux_amd64.tar.gz",
        "sha256": "029a7f0f4e1932c52a0476cf02a0fd855c0bb85694b82c338fc648dcb53a819d",
        "member": "kustomize",
    },
    # The Prometheus kube-prometheus-stack 88.5.3 runs (v3.14.0): the rules
    # are checked and unit-tested by the version that evaluates them.
    "promtool": {
        "version": "3.14.0",
        "url": "https://github.com/prometheus/prometheus/releases/download/v3.14.0/prometheus-3.14.0.linux-amd64.tar.gz",
        "sha256": "f665c6da19eb7ba399c915d30c7d9793c9b417bf8a749b504bc470678631478d",
        "member": "prometheus-3.14.0.linux-amd64/promtool",
    },
    # Validates the Terraform of the managed-cloud environments
    # (ci/terraform-validate.sh); the files ask for 1.10 or later.
    "terraform": {
        "version": "1.11.4",
        "url": "https://releases.hashicorp.com/terraform/1.11.4/terraform_1.11.4_linux_amd64.zip",
        "sha256": "1ce994251c00281d6845f0f268637ba50c0005657eb3cf096b92f753b42ef4dc",
        "member": "terraform",
    },
}


def main(argv):
    if len(argv) != 3 or argv[1] not in TOOLS:
        sys.exit(f"usage: {argv[0]} {{{'|'.join(sorted(TOOLS))}}} DIR")
    name, dest = argv[1], argv[2]
    tool = TOOLS[name]
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        sys.exit(f"{name}: only the linux-amd64 release is pinned here")
    with urllib.request.urlopen(tool["url"], timeout=120) as response:
        data = response.read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != tool["sha256"]:
        sys.exit(f"{name} {tool['version']}: checksum {digest}, expected {tool['sha256']}")
    if tool["url"].endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if tool["member"] not in archive.namelist():
                sys.exit(f"{name}: {tool['member']} is not a file of the archive")
            binary = archive.read(tool["member"])
    else:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            member = archive.extractfile(tool["member"])
            if member is None:
                sys.exit(f"{name}: {tool['member']} is not a file of the archive")
            binary = member.read()
    os.makedirs(dest, exist_ok=True)
    target = os.path.join(dest, name)
    with open(target, "wb") as out:
        out.write(binary)
    os.chmod(target, 0o755)
    print(f"{name} {tool['version']} -> {target}")


if __name__ == "__main__":
    main(sys.argv)
