//! The writer stage: where vectors go. Discard, or a `.npy` file (float32
//! `[n, dim]`, input order) whose header is rewritten after every batch, so
//! the file is a valid array at every moment, even if memsoak is killed.

use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::backend::Embedded;

/// A destination for embeddings.
pub trait Sink: Send {
    /// Store one batch.
    fn write(&mut self, batch: &Embedded) -> io::Result<()>;
    /// Flush everything.
    fn finish(&mut self) -> io::Result<()>;
}

/// Drops every vector (the default: the soak watches the embedder).
pub struct Discard;

impl Sink for Discard {
    fn write(&mut self, batch: &Embedded) -> io::Result<()> {
        std::hint::black_box(batch);
        Ok(())
    }
    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Fixed header size: room for any `(n, dim)` shape, so it can be rewritten
/// in place. Multiple of 64 as the format asks.
const HEADER_LEN: usize = 128;

/// Streams vectors into a `.npy` file readable by `numpy.load`.
pub struct NpyWriter {
    path: PathBuf,
    out: BufWriter<File>,
    rows: u64,
    dim: Option<usize>,
}

fn header(rows: u64, dim: usize) -> Vec<u8> {
    let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {dim}), }}");
    let mut h = b"\x93NUMPY\x01\x00".to_vec();
    let pad = HEADER_LEN - 10 - dict.len() - 1;
    h.extend_from_slice(&((HEADER_LEN - 10) as u16).to_le_bytes());
    h.extend_from_slice(dict.as_bytes());
    h.extend(std::iter::repeat_n(b' ', pad));
    h.push(b'\n');
    debug_assert_eq!(h.len(), HEADER_LEN);
    h
}

impl NpyWriter {
    /// Create `path`, which must not exist yet (an existing file is an
    /// earlier run's vectors: never replaced).
    pub fn create(path: &Path) -> io::Result<Self> {
        let mut out = BufWriter::new(File::create_new(path)?);
        out.write_all(&header(0, 0))?;
        out.flush()?;
        Ok(NpyWriter {
            path: path.into(),
            out,
            rows: 0,
            dim: None,
        })
    }

    fn rewrite_header(&mut self) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        self.out.flush()?;
        let h = header(self.rows, self.dim.unwrap_or(0));
        self.out.get_ref().write_all_at(&h, 0)
    }
}

impl Sink for NpyWriter {
    fn write(&mut self, batch: &Embedded) -> io::Result<()> {
        let Embedded::Vectors { dim, data } = batch else {
            return Err(io::Error::other(format!(
                "cannot write {}: the backend returned counts, not vectors",
                self.path.display()
            )));
        };
        match self.dim {
            None => self.dim = Some(*dim),
            Some(d) if d != *dim => {
                return Err(io::Error::other(format!(
                    "cannot write {}: vector width changed from {d} to {dim}",
                    self.path.display()
                )));
            }
            _ => {}
        }
        self.out.seek(SeekFrom::End(0))?;
        for v in data {
            self.out.write_all(&v.to_le_bytes())?;
        }
        self.rows += batch.count() as u64;
        self.rewrite_header()
    }

    fn finish(&mut self) -> io::Result<()> {
        self.rewrite_header()?;
        self.out.get_ref().sync_data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_header_is_valid_and_rows_append() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.npy");
        let mut w = NpyWriter::create(&p).unwrap();
        w.write(&Embedded::Vectors {
            dim: 2,
            data: vec![1.0, 2.0, 3.0, 4.0],
        })
        .unwrap();
        w.write(&Embedded::Vectors {
            dim: 2,
            data: vec![5.0, 6.0],
        })
        .unwrap();
        // NOTE: the header is valid after every batch, before finish.
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!(&bytes[..6], b"\x93NUMPY");
        let hdr = std::str::from_utf8(&bytes[10..HEADER_LEN]).unwrap();
        assert!(hdr.contains("'shape': (3, 2)"), "{hdr}");
        assert!(hdr.ends_with('\n'));
        assert_eq!(bytes.len(), HEADER_LEN + 3 * 2 * 4);
        let last = f32::from_le_bytes(bytes[bytes.len() - 4..].try_into().unwrap());
        assert_eq!(last, 6.0);
        w.finish().unwrap();
        let e = w
            .write(&Embedded::Vectors {
                dim: 3,
                data: vec![0.0; 3],
            })
            .unwrap_err();
        assert!(e.to_string().contains("width changed"));
    }

    #[test]
    fn an_existing_file_is_not_truncated() {
        // Regression: create truncated an earlier run's vectors.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.npy");
        std::fs::write(&p, b"earlier").unwrap();
        let e = NpyWriter::create(&p).err().unwrap();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&p).unwrap(), b"earlier");
    }
}
