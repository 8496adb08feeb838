//! Where import files come from: a directory or a `.zip` archive.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use crate::error::DataError;

/// The files of the import format, in the order they are read.
pub const KNOWN_FILES: [&str; 5] = [
    "identities.csv",
    "entitlements.csv",
    "assignments.csv",
    "usage.csv",
    "roles.csv",
];

/// An import: a directory holding the CSV files, or a zip holding them (at its root or in one
/// top-level folder).
#[derive(Debug)]
pub enum DataSource {
    /// A directory.
    Directory(PathBuf),
    /// A zip archive, with the folder prefix its files are under.
    Zip {
        /// The archive.
        archive: zip::ZipArchive<BufReader<File>>,
        /// `""` or `"folder/"`.
        prefix: String,
    },
}

impl DataSource {
    /// Opens `path` as a directory or a zip archive.
    pub fn open(path: &Path) -> Result<Self, DataError> {
        let shown = path.display().to_string();
        let metadata = std::fs::metadata(path)
            .map_err(|e| DataError::file(&shown, format!("cannot open: {e}")))?;
        if metadata.is_dir() {
            return Ok(DataSource::Directory(path.to_path_buf()));
        }
        let file =
            File::open(path).map_err(|e| DataError::file(&shown, format!("cannot open: {e}")))?;
        let archive = zip::ZipArchive::new(BufReader::new(file)).map_err(|e| {
            DataError::file(
                &shown,
                format!("not a readable zip archive (truncated or corrupt?): {e}"),
            )
        })?;
        let prefix = zip_prefix(&archive);
        Ok(DataSource::Zip { archive, prefix })
    }

    /// Whether the import has `name`.
    pub fn has(&self, name: &str) -> bool {
        match self {
            DataSource::Directory(dir) => dir.join(name).is_file(),
            DataSource::Zip { archive, prefix } => {
                archive.index_for_name(&format!("{prefix}{name}")).is_some()
            }
        }
    }

    /// Runs `read` over file `name`'s bytes; `Ok(None)` when the file is absent.
    pub fn with_file<T>(
        &mut self,
        name: &str,
        read: impl FnOnce(&mut dyn Read) -> Result<T, DataError>,
    ) -> Result<Option<T>, DataError> {
        match self {
            DataSource::Directory(dir) => {
                let path = dir.join(name);
                if !path.is_file() {
                    return Ok(None);
                }
                let file = File::open(&path)
                    .map_err(|e| DataError::file(name, format!("cannot open: {e}")))?;
                let mut reader = BufReader::with_capacity(1 << 20, file);
                read(&mut reader).map(Some)
            }
            DataSource::Zip { archive, prefix } => {
                let entry = format!("{prefix}{name}");
                if archive.index_for_name(&entry).is_none() {
                    return Ok(None);
                }
                let file = archive
                    .by_name(&entry)
                    .map_err(|e| DataError::file(name, format!("cannot read from the zip: {e}")))?;
                let declared = file.size();
                let compressed = file.compressed_size().max(1);
                if declared > MAX_ENTRY_BYTES {
                    return Err(DataError::file(
                        name,
                        format!(
                            "the zip entry expands to {declared} bytes; at most {MAX_ENTRY_BYTES} are accepted"
                        ),
                    ));
                }
                if declared > RATIO_EXEMPT_BYTES && declared / compressed > MAX_RATIO {
                    return Err(DataError::file(
                        name,
                        format!(
                            "the zip entry expands {} times ({compressed} bytes to {declared}); at most {MAX_RATIO} times is accepted from an access-data file",
                            declared / compressed
                        ),
                    ));
                }
                // The header's size may lie: never read more than it declared.
                let mut limited = Declared {
                    inner: file,
                    left: declared,
                };
                read(&mut limited).map(Some)
            }
        }
    }
}

/// The largest uncompressed zip entry accepted.
pub const MAX_ENTRY_BYTES: u64 = 64 << 30;
/// The most a zip entry may expand by: access-data CSV compresses well under 20 times, a zip
/// bomb by thousands.
pub const MAX_RATIO: u64 = 100;
/// Entries up to this size may expand by any ratio (a small file of repeated rows is no bomb).
const RATIO_EXEMPT_BYTES: u64 = 16 << 20;

/// A zip entry's bytes, refused past the size its header declared.
struct Declared<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Declared<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the zip entry holds more bytes than its header declares",
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Files may sit at the archive root or inside a single folder (as zipping a folder makes them).
fn zip_prefix(archive: &zip::ZipArchive<BufReader<File>>) -> String {
    let at_root = KNOWN_FILES
        .iter()
        .any(|f| archive.index_for_name(f).is_some());
    if at_root {
        return String::new();
    }
    archive
        .file_names()
        .filter_map(|name| {
            let (folder, file) = name.rsplit_once('/')?;
            KNOWN_FILES.contains(&file).then(|| format!("{folder}/"))
        })
        .min()
        .unwrap_or_default()
}
