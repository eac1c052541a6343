//! The command line: every subcommand, its arguments and its help text.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "socle",
    version,
    about = "GitOps repository generator and policy checker for Kubernetes data platforms"
)]
pub(crate) struct Cli {
    /// When to colour the output: auto (a terminal, unless NO_COLOR is set
    /// or TERM is dumb; CLICOLOR_FORCE forces it unless NO_COLOR is set),
    /// always or never.
    #[arg(long, global = true, value_enum, default_value = "auto")]
    pub(crate) color: ColorWhen,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ListFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ColorWhen {
    Auto,
    Always,
    Never,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Render a client's GitOps monorepo from a spec and commit it.
    #[command(
        after_help = "Examples:\n  socle new                                   # the embedded example client, into ./acme-platform\n  socle spec example > socle.yaml && socle new --spec socle.yaml --out ../client-platform\n  socle new --spec - --no-git --out /tmp/p < socle.yaml"
    )]
    New(NewArgs),
    /// Print the example spec or the spec's JSON Schema.
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  socle spec example > socle.yaml\n  socle spec schema > socle.schema.json"
    )]
    Spec(SpecCommand),
    /// Print the JSON Schema of a file socle reads or writes.
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  socle schema report > report.schema.json\n  socle schema config   # socle-check.yaml"
    )]
    Schema(SchemaCommand),
    /// Check a repository against the embedded and the repository's policies.
    #[command(
        after_help = "Examples:\n  socle check                                 # the current directory, text report\n  socle check --range origin/main..HEAD --format sarif=socle.sarif --format github\n  socle check --staged --cache   # what a pre-commit hook runs\n  socle check --data exclusions/ --combine   # conftest-style policies"
    )]
    Check(CheckArgs),
    /// List, explain or test policies.
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  socle policy list\n  socle policy explain SOC-K8S-002\n  socle policy test ."
    )]
    Policy(PolicyCommand),
    /// Git hooks.
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  socle hook install\n  socle hook install ../client-platform --force"
    )]
    Hook(HookCommand),
    /// What re-rendering the repository would change (exit 1 on drift), or
    /// with --env A..B what separates two environments.
    #[command(
        after_help = "Examples:\n  socle diff --stat\n  socle diff --spec new-socle.yaml\n  socle diff --env staging..prod"
    )]
    Diff(DiffArgs),
    /// Apply a new spec or a new socle's blueprint by three-way merge,
    /// keeping the team's edits.
    #[command(
        after_help = "Examples:\n  socle update --dry-run\n  socle update --spec socle.yaml\n  socle update --resume"
    )]
    Update(UpdateArgs),
    /// Copy chart versions and image tags of one environment into the next.
    #[command(
        after_help = "Examples:\n  socle promote staging prod --dry-run\n  socle promote dev staging ../client-platform"
    )]
    Promote {
        /// The environment whose settings travel (e.g. staging).
        from: String,
        /// The environment that receives them (e.g. prod).
        to: String,
        /// The repository.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Print the changes; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// `json`: the settings promoted and not, and each file's diff.
        #[arg(long, value_enum, default_value = "text")]
        format: ListFormat,
    },
    /// Evaluates repository policies for another socle process (internal).
    #[command(hide = true)]
    PolicyWorker,
    /// Print the modelled system of each environment: Applications by
    /// wave and the connections between them, broken links highlighted.
    #[command(
        after_help = "Examples:\n  socle graph --env prod\n  socle graph --format json > systems.json"
    )]
    Graph {
        /// The repository.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Only this environment.
        #[arg(long)]
        env: Option<String>,
        #[arg(long, value_enum, default_value = "mermaid")]
        format: socle::check::system::graph::GraphFormat,
    },
    /// The system model the system rules read.
    #[command(subcommand)]
    #[command(after_help = "Examples:\n  socle system schema > system.schema.json")]
    System(SystemCommand),
    /// The blueprints this socle renders: their components, options and
    /// targets.
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  socle blueprint list\n  socle blueprint show NAME --format json"
    )]
    Blueprint(BlueprintCommand),
    /// The secret-store entries the repository's ExternalSecrets read.
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  socle secrets list --env prod\n  socle secrets list --format json"
    )]
    Secrets(SecretsCommand),
    /// Print a shell completion script (e.g. `socle completions bash >
    /// ~/.local/share/bash-completion/completions/socle`).
    #[command(
        after_help = "Examples:\n  socle completions bash > ~/.local/share/bash-completion/completions/socle\n  socle completions zsh > \"${fpath[1]}/_socle\""
    )]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print socle's man page (roff), e.g. `socle man > ~/.local/share/man/man1/socle.1`.
    #[command(
        after_help = "Examples:\n  socle man > ~/.local/share/man/man1/socle.1 && man socle"
    )]
    Man,
    /// Where a generated file comes from.
    #[command(
        after_help = "Examples:\n  socle why argocd/prod/applications/cert-manager.yaml\n  socle why components/cert-manager/values-prod.yaml ../client-platform"
    )]
    Why {
        /// The file, relative to the repository.
        file: String,
        /// The repository (default: the current directory).
        dir: Option<PathBuf>,
        /// The repository, as earlier versions took it.
        #[arg(long = "dir", hide = true, conflicts_with = "dir")]
        dir_flag: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub(crate) enum SecretsCommand {
    /// Print every secret-store entry the repository expects, per
    /// environment, with the components and ExternalSecrets that read it.
    List {
        /// The repository.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Only this environment.
        #[arg(long)]
        env: Option<String>,
        #[arg(long, value_enum, default_value = "text")]
        format: socle::secrets::SecretsFormat,
    },
}

#[derive(Subcommand)]
pub(crate) enum BlueprintCommand {
    /// One line per blueprint: name, version, components, targets.
    List {
        #[arg(long, value_enum, default_value = "text")]
        format: ListFormat,
    },
    /// A blueprint's namespaces, components (with the spec choices that
    /// enable them), options and targets.
    Show {
        /// The blueprint (default: the only one).
        name: Option<String>,
        #[arg(long, value_enum, default_value = "text")]
        format: ListFormat,
    },
}

#[derive(Subcommand)]
pub(crate) enum SystemCommand {
    /// Print the JSON Schema of the system input (for writing system rules).
    Schema,
}

#[derive(clap::Args)]
pub(crate) struct DiffArgs {
    /// The repository (made by `socle new`).
    #[arg(default_value = ".")]
    pub(crate) dir: PathBuf,
    /// One line per file instead of the diff.
    #[arg(long)]
    pub(crate) stat: bool,
    /// Render from this spec instead of the repository's socle.yaml.
    #[arg(long, value_name = "FILE", conflicts_with = "env")]
    pub(crate) spec: Option<PathBuf>,
    /// Compare two environments of the repository instead, e.g. dev..prod.
    #[arg(long, value_name = "A..B")]
    pub(crate) env: Option<String>,
    /// `json`: one object per file (or, with --env, per component), for
    /// tools; with --env, `table` (a terminal) and `markdown` (a pull
    /// request) show components by settings side by side. The exit code is
    /// the same.
    #[arg(long, value_enum, default_value = "text")]
    pub(crate) format: DiffFormat,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum DiffFormat {
    Text,
    Json,
    Table,
    Markdown,
}

#[derive(clap::Args)]
pub(crate) struct UpdateArgs {
    /// The repository (made by `socle new`).
    #[arg(default_value = ".")]
    pub(crate) dir: PathBuf,
    /// The new spec (default: the repository's socle.yaml, for a new socle).
    #[arg(long, value_name = "FILE")]
    pub(crate) spec: Option<PathBuf>,
    /// Print the plan; change nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Update even though tracked files differ from HEAD.
    #[arg(long)]
    pub(crate) allow_dirty: bool,
    /// Finish an update that was interrupted (the files it already wrote
    /// are kept as they are).
    #[arg(long, conflicts_with = "dry_run")]
    pub(crate) resume: bool,
    /// `json`: the plan (each file's action and state), the conflicts and
    /// the check's counts; the exit code is the same.
    #[arg(long, value_enum, default_value = "text")]
    pub(crate) format: ListFormat,
}

#[derive(Subcommand)]
pub(crate) enum HookCommand {
    /// Write a pre-commit hook that runs `socle check` before each commit.
    Install {
        /// The repository.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Replace an existing pre-commit hook that socle did not write.
        #[arg(long)]
        force: bool,
    },
}

#[derive(clap::Args)]
pub(crate) struct CheckArgs {
    /// Repository to check.
    #[arg(default_value = ".")]
    pub(crate) dir: PathBuf,
    /// Print the JSON Schema of socle-check.yaml (the repository's check
    /// configuration) and exit.
    #[arg(long, exclusive = true)]
    pub(crate) config_schema: bool,
    /// Report format: text, json, junit, sarif, github or gitlab, to
    /// stdout, or FORMAT=FILE to write it to a file. Repeatable, so one run
    /// writes every report a CI job needs (`--format sarif=socle.sarif
    /// --format github`); at most one goes to stdout.
    #[arg(long, value_name = "FORMAT[=FILE]", default_value = "text")]
    pub(crate) format: Vec<socle::check::report::Output>,
    /// Also fail (exit 1) on warnings.
    #[arg(long, value_enum, default_value = "deny")]
    pub(crate) fail_on: FailOn,
    /// Parse repository policies as Rego v0 (like conftest --rego-version v0).
    #[arg(long)]
    pub(crate) rego_v0: bool,
    /// Run only this package of the repository's policies (repeatable; like
    /// conftest --namespace, e.g. `main` or `kubernetes.admission`).
    #[arg(long, value_name = "PACKAGE")]
    pub(crate) namespace: Vec<String>,
    /// Run every package of the repository's policies (the default; like
    /// conftest --all-namespaces).
    #[arg(long, conflicts_with = "namespace")]
    pub(crate) all_namespaces: bool,
    /// JSON or YAML documents the repository's policies read as `data`
    /// (repeatable; a folder is walked, each file merged under its folder's
    /// path; like conftest --data).
    #[arg(long, value_name = "FILE|DIR")]
    pub(crate) data: Vec<PathBuf>,
    /// Give the repository's policies every document in one input, an array
    /// of {path, contents} (like conftest --combine).
    #[arg(long)]
    pub(crate) combine: bool,
    #[command(flatten)]
    pub(crate) bounds: PolicyBounds,
    /// Ignore the repository's own policies/*.rego.
    #[arg(long)]
    pub(crate) no_local_policies: bool,
    /// Also build every kustomize overlay (kustomize or kubectl on PATH) and
    /// check the rendered documents.
    #[arg(long, conflicts_with_all = ["range", "commit"])]
    pub(crate) render: bool,
    /// Check every commit of BASE..HEAD from the git object database and
    /// judge the range on what it introduces.
    #[arg(long, value_name = "BASE..HEAD", conflicts_with = "commit")]
    pub(crate) range: Option<String>,
    /// Check the tree of one commit (no checkout needed).
    #[arg(long, value_name = "REV")]
    pub(crate) commit: Option<String>,
    /// Check what is staged for the next commit (the index), not the
    /// working tree: what a pre-commit hook must judge.
    #[arg(long, conflicts_with_all = ["range", "commit", "render"])]
    pub(crate) staged: bool,
    /// With --range: fail when any commit introduces a denial, even one fixed later.
    #[arg(long, requires = "range")]
    pub(crate) every_commit_must_pass: bool,
    /// With --range: changes to policies/ are denials, not warnings.
    #[arg(long, requires = "range")]
    pub(crate) protect_policies: bool,
    /// Keep per-file results between runs, in DIR (default: the user's cache
    /// directory, $XDG_CACHE_HOME/socle or ~/.cache/socle, one folder per
    /// repository; never inside the repository). Safe to delete; safe to
    /// share between concurrent runs.
    // `=` required: `--cache .` must not read as a cache in "." and no DIR.
    #[arg(long, value_name = "DIR", num_args = 0..=1, require_equals = true)]
    #[allow(clippy::option_option)]
    pub(crate) cache: Option<Option<std::path::PathBuf>>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum FailOn {
    Deny,
    Warn,
}

#[derive(Subcommand)]
pub(crate) enum PolicyCommand {
    /// List every embedded rule.
    List {
        /// `json`: every rule with its severity, title, remediation,
        /// example and profile.
        #[arg(long, value_enum, default_value = "text")]
        format: ListFormat,
    },
    /// Show one rule with its remediation and an example it rejects.
    Explain {
        /// Rule id, e.g. SOC-K8S-001.
        id: String,
    },
    /// Run the test_ rules of *_test.rego files (embedded, and DIR/policies when given).
    Test {
        /// A repository whose policies/ to test as well.
        dir: Option<PathBuf>,
        /// Parse repository policies as Rego v0.
        #[arg(long)]
        rego_v0: bool,
        #[command(flatten)]
        bounds: PolicyBounds,
    },
}

/// The bounds of the repository's own policies, which run in a process
/// of their own: hitting one is a SOC-POL-001 finding naming it.
#[derive(clap::Args)]
pub(crate) struct PolicyBounds {
    /// Time limit of one repository-policy query (one rule on one file),
    /// in milliseconds.
    #[arg(long, default_value_t = 5000, value_name = "MS",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) policy_timeout: u64,
    /// Memory the repository policies' evaluation may use, in MiB.
    #[arg(long, default_value_t = 1024, value_name = "MIB",
          value_parser = clap::value_parser!(u64).range(16..=1 << 20))]
    pub(crate) policy_memory: u64,
}

impl PolicyBounds {
    pub(crate) fn bounds(&self) -> socle::check::sandbox::Bounds {
        socle::check::sandbox::Bounds {
            time: std::time::Duration::from_millis(self.policy_timeout),
            memory: self.policy_memory << 20,
        }
    }
}

#[derive(clap::Args)]
pub(crate) struct NewArgs {
    /// Client spec (socle.yaml; `-` reads it from standard input). Without
    /// it, the embedded example (client "acme").
    #[arg(long, value_name = "FILE")]
    pub(crate) spec: Option<PathBuf>,
    /// Output directory [default: ./<client slug>-platform].
    #[arg(long, value_name = "DIR")]
    pub(crate) out: Option<PathBuf>,
    /// Replace a non-empty output directory (refused when it holds a git
    /// repository with uncommitted changes, untracked files or unpushed commits).
    #[arg(long)]
    pub(crate) force: bool,
    /// With --force: replace the directory even though that destroys its
    /// repository's uncommitted changes, untracked files and unpushed commits.
    #[arg(long, requires = "force")]
    pub(crate) discard_work: bool,
    /// Do not create a git repository.
    #[arg(long)]
    pub(crate) no_git: bool,
    /// Author of the initial commit, "Name <email>" (overrides the spec).
    #[arg(long, value_name = "NAME <EMAIL>")]
    pub(crate) author: Option<String>,
    /// Render from this blueprint directory instead of the embedded one.
    #[arg(long, value_name = "DIR")]
    pub(crate) blueprints: Option<PathBuf>,
    /// Read environment defaults from this directory instead of the embedded ones.
    #[arg(long, value_name = "DIR")]
    pub(crate) environments: Option<PathBuf>,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub(crate) quiet: bool,
}

#[derive(Subcommand)]
pub(crate) enum SchemaCommand {
    /// The report of `socle check --format json`.
    Report,
    /// The client spec, socle.yaml.
    Spec,
    /// The check configuration, socle-check.yaml.
    Config,
    /// The system model the system rules read.
    System,
}

#[derive(Subcommand)]
pub(crate) enum SpecCommand {
    /// Print a commented example spec.
    Example {
        /// The blueprint the example is for (`socle blueprint list`).
        #[arg(long)]
        blueprint: Option<String>,
    },
    /// Print the JSON Schema of socle.yaml.
    Schema {
        /// The blueprint the spec is for (`socle blueprint list`); the
        /// default one when absent.
        #[arg(long)]
        blueprint: Option<String>,
    },
}
