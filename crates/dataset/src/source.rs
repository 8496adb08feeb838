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
        let mut file =
            File::open(path).map_err(|e| DataError::file(&shown, format!("cannot open: {e}")))?;
        // The zip reader holds its whole central directory in memory: refuse a huge one
        // before it is read.
        check_directory(&mut file).map_err(|message| DataError::file(&shown, message))?;
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
        read: impl FnOnce(&mut (dyn Read + Send)) -> Result<T, DataError>,
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

/// The most entries an import zip may hold: five files, with room for folders and strays.
pub const MAX_ENTRIES: u64 = 1_000;
/// The largest central directory accepted (a thousand entries with long names fit easily).
const MAX_DIRECTORY_BYTES: u64 = 1 << 20;
/// The end-of-central-directory record: 22 bytes, then a comment of up to 65,535.
const END_RECORD: u64 = 22;
const MAX_COMMENT: u64 = 65_535;

fn le_u16(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from(u16::from_le_bytes(
        bytes.get(at..at + 2)?.try_into().ok()?,
    )))
}

fn le_u32(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from(u32::from_le_bytes(
        bytes.get(at..at + 4)?.try_into().ok()?,
    )))
}

fn le_u64(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// Reads the zip's entry count and central-directory size from its end records (zip64
/// included) and refuses more than [`MAX_ENTRIES`] or [`MAX_DIRECTORY_BYTES`]. A file without
/// an end record passes: the zip reader then says what is wrong with it.
fn check_directory(file: &mut File) -> Result<(), String> {
    use std::io::{Seek, SeekFrom};
    let io = |e: std::io::Error| format!("cannot read the zip: {e}");
    let length = file.metadata().map_err(io)?.len();
    let tail_length = length.min(END_RECORD + MAX_COMMENT + 20);
    file.seek(SeekFrom::Start(length - tail_length))
        .map_err(io)?;
    let mut tail = vec![0u8; usize::try_from(tail_length).unwrap_or(0)];
    file.read_exact(&mut tail).map_err(io)?;
    let Some(end) = (0..=tail.len().saturating_sub(END_RECORD as usize))
        .rev()
        .find(|&i| tail[i..].starts_with(b"PK\x05\x06"))
    else {
        return Ok(());
    };
    let mut entries = le_u16(&tail, end + 10).unwrap_or(0);
    let mut size = le_u32(&tail, end + 12).unwrap_or(0);
    if entries == 0xFFFF || size == 0xFFFF_FFFF {
        // zip64: a locator just before the end record points at the zip64 end record.
        let locator = end
            .checked_sub(20)
            .filter(|&at| tail[at..].starts_with(b"PK\x06\x07"));
        if let Some(offset) = locator.and_then(|at| le_u64(&tail, at + 8)) {
            let mut record = [0u8; 56];
            file.seek(SeekFrom::Start(offset)).map_err(io)?;
            file.read_exact(&mut record).map_err(io)?;
            if record.starts_with(b"PK\x06\x06") {
                entries = le_u64(&record, 32).unwrap_or(u64::MAX);
                size = le_u64(&record, 40).unwrap_or(u64::MAX);
            }
        }
    }
    if entries > MAX_ENTRIES {
        return Err(format!(
            "the zip holds {entries} entries; an import holds a few files, at most {MAX_ENTRIES} entries are accepted"
        ));
    }
    if size > MAX_DIRECTORY_BYTES {
        return Err(format!(
            "the zip's directory is {size} bytes long; at most {MAX_DIRECTORY_BYTES} are accepted"
        ));
    }
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    Ok(())
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::io::Write;

    use super::{DataSource, MAX_ENTRIES};

    fn zip_with(entries: u64) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        let mut zip = zip::ZipWriter::new(file.reopen().unwrap());
        for n in 0..entries {
            zip.start_file(
                format!("f{n}.csv"),
                zip::write::SimpleFileOptions::default(),
            )
            .unwrap();
            zip.write_all(b"x").unwrap();
        }
        zip.finish().unwrap();
        file
    }

    #[test]
    fn a_zip_with_too_many_entries_is_refused_before_its_directory_is_read() {
        assert!(DataSource::open(zip_with(5).path()).is_ok());
        let err = DataSource::open(zip_with(MAX_ENTRIES + 1).path()).unwrap_err();
        assert!(err.message.contains("1001 entries"), "{}", err.message);
        let not_zip = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(not_zip.path(), b"not a zip at all").unwrap();
        let err = DataSource::open(not_zip.path()).unwrap_err();
        assert!(
            err.message.contains("not a readable zip"),
            "{}",
            err.message
        );
    }
}
