//! The JS side of a model split across workers (see [`crate::llm::split`]): shard 0's peers reached through two
//! JS functions of `www/shard-pool.js`, and the `MatrixShard` each pool worker runs.

use wasm_bindgen::prelude::*;

use crate::error::Error;

type Result<T, E = Error> = std::result::Result<T, E>;
use crate::llm::split::{self, ShardLoader, ShardSpec};

fn js_err(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// What a JS exception says.
fn message(e: JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}

pub struct JsPeers {
    start: js_sys::Function,
    finish: js_sys::Function,
    capacity: (usize, usize),
}

impl JsPeers {
    pub fn new(start: js_sys::Function, finish: js_sys::Function, capacity: (usize, usize)) -> JsPeers {
        JsPeers { start, finish, capacity }
    }
}

// SAFETY: this wasm build has no threads: the one thread that exists is the only one to touch these values.
unsafe impl Send for JsPeers {}
unsafe impl Sync for JsPeers {}

impl split::Peers for JsPeers {
    fn capacity(&self) -> (usize, usize) {
        self.capacity
    }

    fn start(&self, kind: u32, ids: &[u32], nt: usize, input: &[f32]) -> Result<()> {
        let mut job = [0u32; 8];
        job[0] = kind;
        job[1] = nt as u32;
        job[2..2 + ids.len()].copy_from_slice(ids);
        let job = js_sys::Uint32Array::from(&job[..2 + ids.len()]);
        // SAFETY: the view is read (copied into the shared buffer) before the call returns, and nothing
        // allocates in wasm meanwhile.
        let input = unsafe { js_sys::Float32Array::view(input) };
        self.start
            .call2(&JsValue::NULL, &job, &input)
            .map_err(|e| Error::Invalid(format!("worker pool: {}", message(e))))?;
        Ok(())
    }

    fn finish(&self, out: &mut [f32]) -> Result<()> {
        // SAFETY: as in `start`; the JS side writes exactly `out.len()` floats into the view.
        let view = unsafe { js_sys::Float32Array::view_mut_raw(out.as_mut_ptr(), out.len()) };
        self.finish.call1(&JsValue::NULL, &view).map_err(|e| Error::Invalid(format!("worker pool: {}", message(e))))?;
        Ok(())
    }
}

/// Streams a GGUF into one pool worker, keeping shard `index` of `count`'s rows of every matrix.
#[wasm_bindgen]
pub struct MatrixShardLoader {
    inner: ShardLoader,
}

#[wasm_bindgen]
impl MatrixShardLoader {
    #[wasm_bindgen(constructor)]
    pub fn new(
        total_bytes: f64,
        index: usize,
        count: usize,
        lead_share: Option<f64>,
    ) -> Result<MatrixShardLoader, JsError> {
        if index == 0 {
            return Err(js_err("shard 0 is the model itself: load it with ModelLoader"));
        }
        let mut spec = ShardSpec::new(index, count).map_err(js_err)?;
        if let Some(lead) = lead_share {
            spec = spec.with_lead(lead).map_err(js_err)?;
        }
        Ok(MatrixShardLoader { inner: ShardLoader::new(total_bytes.max(0.0) as usize, spec) })
    }

    pub fn push(&mut self, chunk: &[u8]) -> Result<(), JsError> {
        self.inner.push(chunk).map_err(js_err)
    }

    pub fn finish(self) -> Result<MatrixShard, JsError> {
        let (g, layout, data) = self.inner.finish().map_err(js_err)?;
        let bytes = data.len();
        Ok(MatrixShard { inner: split::MatrixShard::new(&g, &layout, data).map_err(js_err)?, out: Vec::new(), bytes })
    }
}

/// One pool worker's rows of every matrix, answering shard 0's jobs.
#[wasm_bindgen]
pub struct MatrixShard {
    inner: split::MatrixShard,
    out: Vec<f32>,
    bytes: usize,
}

#[wasm_bindgen]
impl MatrixShard {
    /// Bytes of weights this worker holds.
    #[wasm_bindgen(js_name = weightBytes)]
    pub fn weight_bytes(&self) -> f64 {
        self.bytes as f64
    }

    /// Runs `job` (`[kind, tokens, ...matrix ids]`) on `input`; returns a view of the output, valid until
    /// the next call (copy it out at once).
    pub fn run(&mut self, job: &[u32], input: &[f32]) -> Result<js_sys::Float32Array, JsError> {
        let (kind, nt, ids) = match job {
            [k, n, ids @ ..] => (*k, *n as usize, ids),
            _ => return Err(js_err("a job needs a kind and a token count")),
        };
        let need = self.inner.output_len(kind, ids, nt, input);
        if self.out.len() < need {
            self.out.resize(need, 0.0);
        }
        let n = self.inner.run(kind, ids, nt, input, &mut self.out[..need]).map_err(js_err)?;
        // SAFETY: a view of our own buffer, copied by the caller before anything else runs in wasm.
        Ok(unsafe { js_sys::Float32Array::view(&self.out[..n]) })
    }
}
