//! Output directories that appear whole or not at all.
//!
//! Files are written into a staging directory beside the destination and moved into place only
//! when every one of them was written, so a failure never leaves half an output behind.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

pub struct Staged {
    staging: PathBuf,
    dest: PathBuf,
    files: Vec<PathBuf>,
}

impl Staged {
    pub fn new(dest: &Path) -> Result<Staged> {
        let parent = dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| "out".into());
        let staging = parent.join(format!(".{name}.staging-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir_all(&staging)
            .with_context(|| format!("cannot create {}", staging.display()))?;
        Ok(Staged {
            staging,
            dest: dest.to_path_buf(),
            files: vec![],
        })
    }

    /// Path of a file in the staging area (for tools that write files themselves).
    pub fn path(&self, name: &str) -> PathBuf {
        self.staging.join(name)
    }

    pub fn write(&mut self, name: &str, contents: impl AsRef<[u8]>) -> Result<PathBuf> {
        let p = self.path(name);
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&p, contents).with_context(|| format!("cannot write {}", p.display()))?;
        self.files.push(PathBuf::from(name));
        Ok(self.dest.join(name))
    }

    /// Records a file a tool wrote into the staging area.
    pub fn adopt(&mut self, name: &str) {
        self.files.push(PathBuf::from(name));
    }

    /// Moves every staged file into the destination.
    pub fn commit(self) -> Result<()> {
        std::fs::create_dir_all(&self.dest)
            .with_context(|| format!("cannot create {}", self.dest.display()))?;
        for f in &self.files {
            let to = self.dest.join(f);
            if let Some(dir) = to.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::rename(self.staging.join(f), &to)
                .with_context(|| format!("cannot move into {}", to.display()))?;
        }
        let _ = std::fs::remove_dir_all(&self.staging);
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.staging);
    }
}
