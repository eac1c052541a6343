"""Builders of the Kubernetes tasks of the pipelines.

Every pod runs in a platform namespace with the platform's pod security
settings (non-root, no privilege escalation, no capabilities, RuntimeDefault
seccomp, read-only root file system with emptyDir scratch space) and explicit
resources, like any manifest of this repository.
"""

from __future__ import annotations

from pathlib import Path

from kubernetes.client import models as k8s

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.cncf.kubernetes.operators.spark_kubernetes import SparkKubernetesOperator

from data_platform import settings
from data_platform.settings import PLATFORM, Domain

SCRIPTS = Path(__file__).parent / "scripts"
LABELS = {"app.kubernetes.io/part-of": "data-platform", "app.kubernetes.io/component": "airflow"}


def _script(name: str) -> str:
    text = (SCRIPTS / name).read_text()
    # Pod commands are Jinja-templated by Airflow: a script must not look like a template.
    if any(marker in text for marker in ("{{", "{%", "{#")):
        raise ValueError(f"{name} contains Jinja delimiters")
    return text


def _pod_security(uid: int) -> k8s.V1PodSecurityContext:
    return k8s.V1PodSecurityContext(
        run_as_non_root=True,
        run_as_user=uid,
        run_as_group=uid,
        fs_group=uid,
        seccomp_profile=k8s.V1SeccompProfile(type="RuntimeDefault"),
    )


def _container_security() -> k8s.V1SecurityContext:
    return k8s.V1SecurityContext(
        allow_privilege_escalation=False,
        read_only_root_filesystem=True,
        capabilities=k8s.V1Capabilities(drop=["ALL"]),
    )


def _resources(cpu: str, memory: str, cpu_limit: str, memory_limit: str) -> k8s.V1ResourceRequirements:
    return k8s.V1ResourceRequirements(
        requests={"cpu": cpu, "memory": memory},
        limits={"cpu": cpu_limit, "memory": memory_limit},
    )


def _secret_env(name: str, secret: str, key: str) -> k8s.V1EnvVar:
    return k8s.V1EnvVar(
        name=name,
        value_from=k8s.V1EnvVarSource(secret_key_ref=k8s.V1SecretKeySelector(name=secret, key=key)),
    )


def nifi_ingest(domain: Domain) -> KubernetesPodOperator:
    """Run the domain's NiFi process group for one batch (pod in the integration namespace)."""
    return KubernetesPodOperator(
        task_id="ingest_nifi",
        name=f"nifi-ingest-{domain.slug}",
        namespace=PLATFORM.integration_namespace,
        image=settings.PYTHON_IMAGE,
        cmds=["python", "-c", _script("nifi_run.py")],
        env_vars=[
            k8s.V1EnvVar(name="NIFI_API_URL", value=PLATFORM.nifi_api_url),
            k8s.V1EnvVar(name="PROCESS_GROUP_NAME", value=domain.slug),
            k8s.V1EnvVar(name="TIMEOUT_SECONDS", value="3600"),
        ],
        volumes=[
            k8s.V1Volume(
                name="client-cert",
                secret=k8s.V1SecretVolumeSource(secret_name=settings.NIFI_CLIENT_CERT_SECRET),
            )
        ],
        volume_mounts=[k8s.V1VolumeMount(name="client-cert", mount_path="/etc/nifi-client", read_only=True)],
        security_context=_pod_security(1000),
        container_security_context=_container_security(),
        container_resources=_resources("50m", "64Mi", "200m", "128Mi"),
        automount_service_account_token=False,
        labels={**LABELS, "data-platform/domain": domain.slug},
        in_cluster=True,
        get_logs=True,
        on_finish_action="delete_pod",
        startup_timeout_seconds=300,
        execution_timeout=None,
    )


def spark_application(domain: Domain) -> dict:
    """SparkApplication appending the domain's landed files to the raw Iceberg tables."""
    security = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    pod_security = {
        "runAsNonRoot": True,
        "runAsUser": 185,
        "runAsGroup": 185,
        "fsGroup": 185,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    labels = {**LABELS, "data-platform/domain": domain.slug}
    mounts = [
        {"name": "jobs", "mountPath": "/opt/spark/jobs", "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    s3_env = [{"secretRef": {"name": settings.PIPELINE_S3_SECRET}}]
    return {
        "apiVersion": "sparkoperator.k8s.io/v1beta2",
        "kind": "SparkApplication",
        "metadata": {"name": f"ingest-{domain.slug}", "namespace": PLATFORM.processing_namespace},
        "spec": {
            "type": "Python",
            "pythonVersion": "3",
            "mode": "cluster",
            "image": settings.SPARK_IMAGE,
            "imagePullPolicy": "IfNotPresent",
            "sparkVersion": settings.SPARK_VERSION,
            "mainApplicationFile": "local:///opt/spark/jobs/ingest_landing.py",
            "arguments": [
                "--domain", domain.slug,
                "--bucket", domain.landing_bucket,
                "--catalog", settings.ICEBERG_CATALOG,
                "--schema", settings.RAW_SCHEMA,
                "--run-id", "{{ run_id }}",
            ],
            "deps": {"packages": list(settings.SPARK_PACKAGES)},
            "sparkConf": {
                "spark.jars.ivy": "/tmp/.ivy2",
                "spark.sql.extensions": "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions",
                "spark.hadoop.fs.s3a.endpoint": PLATFORM.s3_endpoint,
                "spark.hadoop.fs.s3a.endpoint.region": PLATFORM.s3_region,
                "spark.hadoop.fs.s3a.path.style.access": "true",
                "spark.hadoop.fs.s3a.aws.credentials.provider": "com.amazonaws.auth.EnvironmentVariableCredentialsProvider",
                "spark.dynamicAllocation.shuffleTracking.enabled": "true",
            },
            "dynamicAllocation": {
                "enabled": True,
                "initialExecutors": 1,
                "minExecutors": 1,
                "maxExecutors": PLATFORM.spark_max_executors,
            },
            "restartPolicy": {"type": "Never"},
            "timeToLiveSeconds": 86400,
            "volumes": [
                {"name": "jobs", "configMap": {"name": settings.SPARK_JOBS_CONFIGMAP}},
                {"name": "tmp", "emptyDir": {"sizeLimit": "2Gi"}},
            ],
            "driver": {
                "cores": 1,
                "coreLimit": "1",
                "memory": "2g",
                "serviceAccount": settings.SPARK_SERVICE_ACCOUNT,
                "labels": labels,
                "env": [
                    {"name": "ICEBERG_CATALOG_URI", "value": PLATFORM.iceberg_catalog_uri},
                    {"name": "ICEBERG_WAREHOUSE", "value": settings.ICEBERG_WAREHOUSE},
                    {"name": "TOKEN_URL", "value": PLATFORM.token_url},
                    {"name": "S3_ENDPOINT", "value": PLATFORM.s3_endpoint},
                    {"name": "S3_REGION", "value": PLATFORM.s3_region},
                    {"name": "KEYCLOAK_CLIENT_ID", "valueFrom": {"secretKeyRef": {"name": settings.PIPELINE_CLIENT_SECRET, "key": "client-id"}}},
                    {"name": "KEYCLOAK_CLIENT_SECRET", "valueFrom": {"secretKeyRef": {"name": settings.PIPELINE_CLIENT_SECRET, "key": "client-secret"}}},
                ],
                "envFrom": s3_env,
                "volumeMounts": mounts,
                "securityContext": security,
                "podSecurityContext": pod_security,
            },
            "executor": {
                "cores": 1,
                "coreLimit": "1",
                "memory": "2g",
                "labels": labels,
                "envFrom": s3_env,
                "volumeMounts": mounts[1:],
                "securityContext": security,
                "podSecurityContext": pod_security,
            },
        },
    }


def spark_ingest(domain: Domain) -> SparkKubernetesOperator:
    return SparkKubernetesOperator(
        task_id="spark_load_iceberg",
        name=f"ingest-{domain.slug}",
        namespace=PLATFORM.processing_namespace,
        template_spec={"spark": spark_application(domain)},
        in_cluster=True,
        get_logs=True,
        delete_on_termination=True,
        startup_timeout_seconds=900,
    )


def dbt_build(trigger_rule: str = "all_success") -> KubernetesPodOperator:
    """`dbt build` of the project in dbt/ on Trino (pod in the processing namespace).

    The pod clones this repository (git-sync, one shot), installs the pinned
    dbt-trino adapter into a scratch volume, then runs scripts/dbt_run.py.
    """
    workspace = k8s.V1VolumeMount(name="workspace", mount_path="/workspace")
    tmp = k8s.V1VolumeMount(name="tmp", mount_path="/tmp")
    home = k8s.V1EnvVar(name="HOME", value="/tmp")
    clone = k8s.V1Container(
        name="clone",
        image=settings.GIT_SYNC_IMAGE,
        args=[
            f"--repo={settings.REPO_URL}",
            f"--ref={settings.REPO_REVISION}",
            "--root=/workspace/git",
            "--link=repo",
            "--depth=1",
            "--one-time",
        ],
        env=[home],
        env_from=[k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(name=settings.PIPELINE_GIT_SECRET))],
        volume_mounts=[workspace, tmp],
        security_context=_container_security(),
        resources=_resources("50m", "64Mi", "500m", "256Mi"),
    )
    install = k8s.V1Container(
        name="install-dbt",
        image=settings.PYTHON_IMAGE,
        command=["pip", "install", "--quiet", "--no-cache-dir", "--disable-pip-version-check",
                 "--target", "/workspace/site-packages",
                 f"dbt-core=={settings.DBT_CORE_VERSION}", f"dbt-trino=={settings.DBT_TRINO_VERSION}"],
        env=[home],
        volume_mounts=[workspace, tmp],
        security_context=_container_security(),
        resources=_resources("250m", "256Mi", "1", "512Mi"),
    )
    return KubernetesPodOperator(
        task_id="dbt_build",
        trigger_rule=trigger_rule,
        name="dbt-build",
        namespace=PLATFORM.processing_namespace,
        image=settings.PYTHON_IMAGE,
        cmds=["python", "-c", _script("dbt_run.py")],
        env_vars=[
            home,
            k8s.V1EnvVar(name="PYTHONPATH", value="/workspace/site-packages"),
            k8s.V1EnvVar(name="DBT_PROJECT_DIR", value="/workspace/git/repo/dbt"),
            k8s.V1EnvVar(name="DBT_TARGET", value=PLATFORM.environment),
            k8s.V1EnvVar(name="DBT_TRINO_HOST", value=PLATFORM.trino_host),
            k8s.V1EnvVar(name="DBT_TRINO_PORT", value=str(PLATFORM.trino_port)),
            k8s.V1EnvVar(name="TOKEN_URL", value=PLATFORM.token_url),
            _secret_env("KEYCLOAK_CLIENT_ID", settings.PIPELINE_CLIENT_SECRET, "client-id"),
            _secret_env("KEYCLOAK_CLIENT_SECRET", settings.PIPELINE_CLIENT_SECRET, "client-secret"),
        ],
        init_containers=[clone, install],
        volumes=[
            k8s.V1Volume(name="workspace", empty_dir=k8s.V1EmptyDirVolumeSource(size_limit="2Gi")),
            k8s.V1Volume(name="tmp", empty_dir=k8s.V1EmptyDirVolumeSource(size_limit="256Mi")),
        ],
        volume_mounts=[workspace, tmp],
        security_context=_pod_security(1000),
        container_security_context=_container_security(),
        container_resources=_resources("500m", "1Gi", "2", "2Gi"),
        automount_service_account_token=False,
        labels=LABELS,
        in_cluster=True,
        get_logs=True,
        on_finish_action="delete_pod",
        startup_timeout_seconds=600,
    )
