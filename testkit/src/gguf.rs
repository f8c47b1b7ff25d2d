//! Writing GGUF files: the tiny test model, LoRA adapters and merged models of the training
//! crate. Reading stays with llama.cpp (and candle, in training).

/// Alignment of tensor data (GGUF's default, `general.alignment`).
pub const ALIGN: usize = 32;

/// A GGUF v3 writer: metadata, then tensors (F32, or Q8_0 for merged models). Writes to
/// memory; callers put the bytes on disk with [`grlm_core::atomic_write`].
#[derive(Default)]
pub struct GgufWriter {
    kv: Vec<u8>,
    kv_count: u64,
    infos: Vec<u8>,
    data: Vec<u8>,
    tensor_count: u64,
}

const T_U32: u32 = 4;
const T_I32: u32 = 5;
const T_F32: u32 = 6;
const T_BOOL: u32 = 7;
const T_STRING: u32 = 8;
const T_ARRAY: u32 = 9;

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

impl GgufWriter {
    fn key(&mut self, key: &str, kind: u32) {
        put_str(&mut self.kv, key);
        self.kv.extend_from_slice(&kind.to_le_bytes());
        self.kv_count += 1;
    }

    /// A string value.
    pub fn kv_str(&mut self, key: &str, value: &str) {
        self.key(key, T_STRING);
        put_str(&mut self.kv, value);
    }

    /// A `u32` value.
    pub fn kv_u32(&mut self, key: &str, value: u32) {
        self.key(key, T_U32);
        self.kv.extend_from_slice(&value.to_le_bytes());
    }

    /// An `f32` value.
    pub fn kv_f32(&mut self, key: &str, value: f32) {
        self.key(key, T_F32);
        self.kv.extend_from_slice(&value.to_le_bytes());
    }

    /// A boolean value.
    pub fn kv_bool(&mut self, key: &str, value: bool) {
        self.key(key, T_BOOL);
        self.kv.push(u8::from(value));
    }

    /// An array of strings.
    pub fn kv_str_array(&mut self, key: &str, values: &[String]) {
        self.key(key, T_ARRAY);
        self.kv.extend_from_slice(&T_STRING.to_le_bytes());
        self.kv.extend_from_slice(&(values.len() as u64).to_le_bytes());
        for v in values {
            put_str(&mut self.kv, v);
        }
    }

    /// An array of `i32`s.
    pub fn kv_i32_array(&mut self, key: &str, values: &[i32]) {
        self.key(key, T_ARRAY);
        self.kv.extend_from_slice(&T_I32.to_le_bytes());
        self.kv.extend_from_slice(&(values.len() as u64).to_le_bytes());
        for v in values {
            self.kv.extend_from_slice(&v.to_le_bytes());
        }
    }

    /// An F32 tensor; `dims` innermost first, as GGUF stores them.
    pub fn tensor_f32(&mut self, name: &str, dims: &[u64], values: Vec<f32>) {
        debug_assert_eq!(dims.iter().product::<u64>(), values.len() as u64);
        put_str(&mut self.infos, name);
        self.infos.extend_from_slice(&(dims.len() as u32).to_le_bytes());
        for d in dims {
            self.infos.extend_from_slice(&d.to_le_bytes());
        }
        self.infos.extend_from_slice(&0u32.to_le_bytes()); // GGML_TYPE_F32
        self.data.resize(self.data.len().next_multiple_of(ALIGN), 0);
        self.infos.extend_from_slice(&(self.data.len() as u64).to_le_bytes());
        for v in values {
            self.data.extend_from_slice(&v.to_le_bytes());
        }
        self.tensor_count += 1;
    }

    /// The file's bytes.
    pub fn finish(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.kv.len() + self.infos.len() + self.data.len());
        out.extend_from_slice(b"GGUF");
        out.extend_from_slice(&3u32.to_le_bytes());
        out.extend_from_slice(&self.tensor_count.to_le_bytes());
        out.extend_from_slice(&self.kv_count.to_le_bytes());
        out.extend_from_slice(&self.kv);
        out.extend_from_slice(&self.infos);
        out.resize(out.len().next_multiple_of(ALIGN), 0);
        out.extend_from_slice(&self.data);
        out
    }
}
