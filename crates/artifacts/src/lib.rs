//! Where finished export zips live until they expire: a local directory by default, or an
//! S3-compatible bucket, so that any API replica can serve a download any worker wrote.

use std::path::Path as FsPath;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::buffered::BufWriter;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt};
use tokio::io::AsyncWriteExt;

/// What went wrong with the artifact store.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The store could not be set up from its configuration.
    #[error("cannot open the artifact store {target}: {reason}")]
    Open {
        /// The directory or URL.
        target: String,
        /// Why.
        reason: String,
    },
    /// Reading, writing or deleting an artifact failed.
    #[error("artifact {key}: {source}")]
    Io {
        /// The artifact's key.
        key: String,
        /// The store's error.
        #[source]
        source: object_store::Error,
    },
    /// Copying a local file into the store failed.
    #[error("artifact {key}: {source}")]
    Copy {
        /// The artifact's key.
        key: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// The artifact store, cheap to clone.
#[derive(Clone, Debug)]
pub struct Artifacts {
    store: Arc<dyn ObjectStore>,
    target: String,
}

/// A stored artifact's bytes, as a stream.
pub struct Download {
    /// Its size in bytes.
    pub size: u64,
    /// Its content.
    pub stream: BoxStream<'static, Result<Bytes, std::io::Error>>,
}

impl Artifacts {
    /// The store at `url` (`s3://bucket/prefix`, credentials and endpoint from the standard
    /// `AWS_*` environment variables) or, without a URL, the directory `dir` (created).
    pub fn open(dir: &FsPath, url: Option<&str>) -> Result<Self, ArtifactError> {
        match url {
            Some(url) => {
                let fail = |reason: String| ArtifactError::Open {
                    target: url.to_owned(),
                    reason,
                };
                let rest = url
                    .strip_prefix("s3://")
                    .ok_or_else(|| fail("only s3:// URLs are supported".to_owned()))?;
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                let s3 = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .build()
                    .map_err(|err| fail(err.to_string()))?;
                let store: Arc<dyn ObjectStore> = if prefix.trim_matches('/').is_empty() {
                    Arc::new(s3)
                } else {
                    Arc::new(PrefixStore::new(s3, prefix.trim_matches('/')))
                };
                Ok(Self {
                    store,
                    target: url.to_owned(),
                })
            }
            None => {
                let target = dir.display().to_string();
                let fail = |reason: String| ArtifactError::Open {
                    target: target.clone(),
                    reason,
                };
                std::fs::create_dir_all(dir).map_err(|err| fail(err.to_string()))?;
                let local = LocalFileSystem::new_with_prefix(dir)
                    .map_err(|err| fail(err.to_string()))?
                    .with_automatic_cleanup(true);
                Ok(Self {
                    store: Arc::new(local),
                    target,
                })
            }
        }
    }

    /// Where the artifacts are, for logs.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Copies the local file at `file` into the store under `key` (multipart for large files,
    /// never whole in memory); returns its size.
    pub async fn put_file(&self, key: &str, file: &FsPath) -> Result<u64, ArtifactError> {
        let copy = |source: std::io::Error| ArtifactError::Copy {
            key: key.to_owned(),
            source,
        };
        let mut source = tokio::fs::File::open(file).await.map_err(copy)?;
        let mut writer = BufWriter::new(Arc::clone(&self.store), Path::from(key));
        let size = tokio::io::copy(&mut source, &mut writer)
            .await
            .map_err(copy)?;
        writer.shutdown().await.map_err(copy)?;
        Ok(size)
    }

    /// The artifact `key`, streamed.
    pub async fn get(&self, key: &str) -> Result<Download, ArtifactError> {
        let found = self
            .store
            .get(&Path::from(key))
            .await
            .map_err(|source| ArtifactError::Io {
                key: key.to_owned(),
                source,
            })?;
        let size = found.meta.size;
        let stream = found
            .into_stream()
            .map_err(|err| std::io::Error::other(err.to_string()))
            .boxed();
        Ok(Download { size, stream })
    }

    /// Removes the artifact `key`; a missing one is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), ArtifactError> {
        match self.store.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(source) => Err(ArtifactError::Io {
                key: key.to_owned(),
                source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use futures_util::TryStreamExt;

    use super::Artifacts;

    #[tokio::test]
    async fn a_local_store_round_trips_and_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let artifacts = Artifacts::open(&dir.path().join("artifacts"), None).unwrap();
        let file = dir.path().join("input.bin");
        let content: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&file, &content).unwrap();
        assert_eq!(
            artifacts.put_file("exports/a.zip", &file).await.unwrap(),
            content.len() as u64
        );
        let download = artifacts.get("exports/a.zip").await.unwrap();
        assert_eq!(download.size, content.len() as u64);
        let chunks: Vec<bytes::Bytes> = download.stream.try_collect().await.unwrap();
        assert_eq!(chunks.concat(), content);
        artifacts.delete("exports/a.zip").await.unwrap();
        artifacts.delete("exports/a.zip").await.unwrap();
        assert!(artifacts.get("exports/a.zip").await.is_err());
    }
}
