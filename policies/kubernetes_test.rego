package socle.kubernetes_test

import data.socle.kubernetes

ids(result) := {f.id | some f in result}

good_container := {
	"name": "app",
	"image": "registry.example/app:1.2.3",
	"resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
	"securityContext": {"runAsNonRoot": true, "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true},
	"readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
	"livenessProbe": {"httpGet": {"path": "/live", "port": 8080}},
}

with_security(sc) := object.union(object.remove(good_container, ["securityContext"]), {"securityContext": sc})

deployment(container) := {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"template": {"spec": {"containers": [container]}}}}

deployment_with(pod) := {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"template": {"spec": object.union({"containers": [good_container]}, pod)}}}

test_good_deployment_passes if {
	count(kubernetes.violation) == 0 with input as deployment(good_container)
	count(kubernetes.warning) == 0 with input as deployment(good_container)
}

test_missing_resources_denied if {
	"SOC-K8S-001" in ids(kubernetes.violation) with input as deployment(object.remove(good_container, ["resources"]))
}

test_latest_image_denied if {
	"SOC-K8S-002" in ids(kubernetes.violation) with input as deployment(object.union(good_container, {"image": "nginx:latest"}))
}

test_untagged_image_denied if {
	"SOC-K8S-002" in ids(kubernetes.violation) with input as deployment(object.union(good_container, {"image": "registry.example:5000/nginx"}))
}

test_digest_image_passes if {
	not "SOC-K8S-002" in ids(kubernetes.violation) with input as deployment(object.union(good_container, {"image": "nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}))
}

test_root_denied if {
	"SOC-K8S-003" in ids(kubernetes.violation) with input as deployment(with_security({"allowPrivilegeEscalation": false}))
}

test_pod_level_non_root_passes if {
	c := with_security({"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true})
	not "SOC-K8S-003" in ids(kubernetes.violation) with input as deployment_with({"containers": [c], "securityContext": {"runAsNonRoot": true}})
}

test_privileged_denied if {
	"SOC-K8S-004" in ids(kubernetes.violation) with input as deployment(object.union(good_container, {"securityContext": {"privileged": true, "runAsNonRoot": true, "allowPrivilegeEscalation": false}}))
}

test_escalation_denied if {
	"SOC-K8S-005" in ids(kubernetes.violation) with input as deployment(with_security({"runAsNonRoot": true}))
}

test_host_network_denied if {
	"SOC-K8S-006" in ids(kubernetes.violation) with input as deployment_with({"hostNetwork": true})
}

test_host_path_denied if {
	"SOC-K8S-006" in ids(kubernetes.violation) with input as deployment_with({"volumes": [{"name": "logs", "hostPath": {"path": "/var/log"}}]})
}

test_missing_probes_warned if {
	"SOC-K8S-007" in ids(kubernetes.warning) with input as deployment(object.remove(good_container, ["readinessProbe"]))
}

test_jobs_need_no_probes if {
	job := {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "spec": {"template": {"spec": {"containers": [object.remove(good_container, ["readinessProbe", "livenessProbe"])]}}}}
	not "SOC-K8S-007" in ids(kubernetes.warning) with input as job
}

test_writable_root_warned if {
	"SOC-K8S-008" in ids(kubernetes.warning) with input as deployment(with_security({"runAsNonRoot": true, "allowPrivilegeEscalation": false}))
}

test_cronjob_containers_checked if {
	cj := {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"}, "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [object.union(good_container, {"image": "busybox"})]}}}}}}
	"SOC-K8S-002" in ids(kubernetes.violation) with input as cj
}

ingress(annotations, tls) := {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "i", "annotations": annotations}, "spec": {"tls": tls, "rules": []}}

test_ingress_with_tls_and_issuer_passes if {
	count(kubernetes.violation) == 0 with input as ingress({"cert-manager.io/cluster-issuer": "platform-ca"}, [{"hosts": ["a.example"], "secretName": "a-tls"}])
}

test_ingress_without_tls_denied if {
	"SOC-ING-001" in ids(kubernetes.violation) with input as ingress({"cert-manager.io/cluster-issuer": "platform-ca"}, [])
}

test_ingress_without_issuer_denied if {
	"SOC-ING-001" in ids(kubernetes.violation) with input as ingress({}, [{"hosts": ["a.example"], "secretName": "a-tls"}])
}

test_secret_with_data_denied if {
	"SOC-SEC-001" in ids(kubernetes.violation) with input as {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"password": "aHVudGVyMg=="}}
}

test_secret_of_secret_manager_references_passes if {
	not "SOC-SEC-001" in ids(kubernetes.violation) with input as {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"password": "op://platform/db/password", "token": "ref+vault://secret/app#token", "key": "<path:secret/data/app#key>", "user": "${DB_USER}"}, "data": {"cert": base64.encode("vault:secret/app#cert")}}
}

test_a_literal_beside_references_is_denied if {
	"SOC-SEC-001" in ids(kubernetes.violation) with input as {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"password": "op://platform/db/password", "token": "hunter2"}}
	"SOC-SEC-001" in ids(kubernetes.violation) with input as {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"password": "prefix ${DB_PASSWORD}"}}
	"SOC-SEC-001" in ids(kubernetes.violation) with input as {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"password": "not base64 at all!"}}
}

test_empty_secret_passes if {
	not "SOC-SEC-001" in ids(kubernetes.violation) with input as {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "type": "kubernetes.io/service-account-token"}
}

# A SOPS-encrypted Secret holds ciphertext (its decryption removes the
# `sops` metadata before anything applies it); an empty value holds nothing.
# A value left in the clear beside them is still refused.
test_sops_encrypted_and_empty_secret_values_pass if {
	sops := {"mac": "ENC[AES256_GCM,data:bWFj,iv:aXY=,tag:dGFn,type:str]", "lastmodified": "2026-03-01T01:50:31Z", "version": "3.12.1"}
	encrypted := {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "sops": sops, "stringData": {"GITHUB_TOKEN": "ENC[AES256_GCM,data:UkF1c1dG,iv:TDdwaA==,tag:dGFn,type:str]", "UNUSED_KEY": ""}, "data": {"identity": "ENC[AES256_GCM,data:cGF4a0hoYQ==,iv:aXY=,tag:dGFn,type:str]"}}
	not "SOC-SEC-001" in ids(kubernetes.violation) with input as encrypted
	"SOC-SEC-001" in ids(kubernetes.violation) with input as object.union(encrypted, {"stringData": {"CLEAR": "hunter2"}})
	# Ciphertext counts only in a file SOPS wrote.
	"SOC-SEC-001" in ids(kubernetes.violation) with input as object.remove(encrypted, ["sops"])
}

# A key left without a value (`accessType:` and a comment) is null, which
# the API server decodes as empty: nothing to judge, and no rule fails on
# it. A literal beside it is still refused.
test_null_secret_values_hold_nothing if {
	empty := {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"accessType": null}, "data": {"key": null}}
	not "SOC-SEC-001" in ids(kubernetes.violation) with input as empty
	"SOC-SEC-001" in ids(kubernetes.violation) with input as object.union(empty, {"stringData": {"accessType": null, "accessId": "p-1234"}})
}
