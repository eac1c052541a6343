"""Builders of the Kubernetes tasks of the pipelines.

Every pod runs in a platform namespace with the platform's pod security
settings (non-root, no privilege escalation, no capabilities, RuntimeDefault
seccomp, read-only root file system with emptyDir scratch space) and explicit
resources, like any manifest of this repository.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from kubernetes.client import models as k8s

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.cncf.kubernetes.operators.spark_kubernetes import SparkKubernetesOperator

from data_platform import settings
from data_platform.settings import PLATFORM, Domain

SCRIPTS = Path(__file__).parent / "scripts"
SPARK = Path(__file__).parent / "spark"
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


def _artifacts_env() -> list[k8s.V1EnvVar]:
    """Where the dbt pod copies the build's artifacts for the catalog (none when nothing reads them).

    Keys only for the cluster's store: in the cloud the pod signs in with
    its account's identity (DBT_SERVICE_ACCOUNT).
    """
    if not settings.DBT_ARTIFACTS_BUCKET:
        return []
    store = PLATFORM.artifacts_store
    env = [
        k8s.V1EnvVar(name="ARTIFACTS_BUCKET", value=PLATFORM.bucket(settings.DBT_ARTIFACTS_BUCKET)),
        k8s.V1EnvVar(name="ARTIFACTS_PREFIX", value=PLATFORM.environment),
        k8s.V1EnvVar(name="ARTIFACTS_STORE", value=store),
    ]
    if store == "gcs":
        return env
    env += [
        k8s.V1EnvVar(name="S3_ENDPOINT", value=PLATFORM.s3_endpoint),
        k8s.V1EnvVar(name="S3_REGION", value=PLATFORM.s3_region),
    ]
    if store == "store":
        env += [
            _secret_env("AWS_ACCESS_KEY_ID", settings.PIPELINE_S3, "AWS_ACCESS_KEY_ID"),
            _secret_env("AWS_SECRET_ACCESS_KEY", settings.PIPELINE_S3, "AWS_SECRET_ACCESS_KEY"),
        ]
    return env


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
    """SparkApplication appending the domain's landed files to the raw Iceberg tables.

    Everything but the domain and the run comes from the environment's
    template, spark/ingest-<environment>.yaml beside this module: image,
    jars, sizing and the executors' dynamic allocation differ per
    environment.
    """
    template = SPARK / f"ingest-{PLATFORM.environment}.yaml"
    app = yaml.safe_load(template.read_text())
    if app.get("kind") != "SparkApplication" or app["metadata"]["namespace"] != PLATFORM.processing_namespace:
        raise ValueError(f"{template.name} is not the SparkApplication of {PLATFORM.processing_namespace}")
    app["metadata"]["name"] = f"ingest-{domain.slug}"
    spec = app["spec"]
    spec["arguments"] = [
        "--domain", domain.slug,
        "--bucket", domain.landing_bucket,
        "--catalog", settings.ICEBERG_CATALOG,
        "--schema", settings.RAW_SCHEMA,
        "--run-id", "{{ run_id }}",
    ]
    for role in ("driver", "executor"):
        spec[role]["labels"] = {**spec[role].get("labels", {}), "data-platform/domain": domain.slug}
    return app


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
    dbt-trino adapter into a scratch volume (from the spec's PyPI mirror when
    it names one), then runs scripts/dbt_run.py.
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
    index = ["--index-url", settings.PYPI_INDEX] if settings.PYPI_INDEX else []
    lineage = [f"openlineage-dbt=={settings.OPENLINEAGE_DBT_VERSION}"] if settings.LINEAGE else []
    install = k8s.V1Container(
        name="install-dbt",
        image=settings.PYTHON_IMAGE,
        command=["pip", "install", "--quiet", "--no-cache-dir", "--disable-pip-version-check", *index,
                 "--target", "/workspace/site-packages",
                 f"dbt-core=={settings.DBT_CORE_VERSION}", f"dbt-trino=={settings.DBT_TRINO_VERSION}", *lineage],
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
            # dbt-ol runs the `dbt` script pip installed beside the packages.
            k8s.V1EnvVar(name="PATH", value="/workspace/site-packages/bin:/usr/local/bin:/usr/bin:/bin"),
            *_artifacts_env(),
        ],
        # OPENLINEAGE_URL, _ENDPOINT and _NAMESPACE, and the catalog's token
        # (optional: builds run before it exists).
        env_from=[
            k8s.V1EnvFromSource(config_map_ref=k8s.V1ConfigMapEnvSource(name=settings.PIPELINE_LINEAGE)),
            k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(name=settings.PIPELINE_LINEAGE, optional=True)),
        ]
        if settings.LINEAGE
        else None,
        init_containers=[clone, install],
        volumes=[
            k8s.V1Volume(name="workspace", empty_dir=k8s.V1EmptyDirVolumeSource(size_limit="2Gi")),
            k8s.V1Volume(name="tmp", empty_dir=k8s.V1EmptyDirVolumeSource(size_limit="256Mi")),
        ],
        volume_mounts=[workspace, tmp],
        security_context=_pod_security(1000),
        container_security_context=_container_security(),
        container_resources=_resources("500m", "1Gi", "2", "2Gi"),
        service_account_name=settings.DBT_SERVICE_ACCOUNT,
        automount_service_account_token=False,
        labels=LABELS,
        in_cluster=True,
        get_logs=True,
        on_finish_action="delete_pod",
        startup_timeout_seconds=600,
    )
