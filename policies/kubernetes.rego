# Rules on one Kubernetes document at a time. `input` is the document, as in
# conftest; each finding names the rule id and the path of the field at fault,
# which socle turns into a file:line.
package socle.kubernetes

pod_owner_kinds := {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}

long_running_kinds := {"Deployment", "StatefulSet", "DaemonSet"}

# Every kind a rule below can judge. socle evaluates these rules only on
# documents of these kinds (most of a repository is ConfigMaps, policies and
# Applications, which none of them reads); a rule for another kind must add
# it here, and socle's tests fail when a rule judges a kind not listed.
judged_kinds := (pod_owner_kinds | long_running_kinds) | {"Pod", "CronJob", "Ingress", "Secret"}

pod_path := ["spec"] if input.kind == "Pod"

pod_path := ["spec", "template", "spec"] if input.kind in pod_owner_kinds

pod_path := ["spec", "jobTemplate", "spec", "template", "spec"] if input.kind == "CronJob"

pod_spec := object.get(input, pod_path, {})

containers contains {"c": c, "path": array.concat(pod_path, [group, i]), "init": group == "initContainers"} if {
	some group in ["initContainers", "containers"]
	some i, c in object.get(pod_spec, group, [])
}

finding(id, msg, path) := {"id": id, "msg": msg, "path": path}

name_of(c) := object.get(c, "name", "(unnamed)")

# SOC-K8S-001: resources.
violation contains finding("SOC-K8S-001", sprintf("container %q has no %s request", [name_of(c.c), r]), c.path) if {
	some c in containers
	some r in ["cpu", "memory"]
	not c.c.resources.requests[r]
}

violation contains finding("SOC-K8S-001", sprintf("container %q has no memory limit", [name_of(c.c)]), c.path) if {
	some c in containers
	not c.c.resources.limits.memory
}

# SOC-K8S-002: pinned image tags.
pinned(image) if contains(image, "@sha256:")

pinned(image) if {
	not contains(image, "@")
	parts := split(image, "/")
	last := parts[count(parts) - 1]
	tag := split(last, ":")
	count(tag) == 2
	not tag[1] in {"", "latest"}
}

violation contains finding("SOC-K8S-002", sprintf("container %q uses image %q; pin an explicit tag or digest, never latest", [name_of(c.c), object.get(c.c, "image", "")]), array.concat(c.path, ["image"])) if {
	some c in containers
	not pinned(object.get(c.c, "image", ""))
}

# SOC-K8S-003: runAsNonRoot.
non_root(c) if c.securityContext.runAsNonRoot == true

non_root(c) if {
	pod_spec.securityContext.runAsNonRoot == true
	not c.securityContext.runAsNonRoot == false
}

violation contains finding("SOC-K8S-003", sprintf("container %q may run as root; set securityContext.runAsNonRoot: true", [name_of(c.c)]), c.path) if {
	some c in containers
	not non_root(c.c)
}

# SOC-K8S-004: privileged containers.
violation contains finding("SOC-K8S-004", sprintf("container %q is privileged", [name_of(c.c)]), array.concat(c.path, ["securityContext", "privileged"])) if {
	some c in containers
	c.c.securityContext.privileged == true
}

# SOC-K8S-005: privilege escalation.
violation contains finding("SOC-K8S-005", sprintf("container %q does not set securityContext.allowPrivilegeEscalation: false", [name_of(c.c)]), c.path) if {
	some c in containers
	not c.c.securityContext.allowPrivilegeEscalation == false
}

# SOC-K8S-006: host namespaces and host paths.
violation contains finding("SOC-K8S-006", sprintf("pod sets %s: true", [field]), array.concat(pod_path, [field])) if {
	some field in ["hostNetwork", "hostPID", "hostIPC"]
	pod_spec[field] == true
}

violation contains finding("SOC-K8S-006", sprintf("volume %q mounts a hostPath", [v.name]), array.concat(pod_path, ["volumes", i])) if {
	some i, v in object.get(pod_spec, "volumes", [])
	v.hostPath
}

# SOC-K8S-007 (warn): probes.
warning contains finding("SOC-K8S-007", sprintf("container %q has no %s", [name_of(c.c), probe]), c.path) if {
	input.kind in long_running_kinds
	some c in containers
	not c.init
	some probe in ["readinessProbe", "livenessProbe"]
	not c.c[probe]
}

# SOC-K8S-008 (warn): read-only root filesystem.
warning contains finding("SOC-K8S-008", sprintf("container %q has a writable root filesystem; set securityContext.readOnlyRootFilesystem: true", [name_of(c.c)]), c.path) if {
	some c in containers
	not c.c.securityContext.readOnlyRootFilesystem == true
}

# SOC-ING-001: Ingress with TLS and a cert-manager issuer.
violation contains finding("SOC-ING-001", "Ingress has no tls section", ["spec"]) if {
	input.kind == "Ingress"
	count(object.get(input, ["spec", "tls"], [])) == 0
}

violation contains finding("SOC-ING-001", "Ingress names no cert-manager issuer (annotation cert-manager.io/cluster-issuer or cert-manager.io/issuer)", ["metadata"]) if {
	input.kind == "Ingress"
	annotations := object.get(input, ["metadata", "annotations"], {})
	not annotations["cert-manager.io/cluster-issuer"]
	not annotations["cert-manager.io/issuer"]
}

# SOC-SEC-001: Secrets with data in git (reported at their first key whose
# value is the credential itself).
violation contains finding("SOC-SEC-001", sprintf("Secret %q carries %s; keep credentials out of git (ExternalSecret or SealedSecret)", [object.get(input, ["metadata", "name"], ""), field]), [field, first]) if {
	input.kind == "Secret"
	some field in ["data", "stringData"]
	keys := [k | some k, v in object.get(input, field, {}); not kept_elsewhere(field, v)]
	count(keys) > 0
	first := sort(keys)[0]
}

# A value that only says where a secret manager keeps the credential, for a
# tool that fills it in before the Secret reaches the cluster: 1Password
# (`op://`), vals and helm-secrets (`ref+<backend>://`), Vault (`vault:`),
# argocd-vault-plugin (`<path:…>`), or a variable substituted at deploy time
# (`${NAME}`, Flux's post-build substitution). A `data` value is read
# decoded; one that does not decode is a credential like any other.
manager_reference(v) if {
	is_string(v)
	regex.match(`^(op://|ref\+[a-z0-9]+://|vault:|secretref:)`, v)
}

manager_reference(v) if {
	is_string(v)
	regex.match(`^<path:[^>]+>$`, v)
}

manager_reference(v) if {
	is_string(v)
	regex.match(`^\$\{[A-Za-z_][A-Za-z0-9_]*\}$`, v)
}

kept_elsewhere("stringData", v) if manager_reference(v)

# An empty value holds no credential; nor does a key left without one
# (`accessType:` and a comment), which is null, decoded as empty.
kept_elsewhere(_, v) if v == ""

kept_elsewhere(_, v) if v == null

# A value SOPS encrypted (`ENC[AES256_GCM,data:…]`, in a file whose `sops`
# metadata its decryption removes): what git holds is ciphertext.
kept_elsewhere(_, v) if {
	input.sops.mac
	is_string(v)
	regex.match(`^ENC\[[A-Z0-9_]+,data:`, v)
}

kept_elsewhere("data", v) if {
	is_string(v)
	base64.is_valid(v)
	manager_reference(base64.decode(v))
}
