//! A small `.npy` reader and writer: format versions 1.0, 2.0 and 3.0, C order, little-endian
//! integer dtypes `|u1 |i1 <u2 <i2 <u4 <i4 <u8 <i8` (and `|b1`). Reading converts to `i32`
//! (what the official loader does), checking the range.
//!
//! Writing streams the data and patches a fixed 128-byte header at the end, so arrays of any
//! size are written without holding them in memory.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::{DataError, Result};

const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// Total header size written by [`NpyWriter`] (a multiple of 64, as numpy writes).
const HEADER_LEN: usize = 128;

/// Element types this module reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    Bool,
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    U64,
    I64,
}

impl Dtype {
    pub fn descr(self) -> &'static str {
        match self {
            Dtype::Bool => "|b1",
            Dtype::U8 => "|u1",
            Dtype::I8 => "|i1",
            Dtype::U16 => "<u2",
            Dtype::I16 => "<i2",
            Dtype::U32 => "<u4",
            Dtype::I32 => "<i4",
            Dtype::U64 => "<u8",
            Dtype::I64 => "<i8",
        }
    }

    pub fn size(self) -> usize {
        match self {
            Dtype::Bool | Dtype::U8 | Dtype::I8 => 1,
            Dtype::U16 | Dtype::I16 => 2,
            Dtype::U32 | Dtype::I32 => 4,
            Dtype::U64 | Dtype::I64 => 8,
        }
    }

    fn parse(descr: &str) -> Result<Self, String> {
        let (order, code) = descr.split_at(descr.len().min(1));
        let dtype = match code {
            "b1" => Dtype::Bool,
            "u1" => Dtype::U8,
            "i1" => Dtype::I8,
            "u2" => Dtype::U16,
            "i2" => Dtype::I16,
            "u4" => Dtype::U32,
            "i4" => Dtype::I32,
            "u8" => Dtype::U64,
            "i8" => Dtype::I64,
            _ => {
                return Err(format!(
                "dtype {descr:?} is not supported, expected an integer dtype (|u1, <i4, <i8, ...)"
            ))
            }
        };
        let ok_order = match order {
            "<" | "=" => true,
            "|" => dtype.size() == 1,
            ">" => dtype.size() == 1,
            _ => false,
        };
        if !ok_order {
            return Err(format!(
                "dtype {descr:?} is not little-endian, expected '<' (or '|' for bytes)"
            ));
        }
        Ok(dtype)
    }
}

/// A header: dtype, shape, C order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub dtype: Dtype,
    pub shape: Vec<usize>,
}

impl Header {
    /// Number of elements, `None` on overflow.
    pub fn element_count(&self) -> Option<usize> {
        self.shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
    }
}

fn bad(path: &Path, at: &str, msg: impl Into<String>) -> DataError {
    DataError::invalid(path, at, msg)
}

fn quoted_after<'a>(dict: &'a str, key: &str) -> Option<&'a str> {
    let rest = &dict[dict.find(key)? + key.len()..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let q = rest.chars().next()?;
    if q != '\'' && q != '"' {
        return None;
    }
    let rest = &rest[1..];
    Some(&rest[..rest.find(q)?])
}

fn parse_header_dict(dict: &str) -> Result<Header, String> {
    let descr = quoted_after(dict, "'descr'")
        .or_else(|| quoted_after(dict, "\"descr\""))
        .ok_or("header has no 'descr', expected a numpy header dict")?;
    let dtype = Dtype::parse(descr)?;
    let fortran = dict
        .find("'fortran_order'")
        .or_else(|| dict.find("\"fortran_order\""))
        .ok_or("header has no 'fortran_order', expected a numpy header dict")?;
    let after = dict[fortran..]
        .split_once(':')
        .map(|(_, r)| r.trim_start())
        .unwrap_or("");
    if after.starts_with("True") {
        return Err("array is in Fortran order, expected C order".to_string());
    }
    if !after.starts_with("False") {
        return Err("header 'fortran_order' is neither True nor False".to_string());
    }
    let shape_at = dict
        .find("'shape'")
        .or_else(|| dict.find("\"shape\""))
        .ok_or("header has no 'shape', expected a numpy header dict")?;
    let rest = &dict[shape_at..];
    let open = rest.find('(').ok_or("header 'shape' is not a tuple")?;
    let close = rest[open..]
        .find(')')
        .ok_or("header 'shape' is not a closed tuple")?
        + open;
    let mut shape = Vec::new();
    for part in rest[open + 1..close].split(',') {
        let part = part.trim().trim_end_matches('L');
        if part.is_empty() {
            continue;
        }
        shape.push(
            part.parse::<usize>().map_err(|_| {
                format!("header shape has {part:?}, expected a non-negative integer")
            })?,
        );
    }
    Ok(Header { dtype, shape })
}

/// Read and check the header; returns it and the data offset.
pub fn read_header(path: &Path, bytes: &[u8]) -> Result<(Header, usize)> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(bad(
            path,
            "header",
            "is not a .npy file (truncated or missing the \\x93NUMPY magic)",
        ));
    }
    let major = bytes[6];
    let (len, start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(bad(path, "header", "is truncated"));
            }
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        v => {
            return Err(bad(
                path,
                "header",
                format!(
                    "format version {v}.{} is not supported, expected 1.0, 2.0 or 3.0",
                    bytes[7]
                ),
            ))
        }
    };
    let end = start + len;
    if bytes.len() < end {
        return Err(bad(
            path,
            "header",
            format!(
                "is truncated: declares {len} bytes, the file has {}",
                bytes.len() - start
            ),
        ));
    }
    let dict = std::str::from_utf8(&bytes[start..end])
        .map_err(|_| bad(path, "header", "is not valid text"))?;
    let header = parse_header_dict(dict).map_err(|m| bad(path, "header", m))?;
    Ok((header, end))
}

/// Read a whole `.npy` file of integers as `i32` (values must fit).
pub fn read_i32(path: &Path) -> Result<(Vec<usize>, Vec<i32>)> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| DataError::io(path, e))?;
    let (header, offset) = read_header(path, &bytes)?;
    let data = &bytes[offset..];
    let too_big = || {
        bad(
            path,
            "header",
            format!("shape {:?} is too large", header.shape),
        )
    };
    let n = header.element_count().ok_or_else(too_big)?;
    let need = n.checked_mul(header.dtype.size()).ok_or_else(too_big)?;
    if data.len() != need {
        let what = if data.len() < need {
            "truncated"
        } else {
            "too long"
        };
        return Err(bad(
            path,
            "data",
            format!(
                "is {what}: shape {:?} of {} needs {need} bytes, found {}",
                header.shape,
                header.dtype.descr(),
                data.len()
            ),
        ));
    }
    let range_err = |i: usize, v: i128| {
        bad(
            path,
            "data",
            format!("element {i} is {v}, expected a value that fits in int32"),
        )
    };
    let mut out = Vec::with_capacity(n);
    match header.dtype {
        Dtype::Bool | Dtype::U8 => out.extend(data.iter().map(|&b| i32::from(b))),
        Dtype::I8 => out.extend(data.iter().map(|&b| i32::from(b as i8))),
        Dtype::U16 => out.extend(
            data.chunks_exact(2)
                .map(|c| i32::from(u16::from_le_bytes([c[0], c[1]]))),
        ),
        Dtype::I16 => out.extend(
            data.chunks_exact(2)
                .map(|c| i32::from(i16::from_le_bytes([c[0], c[1]]))),
        ),
        Dtype::I32 => out.extend(
            data.chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        ),
        Dtype::U32 => {
            for (i, c) in data.chunks_exact(4).enumerate() {
                let v = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                out.push(i32::try_from(v).map_err(|_| range_err(i, v.into()))?);
            }
        }
        Dtype::I64 => {
            for (i, c) in data.chunks_exact(8).enumerate() {
                let v = i64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
                out.push(i32::try_from(v).map_err(|_| range_err(i, v.into()))?);
            }
        }
        Dtype::U64 => {
            for (i, c) in data.chunks_exact(8).enumerate() {
                let v = u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
                out.push(i32::try_from(v).map_err(|_| range_err(i, v.into()))?);
            }
        }
    }
    Ok((header.shape, out))
}

/// Streaming writer of a 1-D or 2-D array; the header is written by [`NpyWriter::finish`].
pub struct NpyWriter {
    path: PathBuf,
    out: BufWriter<File>,
    dtype: Dtype,
    row_len: Option<usize>,
    count: usize,
}

impl NpyWriter {
    /// Create a writer; `row_len` = Some(k) makes a 2-D array [n, k], None a 1-D array.
    pub fn create(path: &Path, dtype: Dtype, row_len: Option<usize>) -> Result<Self> {
        let file = File::create(path).map_err(|e| DataError::io(path, e))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        out.write_all(&[b' '; HEADER_LEN])
            .map_err(|e| DataError::io(path, e))?;
        Ok(NpyWriter {
            path: path.to_path_buf(),
            out,
            dtype,
            row_len,
            count: 0,
        })
    }

    /// Append bytes of a `|u1` array.
    pub fn write_u8(&mut self, values: &[u8]) -> Result<()> {
        debug_assert_eq!(self.dtype, Dtype::U8);
        self.count += values.len();
        self.out
            .write_all(values)
            .map_err(|e| DataError::io(&self.path, e))
    }

    /// Append values of an `<i4` array.
    pub fn write_i32(&mut self, values: &[i32]) -> Result<()> {
        debug_assert_eq!(self.dtype, Dtype::I32);
        self.count += values.len();
        for v in values {
            self.out
                .write_all(&v.to_le_bytes())
                .map_err(|e| DataError::io(&self.path, e))?;
        }
        Ok(())
    }

    /// Write the header and close the file.
    pub fn finish(mut self) -> Result<()> {
        let shape = match self.row_len {
            Some(k) if k > 0 => format!("({}, {k})", self.count / k),
            Some(k) => format!("(0, {k})"),
            None => format!("({},)", self.count),
        };
        let header = header_bytes(self.dtype, &shape);
        let io = |e| DataError::io(&self.path, e);
        self.out.flush().map_err(io)?;
        let mut file = self
            .out
            .into_inner()
            .map_err(|e| DataError::io(&self.path, e.into_error()))?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.write_all(&header).map_err(io)?;
        file.flush().map_err(io)
    }
}

fn header_bytes(dtype: Dtype, shape: &str) -> Vec<u8> {
    let dict = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {shape}, }}",
        dtype.descr()
    );
    let mut h = Vec::with_capacity(HEADER_LEN);
    h.extend_from_slice(MAGIC);
    h.extend_from_slice(&[1, 0]);
    h.extend_from_slice(&((HEADER_LEN - 10) as u16).to_le_bytes());
    h.extend_from_slice(dict.as_bytes());
    h.resize(HEADER_LEN - 1, b' ');
    h.push(b'\n');
    h
}

/// Write a whole `|u1` array.
pub fn write_u8(path: &Path, row_len: Option<usize>, values: &[u8]) -> Result<()> {
    let mut w = NpyWriter::create(path, Dtype::U8, row_len)?;
    w.write_u8(values)?;
    w.finish()
}

/// Write a whole `<i4` array.
pub fn write_i32(path: &Path, row_len: Option<usize>, values: &[i32]) -> Result<()> {
    let mut w = NpyWriter::create(path, Dtype::I32, row_len)?;
    w.write_i32(values)?;
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_header_layout() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npy");
        write_u8(&p, Some(3), &[1, 2, 3, 4, 5, 6]).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!(bytes.len(), 128 + 6);
        let text = std::str::from_utf8(&bytes[10..128]).unwrap();
        assert!(text.starts_with("{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3), }"));
        assert!(text.ends_with('\n'));
        assert_eq!(read_i32(&p).unwrap(), (vec![2, 3], vec![1, 2, 3, 4, 5, 6]));
        let q = dir.path().join("b.npy");
        write_i32(&q, None, &[-100, 0, 7]).unwrap();
        assert_eq!(read_i32(&q).unwrap(), (vec![3], vec![-100, 0, 7]));
    }

    #[test]
    fn reads_numpy_written_int64_v2() {
        // Bytes as numpy writes np.array([1, 2], dtype='<i8') with format version 2.0.
        let dict = "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }";
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&[2, 0]);
        let mut d = dict.as_bytes().to_vec();
        while !(12 + d.len() + 1).is_multiple_of(64) {
            d.push(b' ');
        }
        d.push(b'\n');
        bytes.extend_from_slice(&(d.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&d);
        bytes.extend_from_slice(&1i64.to_le_bytes());
        bytes.extend_from_slice(&2i64.to_le_bytes());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.npy");
        std::fs::write(&p, &bytes).unwrap();
        assert_eq!(read_i32(&p).unwrap(), (vec![2], vec![1, 2]));
        std::fs::write(&p, &bytes[..bytes.len() - 3]).unwrap();
        let err = read_i32(&p).unwrap_err().to_string();
        assert!(err.contains("truncated") && err.contains("c.npy"), "{err}");
    }

    #[test]
    fn rejects_fortran_and_big_endian() {
        assert!(
            parse_header_dict("{'descr': '<i4', 'fortran_order': True, 'shape': (2,), }")
                .unwrap_err()
                .contains("Fortran")
        );
        assert!(
            parse_header_dict("{'descr': '>i4', 'fortran_order': False, 'shape': (2,), }")
                .unwrap_err()
                .contains("little-endian")
        );
        assert!(
            parse_header_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }")
                .unwrap_err()
                .contains("not supported")
        );
    }
}
