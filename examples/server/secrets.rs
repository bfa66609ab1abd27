//! The server example's generated secrets: `<db>.secrets.json`, holding the API key and
//! the JWT secret, readable by its owner only.
//!
//! The file is written whole under a temporary name created with mode 0600 (never
//! visible at a wider mode, never half-written under its real name), synced, then
//! linked to its name, which fails rather than replace a file another process created
//! meanwhile. A secrets file that others can read (group or world bits) is refused at
//! start instead of being used or silently fixed: its secrets may already have leaked
//! and must be rotated. Guarded by `tests/clients/node/secrets.test.js`.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The generated secrets.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Secrets {
    pub api_key: String,
    pub jwt_secret: String,
}

/// 32 random bytes, in hex.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Loads `<db>.secrets.json`, creating it (mode 0600) with fresh secrets the first
/// time; `true` when it was created. A file others may read is an error.
pub fn load_or_create(db: &Path) -> std::io::Result<(Secrets, PathBuf, bool)> {
    let mut path = db.as_os_str().to_owned();
    path.push(".secrets.json");
    let path = PathBuf::from(path);
    match fs::File::open(&path) {
        Ok(file) => return load(&path, file).map(|secrets| (secrets, path, false)),
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error),
        Err(_) => {}
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent)?;
    }
    let secrets = Secrets {
        api_key: random_secret(),
        jwt_secret: random_secret(),
    };
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".{}.tmp", std::process::id()));
    let temporary = PathBuf::from(temporary);
    let written = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)?;
        file.write_all(serde_json::to_string_pretty(&secrets)?.as_bytes())?;
        file.sync_all()?;
        fs::hard_link(&temporary, &path)
    })();
    let _ = fs::remove_file(&temporary);
    written?;
    Ok((secrets, path, true))
}

fn load(path: &Path, mut file: fs::File) -> std::io::Result<Secrets> {
    let mode = file.metadata()?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(std::io::Error::other(format!(
            "{} is readable by others (mode {:o}): its secrets may have leaked; rotate them, \
             then `chmod 600` it",
            path.display(),
            mode & 0o777
        )));
    }
    let mut text = String::new();
    std::io::Read::read_to_string(&mut file, &mut text)?;
    serde_json::from_str(&text)
        .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())))
}
