//! `.npy` feature matrices: a validating reader (float32 or float16, either
//! byte order, C order, exactly 2-D, every value finite) and an atomic float32
//! writer. The header is parsed by `npyz`; the data block is decoded in bulk.

use std::io::Read;
use std::path::Path;

use npyz::{DType, Order, TypeChar, WriterBuilder};

use crate::error::DataError;
use crate::fsutil;

/// A dense row-major `[rows, dim]` float32 matrix read from a `.npy` file.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    pub rows: usize,
    pub dim: usize,
    pub data: Vec<f32>,
}

#[derive(Clone, Copy)]
enum Elem {
    F32,
    F16,
}

/// Reads and validates a 2-D float32/float16 `.npy` file.
///
/// Errors name the file and say how to fix it: wrong dtype (e.g. int64, float64),
/// Fortran order, not 2-D (or zero columns), truncated or oversized data, and the
/// first NaN/Inf by row and column.
pub fn read_matrix(path: &Path) -> Result<Matrix, DataError> {
    let file = fsutil::open(
        path,
        "save the item feature matrix with np.save(path, arr.astype(np.float32))",
    )?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let header = npyz::NpyHeader::from_reader(&mut reader).map_err(|e| {
        DataError::invalid(
            path,
            format!("not a valid .npy file ({e}); write it with np.save(path, arr)"),
        )
    })?;
    let dtype = header.dtype();
    let (elem, little) = match &dtype {
        DType::Plain(ts) if ts.type_char() == TypeChar::Float => {
            let little = match ts.endianness() {
                npyz::Endianness::Little => true,
                npyz::Endianness::Big => false,
                npyz::Endianness::Irrelevant => cfg!(target_endian = "little"),
            };
            match ts.size_field() {
                4 => (Elem::F32, little),
                2 => (Elem::F16, little),
                _ => {
                    return Err(DataError::Dtype {
                        path: path.to_path_buf(),
                        dtype: ts.to_string(),
                    });
                }
            }
        }
        DType::Plain(ts) => {
            return Err(DataError::Dtype {
                path: path.to_path_buf(),
                dtype: ts.to_string(),
            });
        }
        other => {
            return Err(DataError::Dtype {
                path: path.to_path_buf(),
                dtype: other.descr(),
            });
        }
    };
    let shape = header.shape().to_vec();
    if shape.len() != 2 || shape[1] == 0 {
        return Err(DataError::Shape {
            path: path.to_path_buf(),
            shape,
        });
    }
    if header.order() == Order::Fortran && shape[0] > 1 && shape[1] > 1 {
        return Err(DataError::FortranOrder {
            path: path.to_path_buf(),
        });
    }
    let too_big = || DataError::invalid(path, format!("shape {shape:?} is too large"));
    let rows = usize::try_from(shape[0]).map_err(|_| too_big())?;
    let dim = usize::try_from(shape[1]).map_err(|_| too_big())?;
    let n = rows.checked_mul(dim).ok_or_else(too_big)?;
    let width = match elem {
        Elem::F32 => 4,
        Elem::F16 => 2,
    };
    let n_bytes = n.checked_mul(width).ok_or_else(too_big)?;
    let mut bytes = Vec::with_capacity(n_bytes);
    reader
        .by_ref()
        .take(n_bytes as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| DataError::io(path, e))?;
    if bytes.len() != n_bytes {
        let what = if bytes.len() < n_bytes {
            "truncated"
        } else {
            "longer than its header says"
        };
        return Err(DataError::invalid(
            path,
            format!(
                "file is {what}: shape {shape:?} needs {n_bytes} data bytes, found {}{}; \
                 re-save it with np.save(path, arr.astype(np.float32))",
                if bytes.len() > n_bytes {
                    "more than "
                } else {
                    ""
                },
                bytes.len().min(n_bytes),
            ),
        ));
    }
    let data: Vec<f32> = match (elem, little) {
        (Elem::F32, true) => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        (Elem::F32, false) => bytes
            .chunks_exact(4)
            .map(|c| f32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        (Elem::F16, true) => bytes
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        (Elem::F16, false) => bytes
            .chunks_exact(2)
            .map(|c| half::f16::from_be_bytes([c[0], c[1]]).to_f32())
            .collect(),
    };
    if let Some(i) = data.iter().position(|v| !v.is_finite()) {
        return Err(DataError::NonFinite {
            path: path.to_path_buf(),
            row: i / dim,
            column: i % dim,
            value: data[i],
        });
    }
    Ok(Matrix { rows, dim, data })
}

/// Writes a row-major `[rows, dim]` float32 matrix as `.npy` (C order, `<f4`), atomically.
pub fn write_matrix(path: &Path, rows: usize, dim: usize, data: &[f32]) -> Result<(), DataError> {
    if rows.checked_mul(dim) != Some(data.len()) {
        return Err(DataError::invalid(
            path,
            format!(
                "internal: {} values do not fill a [{rows}, {dim}] matrix",
                data.len()
            ),
        ));
    }
    write_matrix_with(path, rows, dim, |r, out| {
        out.copy_from_slice(&data[r * dim..(r + 1) * dim]);
    })
}

/// Like [`write_matrix`], but row `r` is produced on the fly by `fill(r, row)`, so
/// the whole matrix never has to be in memory.
pub fn write_matrix_with<F>(
    path: &Path,
    rows: usize,
    dim: usize,
    mut fill: F,
) -> Result<(), DataError>
where
    F: FnMut(usize, &mut [f32]),
{
    fsutil::write_atomic(path, |w| {
        let mut npy = npyz::WriteOptions::<f32>::new()
            .default_dtype()
            .shape(&[rows as u64, dim as u64])
            .writer(w)
            .begin_nd()?;
        let mut row = vec![0f32; dim];
        for r in 0..rows {
            fill(r, &mut row);
            npy.extend(row.iter().copied())?;
        }
        npy.finish()
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Writes a raw `.npy` with an arbitrary header dict and data block (test fixtures).
    pub(crate) fn write_raw_npy(path: &Path, dict: &str, data: &[u8]) {
        let mut header = dict.to_owned();
        // magic(6) + version(2) + len(2) + header, padded with spaces to 64, ending in '\n'
        while !(10 + header.len() + 1).is_multiple_of(64) {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        std::fs::write(path, out).unwrap();
    }

    fn f32_bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn roundtrip_f32() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x_feat.npy");
        let data: Vec<f32> = (0..12).map(|i| i as f32 * 0.5 - 1.0).collect();
        write_matrix(&p, 3, 4, &data).unwrap();
        let m = read_matrix(&p).unwrap();
        assert_eq!((m.rows, m.dim), (3, 4));
        assert_eq!(m.data, data);
    }

    #[test]
    fn reads_f16_and_big_endian_f32() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("h.npy");
        let vals = [0.5f32, -2.0, 1.25, 3.0];
        let bytes: Vec<u8> = vals
            .iter()
            .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
            .collect();
        write_raw_npy(
            &p,
            "{'descr': '<f2', 'fortran_order': False, 'shape': (2, 2), }",
            &bytes,
        );
        assert_eq!(read_matrix(&p).unwrap().data, vals);
        let bytes: Vec<u8> = vals.iter().flat_map(|v| v.to_be_bytes()).collect();
        write_raw_npy(
            &p,
            "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 2), }",
            &bytes,
        );
        assert_eq!(read_matrix(&p).unwrap().data, vals);
    }

    #[test]
    fn rejects_wrong_dtype_with_conversion_hint() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("image_feat.npy");
        write_raw_npy(
            &p,
            "{'descr': '<i8', 'fortran_order': False, 'shape': (1, 2), }",
            &[0u8; 16],
        );
        let msg = read_matrix(&p).unwrap_err().to_string();
        assert!(msg.contains("image_feat.npy"), "{msg}");
        assert!(msg.contains("<i8"), "{msg}");
        assert!(
            msg.contains("np.save(path, arr.astype(np.float32))"),
            "{msg}"
        );
        write_raw_npy(
            &p,
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2), }",
            &[0u8; 16],
        );
        let msg = read_matrix(&p).unwrap_err().to_string();
        assert!(
            msg.contains("<f8") && msg.contains("arr.astype(np.float32)"),
            "{msg}"
        );
    }

    #[test]
    fn rejects_fortran_order() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("text_feat.npy");
        write_raw_npy(
            &p,
            "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
            &f32_bytes(&[0.0; 6]),
        );
        let msg = read_matrix(&p).unwrap_err().to_string();
        assert!(
            msg.contains("text_feat.npy") && msg.contains("Fortran order"),
            "{msg}"
        );
        assert!(msg.contains("np.ascontiguousarray"), "{msg}");
    }

    #[test]
    fn rejects_non_2d() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npy");
        write_raw_npy(
            &p,
            "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }",
            &f32_bytes(&[0.0; 6]),
        );
        let msg = read_matrix(&p).unwrap_err().to_string();
        assert!(msg.contains("a.npy") && msg.contains("2-D"), "{msg}");
        assert!(msg.contains("[6]"), "{msg}");
        write_raw_npy(
            &p,
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 3), }",
            &f32_bytes(&[0.0; 6]),
        );
        let msg = read_matrix(&p).unwrap_err().to_string();
        assert!(msg.contains("[1, 2, 3]"), "{msg}");
    }

    #[test]
    fn rejects_nan_with_row_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("image_feat.npy");
        let mut data = vec![0.0f32; 6];
        data[5] = f32::NAN;
        write_matrix(&p, 2, 3, &data).unwrap();
        let msg = read_matrix(&p).unwrap_err().to_string();
        assert!(msg.contains("image_feat.npy"), "{msg}");
        assert!(msg.contains("row 1") && msg.contains("column 2"), "{msg}");
        assert!(msg.contains("NaN") && msg.contains("nan_to_num"), "{msg}");
        data[5] = 0.0;
        data[1] = f32::INFINITY;
        write_matrix(&p, 2, 3, &data).unwrap();
        let msg = read_matrix(&p).unwrap_err().to_string();
        assert!(
            msg.contains("row 0") && msg.contains("column 1") && msg.contains("inf"),
            "{msg}"
        );
    }

    #[test]
    fn rejects_truncated_and_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.npy");
        write_raw_npy(
            &p,
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
            &f32_bytes(&[0.0; 5]),
        );
        let msg = read_matrix(&p).unwrap_err().to_string();
        assert!(msg.contains("t.npy") && msg.contains("truncated"), "{msg}");
        std::fs::write(&p, b"hello world, not numpy").unwrap();
        let msg = read_matrix(&p).unwrap_err().to_string();
        assert!(msg.contains("not a valid .npy"), "{msg}");
        let missing = dir.path().join("none.npy");
        let msg = read_matrix(&missing).unwrap_err().to_string();
        assert!(
            msg.contains("none.npy") && msg.contains("not found"),
            "{msg}"
        );
    }
}
