//! NumPy `.npy` files (format version 1.0, little-endian, C order): the tensors `ntgen train`
//! writes and the data it reads.

use anyhow::{bail, Context, Result};
use std::path::Path;

const MAGIC: &[u8] = b"\x93NUMPY";
/// The header (magic, version, length, dictionary, padding) is a multiple of this.
const HEADER_ALIGN: usize = 64;

/// Element types this project reads and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    I16,
    I32,
    F32,
    F64,
}

impl Dtype {
    fn descr(self) -> &'static str {
        match self {
            Dtype::I16 => "<i2",
            Dtype::I32 => "<i4",
            Dtype::F32 => "<f4",
            Dtype::F64 => "<f8",
        }
    }
    fn bytes(self) -> usize {
        match self {
            Dtype::I16 => 2,
            Dtype::I32 | Dtype::F32 => 4,
            Dtype::F64 => 8,
        }
    }
}

/// The bytes of an `.npy` file holding `data` (already little-endian) of `dtype` and `shape`.
pub fn encode(dtype: Dtype, shape: &[usize], data: &[u8]) -> Vec<u8> {
    assert_eq!(shape.iter().product::<usize>() * dtype.bytes(), data.len());
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let tuple = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut dict = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {tuple}, }}",
        dtype.descr()
    );
    let fixed = MAGIC.len() + 2 + 2;
    while !(fixed + dict.len() + 1).is_multiple_of(HEADER_ALIGN) {
        dict.push(' ');
    }
    dict.push('\n');
    let mut out = MAGIC.to_vec();
    out.extend([1u8, 0]);
    out.extend((dict.len() as u16).to_le_bytes());
    out.extend(dict.as_bytes());
    out.extend(data);
    out
}

pub fn encode_i16(shape: &[usize], v: &[i16]) -> Vec<u8> {
    encode(
        Dtype::I16,
        shape,
        &v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<_>>(),
    )
}

pub fn encode_i32(shape: &[usize], v: &[i32]) -> Vec<u8> {
    encode(
        Dtype::I32,
        shape,
        &v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<_>>(),
    )
}

/// An array read from a file: its shape and values as f64 (exact for the integer types).
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub values: Vec<f64>,
}

fn field<'a>(dict: &'a str, key: &str) -> Option<&'a str> {
    let at = dict.find(&format!("'{key}'"))?;
    let rest = dict[at + key.len() + 2..].trim_start().strip_prefix(':')?;
    Some(rest.trim_start())
}

pub fn decode(bytes: &[u8]) -> Result<Array> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        bail!("not a .npy file (no \\x93NUMPY magic)");
    }
    let (major, len_bytes) = match bytes[6] {
        1 => (1, 2),
        2 | 3 => (bytes[6], 4),
        v => bail!("unsupported .npy version {v}"),
    };
    let _ = major;
    let hlen = if len_bytes == 2 {
        u16::from_le_bytes([bytes[8], bytes[9]]) as usize
    } else {
        u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize
    };
    let start = 8 + len_bytes;
    let dict = std::str::from_utf8(bytes.get(start..start + hlen).context("truncated header")?)
        .context("header is not text")?;
    let descr = field(dict, "descr").context("header has no descr")?;
    let dtype = [Dtype::I16, Dtype::I32, Dtype::F32, Dtype::F64]
        .into_iter()
        .find(|d| descr.starts_with(&format!("'{}'", d.descr())))
        .with_context(|| {
            format!(
                "element type {} is not one of <i2, <i4, <f4, <f8",
                descr.split(',').next().unwrap_or("")
            )
        })?;
    if field(dict, "fortran_order").is_some_and(|v| v.starts_with("True")) {
        bail!("Fortran-order arrays are not supported");
    }
    let shape_text = field(dict, "shape").context("header has no shape")?;
    let inner = shape_text
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .context("shape is not a tuple")?;
    let shape: Vec<usize> = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().with_context(|| format!("bad dimension `{s}`")))
        .collect::<Result<_>>()?;
    let n: usize = shape.iter().product();
    let data = &bytes[start + hlen..];
    if data.len() != n * dtype.bytes() {
        bail!(
            "shape {shape:?} needs {} bytes of data, the file has {}",
            n * dtype.bytes(),
            data.len()
        );
    }
    let values = data
        .chunks_exact(dtype.bytes())
        .map(|c| match dtype {
            Dtype::I16 => i16::from_le_bytes([c[0], c[1]]) as f64,
            Dtype::I32 => i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64,
            Dtype::F32 => f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64,
            Dtype::F64 => f64::from_le_bytes(c.try_into().unwrap()),
        })
        .collect();
    Ok(Array {
        dtype,
        shape,
        values,
    })
}

pub fn read(path: &Path) -> Result<Array> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    decode(&bytes).with_context(|| format!("{}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_pads_the_header() {
        let b = encode_i16(&[2, 3], &[1, -2, 3, -4, 5, -32768]);
        assert_eq!(
            (MAGIC.len() + 4 + u16::from_le_bytes([b[8], b[9]]) as usize) % 64,
            0
        );
        let a = decode(&b).unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.values, vec![1.0, -2.0, 3.0, -4.0, 5.0, -32768.0]);
        let a = decode(&encode_i32(&[4], &[7, -8, i32::MAX, i32::MIN])).unwrap();
        assert_eq!(a.shape, vec![4]);
        assert_eq!(a.values[3], i32::MIN as f64);
    }

    #[test]
    fn bad_files_are_named() {
        assert!(decode(b"hello world")
            .unwrap_err()
            .to_string()
            .contains("magic"));
        let mut b = encode_i16(&[3], &[1, 2, 3]);
        b.pop();
        assert!(format!("{:#}", decode(&b).unwrap_err()).contains("needs 6 bytes"));
    }
}
