//! `socle hook install`: the git pre-commit hook that checks what is staged.

use std::io::Write;
use std::path::Path;

/// First lines of the hook socle writes; recognising it makes reinstalling safe.
pub(crate) const HOOK: &str = "#!/bin/sh\n# Installed by `socle hook install`: check what is staged for the next\n# commit against the repository's policies (socle must be on PATH).\nexec socle check --staged --cache .\n";

/// Hooks earlier versions of `socle hook install` wrote: socle's own, so
/// replaced without `--force`.
pub(crate) const OLD_HOOKS: [&str; 1] = ["#!/bin/sh\n# Installed by `socle hook install`: check the repository against its\n# policies before each commit (socle must be on PATH).\nexec socle check --cache .\n"];

pub(crate) fn hook_install(dir: &Path, force: bool) -> anyhow::Result<u8> {
    let hooks = socle::git::hooks_dir(dir)?;
    if !force && !socle::git::is_inside_repository(dir, &hooks) {
        anyhow::bail!(
            "core.hooksPath points at {}, outside this repository: a hook there runs for every repository that uses it; pass --force to install it there anyway",
            hooks.display()
        );
    }
    let path = hooks.join("pre-commit");
    if let Ok(existing) = fs_err::read_to_string(&path) {
        if existing != HOOK && !OLD_HOOKS.contains(&existing.as_str()) && !force {
            anyhow::bail!(
                "{} exists and was not written by socle; pass --force to replace it",
                path.display()
            );
        }
    }
    fs_err::create_dir_all(&hooks)?;
    fs_err::write(&path, HOOK)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    }
    writeln!(std::io::stdout(), "Installed {}", path.display())?;
    Ok(0)
}
