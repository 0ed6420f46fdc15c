//! Matrix × activations, the operation every layer of every model here is made of. Weights stay in their
//! stored (often quantised) form inside a byte buffer; activations are quantised once per matmul.

use crate::quant::{vec_dot, GgmlType, Q8Acts};

/// A weight matrix: `rows` rows of `cols` elements of type `ty`, stored at `offset` in the model bytes.
#[derive(Debug, Clone)]
pub struct Weight {
    pub ty: GgmlType,
    pub rows: usize,
    pub cols: usize,
    pub offset: usize,
}

impl Weight {
    pub fn row_bytes(&self) -> usize {
        self.ty.row_bytes(self.cols)
    }

    pub fn row<'a>(&self, bytes: &'a [u8], r: usize) -> &'a [u8] {
        let rb = self.row_bytes();
        &bytes[self.offset + r * rb..self.offset + (r + 1) * rb]
    }
}

/// Quantises the activations for the matmuls that follow (skipped when rows don't split into blocks,
/// which only float weights allow).
pub fn quantize(acts: &mut Q8Acts, x: &[f32]) {
    if x.len() % 32 == 0 {
        acts.quantize_from(x);
    }
}

/// `out[t][r] = W[r] · x[t]` for every token row t. Row-outer so each weight row is read from memory once
/// per batch.
pub fn matmul(bytes: &[u8], w: &Weight, x: &[f32], acts: &Q8Acts, out: &mut [f32]) {
    let nt = x.len() / w.cols;
    debug_assert_eq!(out.len(), nt * w.rows);
    let blocks = w.cols / 32;
    for r in 0..w.rows {
        let row = w.row(bytes, r);
        for t in 0..nt {
            let a = acts.row(t, blocks);
            out[t * w.rows + r] = vec_dot(w.ty, row, &x[t * w.cols..(t + 1) * w.cols], &a);
        }
    }
}

