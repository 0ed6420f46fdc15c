//! GGUF reader: header, metadata and tensor directory, parsed from a byte slice.
//!
//! Nothing here copies tensor data: a [`TensorInfo`] records where its bytes are, and the model borrows them
//! from the one buffer that holds the file. Every count and length read from the file is checked against
//! the bytes that remain before anything is allocated, so a hostile or truncated file fails with an error
//! naming the byte offset instead of a panic or a huge allocation.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::kernels::quant::GgmlType;

pub const MAGIC: &[u8; 4] = b"GGUF";
const DEFAULT_ALIGNMENT: u64 = 32;
const MAX_DIMS: u32 = 4;
/// No tensor in a model we could run in a browser has more elements than this (2^36 = 64 G elements).
const MAX_ELEMENTS: u64 = 1 << 36;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    Str(String),
    Array(Array),
}

/// Arrays are stored by element kind so that a 262k-entry vocabulary costs what its data costs.
#[derive(Debug, Clone, PartialEq)]
pub enum Array {
    Int(Ints),
    F32(Vec<f32>),
    F64(Vec<f64>),
    Bool(Vec<bool>),
    Str(Vec<String>),
    Nested(Vec<Array>),
}

/// An integer array as the file stores it (element type and little-endian bytes), so that a `u8` array costs
/// one byte per element rather than the eight of an `i64`.
#[derive(Debug, Clone, PartialEq)]
pub struct Ints {
    /// GGUF element type: 0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32, 10 u64, 11 i64.
    ty: u32,
    raw: Vec<u8>,
}

impl Ints {
    fn width(ty: u32) -> usize {
        match ty {
            0 | 1 => 1,
            2 | 3 => 2,
            4 | 5 => 4,
            _ => 8,
        }
    }
    pub fn len(&self) -> usize {
        self.raw.len() / Self::width(self.ty)
    }
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }
    /// The GGUF element type code.
    pub fn element_type(&self) -> u32 {
        self.ty
    }
    /// The little-endian bytes, as in the file.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }
    pub fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        let ty = self.ty;
        self.raw.chunks_exact(Self::width(ty)).map(move |c| match ty {
            0 => c[0] as i64,
            1 => c[0] as i8 as i64,
            2 => u16::from_le_bytes([c[0], c[1]]) as i64,
            3 => i16::from_le_bytes([c[0], c[1]]) as i64,
            4 => u32::from_le_bytes(c.try_into().unwrap()) as i64,
            5 => i32::from_le_bytes(c.try_into().unwrap()) as i64,
            _ => i64::from_le_bytes(c.try_into().unwrap()),
        })
    }
}

/// Values as `i32` elements (what llama.cpp writes for token types).
impl From<Vec<i64>> for Ints {
    fn from(v: Vec<i64>) -> Ints {
        Ints { ty: 5, raw: v.iter().flat_map(|&x| (x as i32).to_le_bytes()).collect() }
    }
}

impl Array {
    pub fn len(&self) -> usize {
        match self {
            Array::Int(v) => v.len(),
            Array::F32(v) => v.len(),
            Array::F64(v) => v.len(),
            Array::Bool(v) => v.len(),
            Array::Str(v) => v.len(),
            Array::Nested(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Value {
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v as u64),
            Value::U16(v) => Some(v as u64),
            Value::U32(v) => Some(v as u64),
            Value::U64(v) => Some(v),
            Value::I8(v) if v >= 0 => Some(v as u64),
            Value::I16(v) if v >= 0 => Some(v as u64),
            Value::I32(v) if v >= 0 => Some(v as u64),
            Value::I64(v) if v >= 0 => Some(v as u64),
            _ => None,
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v as f64),
            Value::F64(v) => Some(v),
            _ => self.as_u64().map(|v| v as f64),
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct TensorInfo {
    pub name: String,
    /// GGUF order: `dims[0]` is the contiguous (row) dimension.
    pub dims: Vec<u64>,
    pub ty: GgmlType,
    /// Absolute byte offset of the tensor's data in the file.
    pub offset: usize,
    pub n_bytes: usize,
}

impl TensorInfo {
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }
}

#[derive(Debug, Clone)]
pub struct Gguf {
    pub version: u32,
    pub metadata: HashMap<String, Value>,
    pub tensors: Vec<TensorInfo>,
    by_name: HashMap<String, usize>,
    pub data_offset: usize,
}

impl Gguf {
    /// Parses the header, metadata and tensor directory of `bytes` (the whole file).
    pub fn parse(bytes: &[u8]) -> Result<Gguf> {
        Gguf::parse_header(bytes, bytes.len())
    }

    /// Parses the header from `bytes`, the first part (at least the header) of a file of `file_len` bytes,
    /// checking that every tensor lies inside the file: lets a loader see the layout while the data streams.
    pub fn parse_header(bytes: &[u8], file_len: usize) -> Result<Gguf> {
        let mut r = Reader { bytes, pos: 0 };
        let magic = r.take(4, "magic")?;
        if magic != MAGIC {
            return Err(Error::Gguf {
                at: 0,
                msg: format!("not a GGUF file (magic is {:02x?}, expected \"GGUF\")", magic),
            });
        }
        let version = r.u32("version")?;
        if !(2..=3).contains(&version) {
            return Err(r.err_at(4, format!("unsupported GGUF version {version} (supported: 2, 3)")));
        }
        let n_tensors = r.u64("tensor count")?;
        let n_kv = r.u64("metadata count")?;
        // The smallest metadata entry is 13 bytes and the smallest tensor entry 32, so counts larger than the
        // rest of the file allows are corrupt and must not size an allocation.
        r.check_count(n_kv, 13, "metadata count")?;
        r.check_count(n_tensors, 32, "tensor count")?;

        let mut metadata = HashMap::with_capacity(n_kv as usize);
        for i in 0..n_kv {
            let key_at = r.pos;
            let key = r.string(&format!("metadata key #{i}"))?;
            if key.is_empty() {
                return Err(r.err_at(key_at, format!("metadata key #{i} is empty")));
            }
            let ty = r.u32(&format!("type of metadata `{key}`"))?;
            let value = r.value(ty, &key)?;
            if metadata.insert(key.clone(), value).is_some() {
                return Err(r.err_at(key_at, format!("duplicate metadata key `{key}`")));
            }
        }

        // The format stores the alignment as a u32 (llama.cpp refuses any other type).
        let alignment = match metadata.get("general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some(Value::U32(a)) if *a > 0 && a.is_power_of_two() && *a <= 1 << 20 => *a as u64,
            Some(v @ Value::U32(_)) => {
                return Err(Error::Gguf {
                    at: 0,
                    msg: format!("general.alignment {v:?} is not a power of two up to 1 MiB"),
                })
            }
            Some(v) => {
                return Err(Error::Gguf {
                    at: 0,
                    msg: format!("general.alignment is {v:?}; the format stores it as a u32"),
                })
            }
        };

        let mut infos = Vec::with_capacity(n_tensors as usize);
        for i in 0..n_tensors {
            let at = r.pos;
            let name = r.string(&format!("name of tensor #{i}"))?;
            let n_dims = r.u32(&format!("dimension count of tensor `{name}`"))?;
            if n_dims == 0 || n_dims > MAX_DIMS {
                return Err(r.err_at(at, format!("tensor `{name}` has {n_dims} dimensions (1 to {MAX_DIMS} allowed)")));
            }
            let mut dims = Vec::with_capacity(n_dims as usize);
            let mut n_el: u64 = 1;
            for d in 0..n_dims {
                let v = r.u64(&format!("dimension {d} of tensor `{name}`"))?;
                n_el = n_el.checked_mul(v).filter(|&n| n <= MAX_ELEMENTS).ok_or_else(|| {
                    r.err_at(at, format!("tensor `{name}` has absurd dimensions {:?}…", [&dims[..], &[v]].concat()))
                })?;
                if v == 0 {
                    return Err(r.err_at(at, format!("tensor `{name}` has a zero dimension")));
                }
                dims.push(v);
            }
            let ty_at = r.pos;
            let ty_id = r.u32(&format!("type of tensor `{name}`"))?;
            let ty = GgmlType::from_id(ty_id)
                .ok_or_else(|| r.err_at(ty_at, format!("tensor `{name}` has unknown tensor type id {ty_id}")))?;
            let rel = r.u64(&format!("offset of tensor `{name}`"))?;
            if rel % alignment != 0 {
                return Err(r.err_at(at, format!("tensor `{name}` data offset {rel} is not aligned to {alignment}")));
            }
            let bs = ty.block_size() as u64;
            if dims[0] % bs != 0 {
                return Err(r.err_at(
                    at,
                    format!(
                        "tensor `{name}` row length {} is not a multiple of the {} block size {bs}",
                        dims[0],
                        ty.name()
                    ),
                ));
            }
            let n_bytes = n_el / bs * ty.block_bytes() as u64;
            infos.push((name, dims, ty, rel, n_bytes, at));
        }

        let data_offset = align_up(r.pos as u64, alignment);
        let file_len = file_len as u64;
        let mut tensors = Vec::with_capacity(infos.len());
        let mut by_name = HashMap::with_capacity(infos.len());
        for (name, dims, ty, rel, n_bytes, at) in infos {
            let start = data_offset.checked_add(rel);
            let end = start.and_then(|s| s.checked_add(n_bytes));
            match end {
                Some(e) if e <= file_len => {}
                _ => {
                    return Err(Error::Gguf {
                        at: at as u64,
                        msg: format!(
                            "tensor `{name}` data ({n_bytes} bytes at {}) runs past the end of the file ({file_len} bytes): truncated?",
                            data_offset.saturating_add(rel)
                        ),
                    })
                }
            }
            if by_name.insert(name.clone(), tensors.len()).is_some() {
                return Err(Error::Gguf { at: at as u64, msg: format!("duplicate tensor name `{name}`") });
            }
            tensors.push(TensorInfo {
                name,
                dims,
                ty,
                offset: (data_offset + rel) as usize,
                n_bytes: n_bytes as usize,
            });
        }
        // Tensor data must not overlap (llama.cpp requires them back to back): overlapping tensors would let one
        // write through another when rows are rewritten in place at load, and they mean a forged file.
        let mut order: Vec<usize> = (0..tensors.len()).collect();
        order.sort_by_key(|&i| tensors[i].offset);
        for w in order.windows(2) {
            let (a, b) = (&tensors[w[0]], &tensors[w[1]]);
            if b.offset < a.offset + a.n_bytes {
                return Err(Error::Gguf {
                    at: b.offset as u64,
                    msg: format!(
                        "tensor `{}` data (bytes {}..{}) overlaps tensor `{}` (bytes {}..{})",
                        b.name,
                        b.offset,
                        b.offset + b.n_bytes,
                        a.name,
                        a.offset,
                        a.offset + a.n_bytes
                    ),
                });
            }
        }
        Ok(Gguf { version, metadata, tensors, by_name, data_offset: data_offset as usize })
    }

    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.by_name.get(name).map(|&i| &self.tensors[i])
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.get(key)
    }

    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.get(key).and_then(Value::as_u64)
    }

    pub fn get_f64(&self, key: &str) -> Option<f64> {
        self.get(key).and_then(Value::as_f64)
    }

    pub fn get_bool(&self, key: &str) -> Option<bool> {
        self.get(key).and_then(Value::as_bool)
    }

    pub fn get_array(&self, key: &str) -> Option<&Array> {
        match self.get(key) {
            Some(Value::Array(a)) => Some(a),
            _ => None,
        }
    }

    /// Required unsigned metadata, with an error naming the key.
    pub fn require_u64(&self, key: &str) -> Result<u64> {
        match self.get(key) {
            None => Err(Error::Unsupported(format!("metadata `{key}` is missing"))),
            Some(v) => v
                .as_u64()
                .ok_or_else(|| Error::Unsupported(format!("metadata `{key}` is {v:?}, expected an unsigned integer"))),
        }
    }

    pub fn architecture(&self) -> Result<&str> {
        self.get_str("general.architecture")
            .ok_or_else(|| Error::Unsupported("metadata `general.architecture` is missing".into()))
    }
}

fn align_up(x: u64, a: u64) -> u64 {
    x.div_ceil(a) * a
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn err_at(&self, at: usize, msg: String) -> Error {
        Error::Gguf { at: at as u64, msg }
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(self.err_at(
                self.pos,
                format!("file ends while reading {what} (needs {n} bytes, {} left): truncated?", self.remaining()),
            ));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn check_count(&self, count: u64, min_size: u64, what: &str) -> Result<()> {
        if count.saturating_mul(min_size) > self.remaining() as u64 {
            return Err(self.err_at(
                self.pos,
                format!(
                    "{what} {count} cannot fit in the {} bytes that follow: corrupt or truncated",
                    self.remaining()
                ),
            ));
        }
        Ok(())
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().unwrap()))
    }

    fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8, what)?.try_into().unwrap()))
    }

    fn string(&mut self, what: &str) -> Result<String> {
        let at = self.pos;
        let len = self.u64(what)?;
        if len > self.remaining() as u64 {
            return Err(
                self.err_at(at, format!("{what}: string length {len} exceeds the {} bytes left", self.remaining()))
            );
        }
        let raw = self.take(len as usize, what)?;
        // Vocabularies hold partial UTF-8 sequences in some models; keep them rather than reject the file.
        Ok(String::from_utf8_lossy(raw).into_owned())
    }

    fn value(&mut self, ty: u32, key: &str) -> Result<Value> {
        let at = self.pos;
        let what = format!("value of `{key}`");
        Ok(match ty {
            0 => Value::U8(self.take(1, &what)?[0]),
            1 => Value::I8(self.take(1, &what)?[0] as i8),
            2 => Value::U16(u16::from_le_bytes(self.take(2, &what)?.try_into().unwrap())),
            3 => Value::I16(i16::from_le_bytes(self.take(2, &what)?.try_into().unwrap())),
            4 => Value::U32(self.u32(&what)?),
            5 => Value::I32(self.u32(&what)? as i32),
            6 => Value::F32(f32::from_bits(self.u32(&what)?)),
            7 => Value::Bool(self.take(1, &what)?[0] != 0),
            8 => Value::Str(self.string(&what)?),
            9 => Value::Array(self.array(key)?),
            10 => Value::U64(self.u64(&what)?),
            11 => Value::I64(self.u64(&what)? as i64),
            12 => Value::F64(f64::from_bits(self.u64(&what)?)),
            other => return Err(self.err_at(at, format!("`{key}` has unknown metadata value type {other}"))),
        })
    }

    fn array(&mut self, key: &str) -> Result<Array> {
        let at = self.pos;
        let ty = self.u32(&format!("element type of `{key}`"))?;
        let n = self.u64(&format!("length of `{key}`"))?;
        let elem_size: u64 = match ty {
            0 | 1 | 7 => 1,
            2 | 3 => 2,
            4..=6 => 4,
            10..=12 => 8,
            8 | 9 => 8, // a length prefix at least
            other => return Err(self.err_at(at, format!("`{key}` is an array of unknown type {other}"))),
        };
        self.check_count(n, elem_size, &format!("array length of `{key}`"))?;
        let n = n as usize;
        let what = format!("element of `{key}`");
        Ok(match ty {
            6 => {
                let raw = self.take(n * 4, &what)?;
                Array::F32(raw.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect())
            }
            12 => {
                let raw = self.take(n * 8, &what)?;
                Array::F64(raw.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect())
            }
            7 => Array::Bool(self.take(n, &what)?.iter().map(|&b| b != 0).collect()),
            8 => {
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(self.string(&what)?);
                }
                Array::Str(v)
            }
            // No model's metadata nests arrays, and each nested one would cost far more memory than its bytes.
            9 => return Err(self.err_at(at, format!("`{key}` is an array of arrays, which GGUF models do not use"))),
            _ => Array::Int(Ints { ty, raw: self.take(n * elem_size as usize, &what)?.to_vec() }),
        })
    }
}

/// Writes GGUF files: used by tests to build small synthetic models and damaged files.
pub mod writer;

#[cfg(test)]
mod tests {
    use super::{writer, Array, Gguf, Ints, Value};

    /// Integer arrays keep the file's element width: a 1 M-element `u8` array costs 1 MB, not 8.
    #[test]
    fn integer_arrays_are_kept_at_their_width() {
        let n = 1 << 20;
        let bytes: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
        let signed: Vec<u8> = [-2i16, 7, i16::MIN].iter().flat_map(|x| x.to_le_bytes()).collect();
        let file = writer::write(
            &[
                ("general.architecture".into(), Value::Str("llama".into())),
                ("x.bytes".into(), Value::Array(Array::Int(Ints { ty: 0, raw: bytes.clone() }))),
                ("x.i16".into(), Value::Array(Array::Int(Ints { ty: 3, raw: signed }))),
            ],
            &[],
        );
        let g = Gguf::parse(&file).unwrap();
        let Some(Array::Int(a)) = g.get_array("x.bytes") else { panic!("not an int array") };
        assert_eq!((a.len(), a.raw().len(), a.element_type()), (n, n, 0));
        assert!(a.iter().zip(&bytes).all(|(x, &b)| x == b as i64));
        let Some(Array::Int(a)) = g.get_array("x.i16") else { panic!("not an int array") };
        assert_eq!(a.iter().collect::<Vec<_>>(), vec![-2, 7, i16::MIN as i64]);
    }
}
