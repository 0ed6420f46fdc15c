//! Benchmark entry points, only in the benchmark packages (`--features bench`, `make bench`): the page's
//! package carries no measurement code.

use serde::Serialize;
use tsify::Tsify;
use wasm_bindgen::prelude::*;

use super::model::Model;
use super::{js_err, to_js};

#[wasm_bindgen]
impl Model {
    /// One benchmark run (fresh session): a fixed prompt of `prompt_tokens`, then `gen_tokens` greedy
    /// tokens. Returns prompt/generated tokens, ms and tokens/s of both phases. Only in the benchmark build
    /// (`--features bench`, `make bench`): the page's package does not carry measurement code.
    #[wasm_bindgen(unchecked_return_type = "BenchRun")]
    pub fn bench(&self, prompt_tokens: usize, gen_tokens: usize) -> Result<JsValue, JsError> {
        to_js(&crate::eval::bench::run(&self.inner, prompt_tokens, gen_tokens).map_err(js_err)?)
    }
}

/// The matmul kernels of each weight type of our models against their bound ([`crate::eval::kernels`]):
/// decode over a matrix of `mbytes` MB against a plain read of the same bytes, and a prefill batch.
#[wasm_bindgen(js_name = kernelBench, unchecked_return_type = "KernelRun[]")]
pub fn kernel_bench(mbytes: usize, reps: usize) -> Result<JsValue, JsError> {
    to_js(&crate::eval::kernels::run_all(mbytes, reps))
}

/// Attention over the KV cache with our models' head layouts ([`crate::eval::kernels::attention_all`]).
#[wasm_bindgen(js_name = attentionBench, unchecked_return_type = "AttentionRun[]")]
pub fn attention_bench(reps: usize) -> Result<JsValue, JsError> {
    to_js(&crate::eval::kernels::attention_all(reps))
}

/// The ANN scale benchmark's query measurement in wasm: loads a graph saved by `scale_bench --save`,
/// regenerates its vectors and queries from `(clusters, seed)`, and returns `{recall_at_10, p50_ms, p95_ms,
/// bytes_per_vector}` at beam width `ef` against `truth` (10 exact neighbour ids per query).
#[wasm_bindgen(js_name = annSearchBench, unchecked_return_type = "AnnSearchBench")]
pub fn ann_search_bench(
    graph: &[u8],
    truth: &[u32],
    clusters: usize,
    seed: u64,
    ef: usize,
) -> Result<JsValue, JsError> {
    use crate::eval::synthetic::{search_bench, Synthetic};
    let ann = crate::retrieval::index::ann::Ann::from_bytes(graph).map_err(js_err)?;
    let nq = truth.len() / 10;
    let synth = Synthetic::new(clusters, seed);
    let data = synth.draw_range(0, ann.len());
    let queries = synth.draw_range(ann.len(), nq);
    let (recall, p50, p95) = search_bench(&ann, &data, &queries, truth, ef);
    to_js(&AnnSearchBench {
        n: ann.len(),
        queries: nq,
        ef,
        recall_at_10: recall,
        p50_ms: p50,
        p95_ms: p95,
        bytes_per_vector: ann.bytes() as f64 / ann.len().max(1) as f64,
    })
}

/// The ANN scale benchmark's query measurement (`annSearchBench`, benchmark builds only).
#[derive(Serialize, Tsify)]
pub struct AnnSearchBench {
    pub n: usize,
    pub queries: usize,
    pub ef: usize,
    pub recall_at_10: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub bytes_per_vector: f64,
}
