//! The map file HAProxy loads at start and reload: `key value` per line,
//! `#` comments. orbit owns the whole file and replaces it atomically (temp
//! file in the same directory, fsync, rename, fsync of the directory), so a
//! reload or a crash sees either the old or the new map, never half of one.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::error::Error;

/// Parses map file text into entries in file order.
pub fn parse(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.split_once([' ', '\t']) {
            Some((k, v)) => (k.to_owned(), v.trim().to_owned()),
            None => (l.to_owned(), String::new()),
        })
        .collect()
}

/// Renders entries as map file text with a header saying who wrote it.
pub fn render<'a>(
    entries: impl IntoIterator<Item = (&'a str, &'a str)>,
    generation: u64,
) -> String {
    let mut s = format!(
        "# written by orbitd (steering generation {generation}); do not edit: orbitd rewrites it\n"
    );
    for (k, v) in entries {
        s.push_str(k);
        s.push(' ');
        s.push_str(v);
        s.push('\n');
    }
    s
}

/// What errors call the map file.
const MAP_FILE: &str = "map file";

/// Reads the file; `None` if it does not exist.
pub fn read(path: &Path) -> Result<Option<String>, Error> {
    read_file(MAP_FILE, path)
}

/// Replaces the file's content atomically and durably.
pub fn write_atomic(path: &Path, contents: &str) -> Result<(), Error> {
    write_file_atomic(MAP_FILE, path, contents, Durability::PowerLoss)
}

/// What a replaced file must survive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Durability {
    /// A crash of the machine: the data and the rename are fsynced.
    PowerLoss,
    /// A crash of orbitd only (the page cache outlives it); for a file
    /// describing state that a machine crash loses anyway, so that
    /// nothing waits on the disk for it.
    ProcessCrash,
}

/// [`read`] of any file orbit keeps beside the map; `file` names it in errors.
pub(crate) fn read_file(file: &'static str, path: &Path) -> Result<Option<String>, Error> {
    match fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::MapFile {
            file,
            path: path.to_owned(),
            action: "read it",
            source,
        }),
    }
}

/// [`write_atomic`] of any file orbit keeps beside the map, as durable as
/// `durability` asks.
pub(crate) fn write_file_atomic(
    file: &'static str,
    path: &Path,
    contents: &str,
    durability: Durability,
) -> Result<(), Error> {
    let err = |action: &'static str| {
        move |source| Error::MapFile {
            file,
            path: path.to_owned(),
            action,
            source,
        }
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| Error::Invalid(format!("{file} path {} names no file", path.display())))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".orbit-{}.tmp", std::process::id()));
    let tmp = dir.join(tmp_name);
    let result = (|| {
        let mut f = fs::File::create(&tmp).map_err(err("create its temporary file"))?;
        f.write_all(contents.as_bytes())
            .map_err(err("write its temporary file"))?;
        if durability == Durability::PowerLoss {
            f.sync_all().map_err(err("fsync its temporary file"))?;
        }
        // Keep the permissions of the file being replaced (HAProxy may run
        // as another user that must read it).
        if let Ok(meta) = fs::metadata(path) {
            fs::set_permissions(&tmp, meta.permissions()).map_err(err("copy its permissions"))?;
        }
        fs::rename(&tmp, path).map_err(err("rename the temporary file over it"))?;
        if durability == Durability::ProcessCrash {
            return Ok(());
        }
        // The rename is durable only once the directory is.
        fs::File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(err("fsync its directory"))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_then_parse_round_trips() {
        let text = render([("web", "be_a"), ("db", "be_b")], 42);
        assert!(text.starts_with("# written by orbitd (steering generation 42)"));
        assert_eq!(
            parse(&text),
            vec![
                ("web".to_owned(), "be_a".to_owned()),
                ("db".to_owned(), "be_b".to_owned())
            ]
        );
    }

    #[test]
    fn parses_tabs_comments_and_blank_lines() {
        let text = "# c\n\n  web\tbe_a \nkeyonly\n";
        assert_eq!(
            parse(text),
            vec![
                ("web".to_owned(), "be_a".to_owned()),
                ("keyonly".to_owned(), String::new())
            ]
        );
    }

    #[test]
    fn write_replaces_and_keeps_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("orbit.map");
        write_atomic(&path, "a b\n").unwrap();
        write_atomic(&path, "a c\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "a c\n");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        assert_eq!(read(&dir.path().join("none")).unwrap(), None);
    }

    #[test]
    fn write_into_a_missing_directory_names_the_file() {
        let e = write_atomic(Path::new("/nonexistent-orbit-dir/orbit.map"), "a b\n").unwrap_err();
        assert!(
            e.to_string().contains("/nonexistent-orbit-dir/orbit.map"),
            "{e}"
        );
    }
}
